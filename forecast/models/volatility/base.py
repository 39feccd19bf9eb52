"""The protocol every volatility model follows (sklearn style, like the price models).

A volatility model forecasts the **variance of the daily log return** of each of the next
``h`` days. ``fit(prices)`` takes a price series (the close) or a frame with open, high,
low and close (see :func:`~forecast.models.volatility.realized.log_ohlc`), validates it and
calls ``_fit(data)`` with a :class:`~forecast.models.volatility.realized.LogOHLC`. The
constructor stores parameters only; fitted state ends in ``_``; ``fit`` again replaces it;
``sklearn.base.clone`` gives an unfitted copy; a seed fixes the output of the nets.

The walk-forward asks for many origins at once through :meth:`forecast_variances`: row
``i`` holds the variances of steps ``1..horizon`` after the origin at price position
``ends[i] - 1``, computed with the fitted parameters from ``data`` up to that origin only
(``data.head(ends[i])``), so no refit is needed between refits. The ``h``-day variance is
the sum of the row's first ``h`` entries; :meth:`forecast_volatility` gives its square
root for every ``h`` (what volatility-scaled intervals need).
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forecast.errors import DataError, ModelFitError
from forecast.models.saving import SavedModel
from forecast.models.volatility.realized import LogOHLC, daily_variance, log_ohlc
from forecast.models.volatility.value_at_risk import DEFAULT_T_DOF

#: a daily proxy below this fraction of its training mean is raised to it before taking logs
#: (a zero squared return has no logarithm); the log models' bias correction uses the
#: proxy itself, so the floor moves their level by nothing measurable
FLOOR_FRACTION = 1e-3


class BaseVolatilityModel(SavedModel, BaseEstimator):
    """Base class: parameters, the fit/forecast protocol over many origins, saving.

    Subclasses set ``name`` (the registry key), implement ``_fit(data)`` and
    ``_variances(data, ends, horizon)`` and may override ``min_train_size``,
    ``min_history_size``, ``_check_params`` and :meth:`t_dof`.
    """

    name: ClassVar[str] = "base"
    #: whether the output depends on a random seed (``seed`` parameter)
    stochastic: ClassVar[bool] = False
    #: fitted attributes saved in the weights file rather than in the JSON file (the nets)
    #: what the model forecasts (its registry; model files record it) and the fitted
    #: attribute that says it has been fitted
    target: ClassVar[str] = "volatility"
    fitted_marker: ClassVar[str] = "n_train_"

    @classmethod
    def warm_up(cls) -> None:
        """Import what fitting needs ahead of time (torch for the nets); nothing by default."""

    # ---- the protocol -------------------------------------------------------------------
    def fit(self, prices: pd.Series | pd.DataFrame | LogOHLC) -> BaseVolatilityModel:
        """Fit on prices, oldest first. Replaces any earlier fit; returns ``self``."""
        self._check_params()
        data = log_ohlc(prices, "prices")
        need = self.min_train_size()
        if len(data) < need:
            raise ModelFitError(
                f"{self.name}: needs at least {need} training prices; got {len(data)}"
            )
        self._fit(data)
        self.train_prices_ = data.to_array()
        self.trained_through_ = _last_label(prices)
        self.n_train_ = len(data)
        return self

    def forecast_variances(
        self, data: LogOHLC | np.ndarray, ends: np.ndarray, horizon: int
    ) -> np.ndarray:
        """Variances of the daily log return at steps ``1..horizon`` from many origins.

        Parameters
        ----------
        data
            Log prices up to (at least) the last origin: a ``LogOHLC``, or a 1-d array of
            log closes (what the price engine calls ``y``).
        ends
            Row ``i`` forecasts from the origin ``ends[i] - 1`` using ``data.head(ends[i])``
            only.
        horizon
            Steps to forecast.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(ends), horizon)``, in squared log-return units per day.
        """
        self._check_fitted()
        h = check_positive_int(horizon, "horizon")
        data = as_log_data(data)
        ends = np.asarray(ends, dtype=np.int64)
        if len(ends) == 0:
            return np.empty((0, h))
        need = self.min_history_size()
        if ends.min() < need or ends.max() > len(data):
            raise DataError(
                f"ends must lie in [{need}, {len(data)}] for {self.name} (the history it "
                f"needs, the data's length); got {ends.min()}..{ends.max()}"
            )
        return self._variances(data.head(int(ends.max())), ends, h)

    def forecast_volatility(
        self, data: LogOHLC | np.ndarray, ends: np.ndarray, horizon: int
    ) -> np.ndarray:
        """``sigma(origin, h)``: square root of the summed variances of steps ``1..h``."""
        return np.sqrt(np.cumsum(self.forecast_variances(data, ends, horizon), axis=1))

    def predict_variance(
        self, horizon: int, history: pd.Series | pd.DataFrame | None = None
    ) -> pd.Series:
        """Per-step variances of the next ``horizon`` daily log returns.

        From the end of the training data, or from the end of ``history`` (prices up to a
        later origin) with the fitted parameters and no refit. The ``h``-day variance is
        the sum of the first ``h`` values.
        """
        self._check_fitted()
        if history is None:
            data = LogOHLC.from_array(self.train_prices_)
        else:
            data = log_ohlc(history, "history")
        if len(data) < self.min_history_size():
            raise DataError(
                f"history must hold at least {self.min_history_size()} prices for "
                f"{self.name}; got {len(data)}"
            )
        out = self.forecast_variances(data, np.array([len(data)]), horizon)[0]
        return pd.Series(out, index=pd.RangeIndex(1, len(out) + 1, name="horizon"), name=self.name)

    def t_dof(self) -> float:
        """Degrees of freedom of the Student-t Value-at-Risk: fitted where the model has
        them (GARCH-t), else :data:`~forecast.models.volatility.value_at_risk.DEFAULT_T_DOF`."""
        return DEFAULT_T_DOF

    # ---- hooks for subclasses -----------------------------------------------------------
    def min_train_size(self) -> int:
        """The fewest training prices ``fit`` accepts."""
        return 2

    def min_history_size(self) -> int:
        """The fewest prices a forecast origin needs (``ends`` may not be smaller)."""
        return 2

    def _check_params(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming a bad parameter (called by ``fit``)."""

    def _fit(self, data: LogOHLC) -> None:
        raise NotImplementedError

    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        raise NotImplementedError

    # ---- helpers ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_train_"):
            raise RuntimeError(f"{self.name}: call fit(prices) before forecasting")

    def _daily(self, data: LogOHLC) -> np.ndarray:
        """The fitted proxy's daily values on ``data`` (length ``len(data) - 1``)."""
        if self.proxy_ != "squared_returns" and not data.has_range:
            raise DataError(
                f"{self.name} was fitted on the {self.proxy_} proxy, which needs Open, High "
                "and Low prices; the data has the close only"
            )
        return daily_variance(data, self.proxy_)


def as_log_data(data: LogOHLC | np.ndarray) -> LogOHLC:
    """``data`` as a ``LogOHLC``; a 1-d array is taken as log closes."""
    if isinstance(data, LogOHLC):
        return data
    y = np.asarray(data, dtype=float)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise DataError(
            f"data must be a LogOHLC or a 1-d array of finite log closes; got {y.shape}"
        )
    return LogOHLC(y)


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ``TypeError``/``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return str(value)


def floored_log(daily: np.ndarray, floor: float) -> np.ndarray:
    """``log(max(daily, floor))``: the log proxy the log models read."""
    return np.log(np.maximum(daily, floor))


def _last_label(prices: object) -> object:
    if isinstance(prices, pd.Series | pd.DataFrame) and len(prices):
        label = prices.index[-1]
        return label.strftime("%Y-%m-%d") if hasattr(label, "strftime") else label
    return None
