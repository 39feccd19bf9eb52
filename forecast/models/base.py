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

**Past covariates.** A model whose ``covariates`` parameter is true (``ar``, the nets; the
registry name with a ``+x`` suffix builds one) reads an ``exog`` array too: ``(n, k)``, one
row per price, row ``t`` known at the close of ``t`` (:mod:`forecast.data.covariates`).
``fit(series, exog)``, ``predict(horizon, history, exog)`` and
``forecast_log_paths(y, ends, horizon, exog=...)`` take it; row ``i`` of a batched forecast
may only read ``exog[:ends[i]]``. No model is ever given covariates after its origin: beyond
the first step a model assumes them at their training mean. Every other model takes no
``exog`` and works exactly as before.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator

from forecast.checks import DEFAULT_LEVEL, check_int, check_level
from forecast.errors import DataError, ModelFitError
from forecast.models.distributions import gaussian_bounds
from forecast.models.saving import SavedModel


def check_horizon(horizon: object, name: str = "horizon") -> int:
    """Return ``horizon`` as an int >= 1 (``TypeError`` for a non-integer, else ``ValueError``)."""
    return check_int(horizon, name, 1, type_error=True)


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


class BaseForecaster(SavedModel, BaseEstimator):
    """Base class: sklearn-style parameters, the fit/predict protocol, batched origins.

    Subclasses set ``name`` (the registry key), implement ``_fit(y)`` and
    ``_forecast(y, horizon)`` on log prices, and may override ``min_train_size``.
    """

    name: ClassVar[str] = "base"
    #: whether the model's output depends on a random seed (``seed`` parameter)
    stochastic: ClassVar[bool] = False
    #: fitted on many series at once (:mod:`forecast.models.panel`); the engine refits it on
    #: every series' data up to each refit date
    global_model: ClassVar[bool] = False

    @classmethod
    def warm_up(cls) -> None:
        """Import what fitting and forecasting need, ahead of time: a worker process calls it
        as it starts (the neural models import torch here; the others need nothing)."""

    @property
    def uses_exog(self) -> bool:
        """Whether the model reads past covariates (its ``covariates`` parameter)."""
        return bool(getattr(self, "covariates", False))

    # ---- the protocol -------------------------------------------------------------------
    def fit(self, series: pd.Series, exog: ArrayLike | None = None) -> BaseForecaster:
        """Fit on a price series (oldest first). Replaces any earlier fit; returns ``self``.

        ``exog``: the past covariates, one row per price (only for a model built with
        ``covariates=True``).
        """
        y = log_prices(series, "series")
        x = self._check_exog(exog, len(y), "exog")
        need = self.min_train_size()
        if len(y) < need:
            raise ModelFitError(f"{self.name}: needs at least {need} training prices; got {len(y)}")
        if x is None:
            self._fit(y)
        else:
            self._fit_exog(y, x)
            self.train_exog_ = x
        self.train_log_prices_ = y
        self.train_last_price_ = float(np.asarray(series, dtype=float)[-1])
        self.trained_through_ = _last_label(series)
        self.n_train_ = len(y)
        return self

    def predict(
        self, horizon: int, history: pd.Series | None = None, exog: ArrayLike | None = None
    ) -> pd.Series:
        """Median price forecasts for steps ``1..horizon``.

        From the end of the training data, or from the end of ``history`` (the prices up to a
        later origin) with the fitted parameters and no refit. ``exog``: the covariates up
        to the same origin, one row per price of ``history`` (a model with covariates only).
        """
        h = check_horizon(horizon)
        y, last_price = self._history(history)
        x = self._history_exog(history, exog, len(y))
        if x is None:
            path = self._forecast(y, h)
        else:
            path = self.forecast_log_paths(y, np.array([len(y)]), h, exog=x)[0]
        # anchored on the observed last price, so a zero change is exactly the last price
        prices = last_price * np.exp(path - y[-1])
        return pd.Series(prices, index=pd.RangeIndex(1, h + 1, name="horizon"), name=self.name)

    def predict_interval(
        self,
        horizon: int,
        history: pd.Series | None = None,
        level: float = DEFAULT_LEVEL,
        exog: ArrayLike | None = None,
    ) -> pd.DataFrame:
        """Median forecasts with the central ``level`` predictive interval, steps ``1..horizon``.

        Columns ``forecast, lower, upper``. Only for models with a predictive distribution
        (see :meth:`forecast_log_intervals`); the neural nets get their intervals from
        conformal calibration on walk-forward errors instead
        (``backtest(..., intervals="conformal")``), which a lone ``predict`` cannot do.
        """
        h = check_horizon(horizon)
        level = check_level(level)
        y, last_price = self._history(history)
        x = self._history_exog(history, exog, len(y))
        ends = np.array([len(y)])
        path = self.forecast_log_paths(y, ends, h, **({} if x is None else {"exog": x}))
        bounds = self.forecast_log_intervals(y, ends, h, level, paths=path)
        if bounds is None:
            raise ValueError(
                f"{self.name} has no predictive distribution; its intervals come from conformal "
                "calibration on its walk-forward errors: backtest(..., intervals='conformal')"
            )
        anchor = last_price / np.exp(y[-1])
        return pd.DataFrame(
            {
                "forecast": last_price * np.exp(path[0] - y[-1]),
                "lower": anchor * np.exp(bounds[0][0]),
                "upper": anchor * np.exp(bounds[1][0]),
            },
            index=pd.RangeIndex(1, h + 1, name="horizon"),
        )

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

    def forecast_log_intervals(
        self,
        y: np.ndarray,
        ends: np.ndarray,
        horizon: int,
        level: float,
        paths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Log-price bounds of the central ``level`` predictive interval from many origins.

        Row ``i`` uses ``y[:ends[i]]`` only; shapes ``(len(ends), horizon)``. ``paths`` are
        the matching :meth:`forecast_log_paths` if already computed. Gaussian around the
        median path with the variance :meth:`_log_variances` gives; ``None`` when the model
        has no predictive distribution.
        """
        self._check_fitted()
        ends = np.asarray(ends, dtype=int)
        var = self._log_variances(y, ends, horizon)
        if var is None:
            return None
        if paths is None:
            paths = self.forecast_log_paths(y, ends, horizon)
        return gaussian_bounds(paths, var, level)

    def _log_variances(self, y: np.ndarray, ends: np.ndarray, horizon: int) -> np.ndarray | None:
        """Variance of the log price at steps ``1..horizon`` after each origin, or ``None``."""
        return None

    # ---- hooks for subclasses -----------------------------------------------------------
    def min_train_size(self) -> int:
        """The fewest training prices ``fit`` accepts."""
        return 2

    def min_history_size(self) -> int:
        """The fewest prices ``predict(history=...)`` needs."""
        return 1

    def _fit(self, y: np.ndarray) -> None:
        raise NotImplementedError

    def _fit_exog(self, y: np.ndarray, exog: np.ndarray) -> None:
        """Fit with past covariates ``exog`` ``(len(y), k)``; models with covariates override."""
        raise NotImplementedError

    def _forecast(self, y: np.ndarray, horizon: int) -> np.ndarray:
        raise NotImplementedError

    # ---- helpers ------------------------------------------------------------------------
    def _history(self, history: pd.Series | None) -> tuple[np.ndarray, float]:
        """Log prices to forecast from and the last observed price (training data if None)."""
        self._check_fitted()
        if history is None:
            return self.train_log_prices_, self.train_last_price_
        y = log_prices(history, "history")
        if len(y) < self.min_history_size():
            raise DataError(
                f"history must hold at least {self.min_history_size()} prices for "
                f"{self.name}; got {len(y)}"
            )
        return y, float(np.asarray(history, dtype=float)[-1])

    def _check_exog(self, exog: ArrayLike | None, n: int, what: str) -> np.ndarray | None:
        """``exog`` as a float ``(n, k)`` array (``n=-1``: any rows), or ``None`` for a model
        without covariates. Columns must match the fit's (``what`` other than ``"exog"``)."""
        if not self.uses_exog:
            if exog is not None:
                raise ValueError(
                    f"{what} given to {self.name}, which was built without covariates; "
                    f"build it with covariates=True (the registry name {self.name}+x)"
                )
            return None
        if exog is None:
            raise ValueError(
                f"{self.name} was built with covariates=True and needs {what}: the past "
                "covariates, one row per price"
            )
        x = np.asarray(exog, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or (n >= 0 and len(x) != n) or x.shape[1] < 1:
            raise DataError(
                f"{what} must have one row per price ({n}) and at least one column; "
                f"got shape {x.shape}"
            )
        fitted = getattr(self, "train_exog_", None)
        if fitted is not None and what != "exog" and x.shape[1] != fitted.shape[1]:
            raise DataError(
                f"{what} must have the {fitted.shape[1]} columns {self.name} was fitted "
                f"with; got {x.shape[1]}"
            )
        if n < 0:  # any number of rows (a batched forecast checks its own)
            n = len(x)
        if len(x) > 1 and not np.all(np.isfinite(x[1:])):
            bad = int(np.argmax(~np.isfinite(x[1:]).all(axis=1))) + 1
            raise DataError(f"{what} must be finite after its first row; row {bad} is not")
        return x

    def _history_exog(
        self, history: pd.Series | None, exog: ArrayLike | None, n: int
    ) -> np.ndarray | None:
        """The covariates matching :meth:`_history`'s prices (the training ones without)."""
        if history is None:
            if exog is not None:
                raise ValueError("exog needs history: the covariates of the prices in history")
            return getattr(self, "train_exog_", None)
        return self._check_exog(exog, n, "history exog")

    def _check_ends(self, ends: np.ndarray) -> None:
        """Refuse origins with too little history: in a vectorised forecast a negative index
        would silently wrap around to the end of the series."""
        need = self.min_history_size()
        if len(ends) and ends.min() < need:
            raise DataError(
                f"ends must all be >= {need} (the history {self.name} needs); got {ends.min()}"
            )

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
