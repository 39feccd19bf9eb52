"""Random-walk baselines: the naive forecast every report measures against, and drift."""

from __future__ import annotations

import numpy as np

from forecast.models.base import BaseForecaster


class NaiveForecaster(BaseForecaster):
    """Random walk: every future price equals the last observed price."""

    name = "naive"

    def min_train_size(self) -> int:
        return 1

    def _fit(self, y: np.ndarray) -> None:
        self.n_params_ = 0

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return np.full(horizon, y[-1])

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        return np.repeat(y[np.asarray(ends) - 1][:, None], horizon, axis=1)


class DriftForecaster(BaseForecaster):
    """Random walk with drift: the log price grows by the mean training log-return per step.

    Parameters
    ----------
    None. ``drift_`` is the mean log-return of the training data.
    """

    name = "drift"

    def _fit(self, y: np.ndarray) -> None:
        self.drift_ = float((y[-1] - y[0]) / (len(y) - 1))

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return y[-1] + self.drift_ * np.arange(1, horizon + 1)

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        steps = self.drift_ * np.arange(1, horizon + 1)
        return y[np.asarray(ends) - 1][:, None] + steps[None, :]
