"""The model protocol shared by every forecaster.

A model works on log prices. ``fit(series)`` validates the prices and calls ``_fit(y)`` with
the log prices of the training data; ``predict(horizon, history=None)`` calls
``_forecast(y, horizon)``, which returns the forecast *log-price* path for steps
``1..horizon`` from the end of ``y``. Prices are ``exp`` of that path: every model returns the
**median** price forecast ``exp(E[log p])``, not the mean, so that models are compared on the
same footing (the mean would add ``sigma^2 / 2`` per step to each of them).

The engine asks for many origins at once through :meth:`BaseForecaster.forecast_log_paths`;
a model may override it to vectorise (the neural models batch their windows), but row ``i``
may only depend on ``y[:ends[i]]``.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forecast.errors import DataError, ModelFileError, ModelFitError


def check_horizon(horizon: object, name: str = "horizon") -> int:
    """Return ``horizon`` as an int >= 1 or raise a ``ValueError`` naming it."""
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1; got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {horizon}")
    return int(horizon)


def log_prices(series: pd.Series | np.ndarray, name: str) -> np.ndarray:
    """Validate prices (1-d, finite, > 0) and return their logs as float64."""
    values = np.asarray(series, dtype=float)
    if values.ndim != 1:
        raise DataError(f"{name} must be one-dimensional; got shape {values.shape}")
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DataError(
            f"{name} must hold positive finite prices; {int(bad.sum())} values are not "
            f"(first at position {int(np.argmax(bad))})"
        )
    return np.log(values)


class BaseForecaster(BaseEstimator):
    """Base class: sklearn-style parameters, the fit/predict protocol, batched origins.

    Subclasses set ``name`` (the registry key), implement ``_fit(y)`` and
    ``_forecast(y, horizon)`` on log prices, and may override ``min_train_size``.
    """

    name: ClassVar[str] = "base"
    #: whether the model's output depends on a random seed (``seed`` parameter)
    stochastic: ClassVar[bool] = False
    #: fitted attributes saved in the weights file rather than in the JSON file (the nets)
    _weights_attributes: ClassVar[tuple[str, ...]] = ()

    # ---- the protocol -------------------------------------------------------------------
    def fit(self, series: pd.Series) -> BaseForecaster:
        """Fit on a price series (oldest first). Replaces any earlier fit; returns ``self``."""
        y = log_prices(series, "series")
        need = self.min_train_size()
        if len(y) < need:
            raise ModelFitError(f"{self.name}: needs at least {need} training prices; got {len(y)}")
        self._fit(y)
        self.train_log_prices_ = y
        self.train_last_price_ = float(np.asarray(series, dtype=float)[-1])
        self.trained_through_ = _last_label(series)
        self.n_train_ = len(y)
        return self

    def predict(self, horizon: int, history: pd.Series | None = None) -> pd.Series:
        """Median price forecasts for steps ``1..horizon``.

        From the end of the training data, or from the end of ``history`` (the prices up to a
        later origin) with the fitted parameters and no refit.
        """
        self._check_fitted()
        h = check_horizon(horizon)
        if history is None:
            y, last_price = self.train_log_prices_, self.train_last_price_
        else:
            y = log_prices(history, "history")
            last_price = float(np.asarray(history, dtype=float)[-1])
        if len(y) < self.min_history_size():
            raise DataError(
                f"history must hold at least {self.min_history_size()} prices for "
                f"{self.name}; got {len(y)}"
            )
        path = self._forecast(y, h)
        # anchored on the observed last price, so a zero change is exactly the last price
        prices = last_price * np.exp(path - y[-1])
        return pd.Series(prices, index=pd.RangeIndex(1, h + 1, name="horizon"), name=self.name)

    def forecast_log_paths(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast log-price paths from many origins at once.

        Row ``i`` is the path for steps ``1..horizon`` from the origin ``ends[i] - 1`` and
        uses ``y[:ends[i]]`` only. Shape ``(len(ends), horizon)``.
        """
        self._check_fitted()
        out = np.empty((len(ends), horizon))
        for i, end in enumerate(ends):
            out[i] = self._forecast(y[:end], horizon)
        return out

    # ---- saving -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model to ``path``, a ``.json`` file; returns the path.

        The JSON file holds the model name, the parameters and every fitted attribute (the
        names ending in ``_``); a neural model adds its ``state_dict`` next to it (``path``
        with suffix ``.pt``), whose sha256 the JSON file records. No pickle. Read it back
        with :func:`forecast.load_model`.
        """
        from forecast.models.io import save_model  # io builds on this module

        return save_model(self, path)

    def _weights_bytes(self) -> bytes | None:
        """The content of the weights file, or ``None`` when the JSON file holds everything."""
        return None

    def _restore_weights(self, data: bytes, source: str) -> None:
        """Rebuild the ``_weights_attributes`` from the weights file's content."""
        raise ModelFileError(f"{source}: a {self.name} model has no weights file")

    # ---- hooks for subclasses -----------------------------------------------------------
    def min_train_size(self) -> int:
        """The fewest training prices ``fit`` accepts."""
        return 2

    def min_history_size(self) -> int:
        """The fewest prices ``predict(history=...)`` needs."""
        return 1

    def _fit(self, y: np.ndarray) -> None:
        raise NotImplementedError

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        raise NotImplementedError

    # ---- helpers ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "train_log_prices_"):
            raise RuntimeError(f"{self.name}: call fit(series) before predict")


def _last_label(series: pd.Series | np.ndarray) -> object:
    if isinstance(series, pd.Series) and len(series):
        label = series.index[-1]
        return label.strftime("%Y-%m-%d") if hasattr(label, "strftime") else label
    return None


def returns_of(y: np.ndarray) -> np.ndarray:
    """Log returns of a log-price array."""
    return np.diff(y)
