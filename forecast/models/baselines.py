"""Random-walk baselines: the naive forecast every report measures against, and drift."""

from __future__ import annotations

import numpy as np

from forecast.models.base import BaseForecaster


class NaiveForecaster(BaseForecaster):
    """Random walk: every future price equals the last observed price.

    Fitted: ``sigma2_``, the mean squared training log-return; the predictive distribution of
    the log price ``h`` steps ahead is normal around the last one with variance ``h * sigma2_``.
    """

    name = "naive"

    def min_train_size(self) -> int:
        return 1

    def _fit(self, y: np.ndarray) -> None:
        r = np.diff(y)
        # a driftless random walk: the innovation variance is the mean squared return
        self.sigma2_ = float(np.mean(r**2)) if len(r) else float("nan")

    def _log_variances(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        steps = self.sigma2_ * np.arange(1, horizon + 1)
        return np.broadcast_to(steps, (len(ends), horizon))

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return np.full(horizon, y[-1])

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        return np.repeat(y[np.asarray(ends) - 1][:, None], horizon, axis=1)


class DriftForecaster(BaseForecaster):
    """Random walk with drift: the log price grows by the mean training log-return per step.

    No parameters. Fitted: ``drift_`` (the mean training log-return) and ``sigma2_`` (their
    variance); the predictive distribution of the log price ``h`` steps ahead is normal with
    mean ``last + h * drift_`` and variance ``h * sigma2_``.
    """

    name = "drift"

    def _fit(self, y: np.ndarray) -> None:
        r = np.diff(y)
        self.drift_ = float((y[-1] - y[0]) / (len(y) - 1))
        self.sigma2_ = float(np.var(r, ddof=1)) if len(r) > 1 else 0.0

    def _log_variances(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        steps = self.sigma2_ * np.arange(1, horizon + 1)
        return np.broadcast_to(steps, (len(ends), horizon))

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        return y[-1] + self.drift_ * np.arange(1, horizon + 1)

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        self._check_fitted()
        steps = self.drift_ * np.arange(1, horizon + 1)
        return y[np.asarray(ends) - 1][:, None] + steps[None, :]
