"""The benchmark and the classic smoother: the last month's realised variance, and EWMA."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.signal import lfilter

from forecast.models.volatility.base import BaseVolatilityModel, check_positive_int
from forecast.models.volatility.realized import LogOHLC, choose_proxy


class NaiveVolatility(BaseVolatilityModel):
    """The benchmark: every future day's variance is the mean proxy of the last ``window`` days.

    Parameters
    ----------
    window
        Days averaged (20, about a trading month).
    proxy
        The daily variance proxy averaged: ``"auto"`` (Yang-Zhang with open, high and low,
        squared returns otherwise) or a name in
        :data:`~forecast.models.volatility.realized.PROXIES`. The backtest compares every
        model on the same proxy as this benchmark.

    Fitted: ``proxy_`` (the proxy resolved on the training data) and ``level_`` (the
    forecast at the end of the training data).
    """

    name = "naive"

    def __init__(self, window: int = 20, proxy: str = "auto"):
        self.window = window
        self.proxy = proxy

    def _check_params(self) -> None:
        check_positive_int(self.window, "window")

    def min_train_size(self) -> int:
        return self.window + 1

    def min_history_size(self) -> int:
        return self.window + 1

    def _fit(self, data: LogOHLC) -> None:
        self.proxy_ = choose_proxy(data, self.proxy)
        self.level_ = float(np.mean(self._daily(data)[-self.window :]))

    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        daily = self._daily(data)
        means = np.lib.stride_tricks.sliding_window_view(daily, self.window).mean(axis=1)
        # y[:end] holds proxies daily[:end-1]; the last window of them starts at end-1-window
        level = means[ends - 1 - self.window]
        return np.repeat(level[:, None], horizon, axis=1)


class EWMAVolatility(BaseVolatilityModel):
    """RiskMetrics' exponentially weighted moving average of squared returns.

    With returns ``r_1 .. r_m`` up to the origin (J.P. Morgan/Reuters, RiskMetrics Technical
    Document, 4th ed., 1996, the variance recursion with zero mean)::

        s_1 = mean(r_1^2 .. r_k^2),  k = init_window
        s_{t+1} = decay * s_t + (1 - decay) * r_t^2,   t = 1 .. m

    and the forecast of every step ``1..h`` is ``s_{m+1}`` (the h-day variance is
    ``h * s_{m+1}``). There is nothing to estimate: ``fit`` only records the state at the
    end of the training data.

    Parameters
    ----------
    decay
        RiskMetrics' lambda, in ``(0, 1)``; 0.94 for daily data.
    init_window
        Squared returns averaged for the starting value (its weight after ``n`` days is
        ``decay^n``: 0.2% after 100 days at 0.94).

    Fitted: ``variance_`` (``s_{m+1}`` at the end of the training data).
    """

    name = "ewma"

    def __init__(self, decay: float = 0.94, init_window: int = 20):
        self.decay = decay
        self.init_window = init_window

    def _check_params(self) -> None:
        d = self.decay
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0 < d < 1:
            raise ValueError(f"decay must be a number in (0, 1); got {d!r}")
        check_positive_int(self.init_window, "init_window")

    def min_train_size(self) -> int:
        return self.init_window + 1

    def min_history_size(self) -> int:
        return self.init_window + 1

    def _fit(self, data: LogOHLC) -> None:
        self.variance_ = float(self._path(data.close)[-1])

    def _variances(self, data: LogOHLC, ends: np.ndarray, horizon: int) -> np.ndarray:
        # path[j] is the variance of return j + 1 given returns up to j: the origin with
        # prices y[:end] (end - 1 returns) reads path[end - 2]
        level = self._path(data.close)[ends - 2]
        return np.repeat(level[:, None], horizon, axis=1)

    def _path(self, log_close: np.ndarray) -> np.ndarray:
        """``s_2 .. s_{m+1}`` for the returns of ``log_close``."""
        r2 = np.diff(log_close) ** 2
        lam = float(self.decay)
        start = float(np.mean(r2[: self.init_window]))
        # s_{t+1} = lam s_t + (1 - lam) r_t^2 as a first-order filter, s_1 = start
        path, _ = lfilter([1.0 - lam], [1.0, -lam], r2, zi=[lam * start])
        return path
