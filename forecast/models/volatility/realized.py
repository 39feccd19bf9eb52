"""Daily variance proxies and the h-day realised-variance targets, from a price frame.

Every quantity is in daily **log-return** units on adjusted prices. With ``O, H, L, C`` the
logs of a day's open, high, low and close, and ``C'`` the previous close::

    overnight  o = O - C'          open-to-close  c = C - O
    up         u = H - O           down           d = L - O

the daily proxies of the close-to-close return variance of day ``t`` are

- ``squared_returns``: ``(C - C')^2``, the only one a close-only series has; unbiased for a
  zero-mean return but very noisy.
- ``parkinson`` (Parkinson 1980, J. Business 53: the extreme-value estimator for one day):
  ``(H - L)^2 / (4 ln 2)``.
- ``garman_klass`` (Garman and Klass 1980, J. Business 53: their practical estimator, in
  the form usually quoted): ``0.5 (H - L)^2 - (2 ln 2 - 1) c^2``.
- ``yang_zhang`` (Yang and Zhang 2000, J. Business 73): ``V_o + k V_c + (1 - k) V_RS`` for
  one day with zero means, i.e. ``o^2 + k c^2 + (1 - k) RS``, with the Rogers and Satchell
  (1991, Ann. Appl. Probab. 1) term ``RS = u (u - c) + d (d - c)`` and their weight
  ``k = 0.34 / (1.34 + (n + 1) / (n - 1))`` taken at ``n -> inf``: ``k = 0.34 / 2.34``
  (a single day has no sample variance to correct).

Parkinson and Garman-Klass measure the variance of the trading session only; the
close-to-close return also moves overnight, so by default (``overnight=True``) both add the
squared overnight return ``o^2``, as Yang-Zhang does by construction. Without it they
underestimate the close-to-close variance that the models forecast and Value-at-Risk needs.

A proxy array has ``n - 1`` values for ``n`` prices: value ``j`` belongs to day ``j + 1``
(the day of return ``j``), like :func:`numpy.diff` of the log closes. The ``h``-day target
from origin ``t`` (a price position) is the sum of the proxies of days ``t + 1 .. t + h``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.errors import DataError
from forecast.models.base import log_prices

#: the proxies, most efficient first; ``squared_returns`` needs the close only
PROXIES = ("yang_zhang", "garman_klass", "parkinson", "squared_returns")
#: Yang-Zhang's weight of the open-to-close variance, at n -> inf
YANG_ZHANG_K = 0.34 / 2.34
_LN2 = float(np.log(2.0))
#: accepted column names (lower case, spaces and underscores removed) of each price
_COLUMNS = {
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "adj": ("adjclose", "adjustedclose"),
}


@dataclass(frozen=True)
class LogOHLC:
    """Log prices of one series, oldest first: the close always, the range when known.

    ``close`` is the log of the (adjusted) close; ``open``, ``high`` and ``low`` are ``None``
    for a close-only series, else logs adjusted by the same factor as the close.
    """

    close: np.ndarray
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.close)

    @property
    def has_range(self) -> bool:
        """Whether open, high and low are known (the range proxies can be computed)."""
        return self.open is not None

    def head(self, n: int) -> LogOHLC:
        """The first ``n`` rows (the data up to an origin)."""
        if not self.has_range:
            return LogOHLC(self.close[:n])
        return LogOHLC(self.close[:n], self.open[:n], self.high[:n], self.low[:n])

    def to_array(self) -> np.ndarray:
        """``(n, 4)`` array of log open, high, low, close; NaN columns when close only."""
        out = np.full((len(self), 4), np.nan)
        out[:, 3] = self.close
        if self.has_range:
            out[:, 0], out[:, 1], out[:, 2] = self.open, self.high, self.low
        return out

    @classmethod
    def from_array(cls, array: np.ndarray) -> LogOHLC:
        """Inverse of :meth:`to_array`."""
        array = np.asarray(array, dtype=float)
        if np.isnan(array[:, 0]).all():
            return cls(array[:, 3].copy())
        return cls(*(array[:, i].copy() for i in (3, 0, 1, 2)))


def log_ohlc(prices: pd.Series | pd.DataFrame | LogOHLC, name: str = "prices") -> LogOHLC:
    """Validate prices and return their logs as a :class:`LogOHLC`.

    Parameters
    ----------
    prices
        A price series (the close), or a frame with a ``Close`` or ``Adj Close`` column and
        optionally ``Open``, ``High``, ``Low`` (any case; ``adj_close`` also accepted). With
        ``Adj Close`` present it is the close, and open, high and low are multiplied by
        ``Adj Close / Close`` so that splits and dividends move all four alike. A high below
        the open or close (or a low above) is raised (lowered) to it.
    name
        The argument's name, for error messages.
    """
    if isinstance(prices, LogOHLC):
        return prices
    if isinstance(prices, pd.Series):
        return LogOHLC(log_prices(prices.to_numpy(dtype=float), f"{name}"))
    if not isinstance(prices, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas Series or DataFrame; got {type(prices).__name__}")
    cols = _find_columns(prices)
    close_col = cols.get("adj") or cols.get("close")
    if close_col is None:
        raise DataError(
            f"{name} needs a 'Close' or 'Adj Close' column; columns are {list(prices.columns)}"
        )
    close = prices[close_col].to_numpy(dtype=float)
    log_close = log_prices(close, f"{name}[{close_col!r}]")
    if not all(k in cols for k in ("open", "high", "low", "close")):
        return LogOHLC(log_close)
    raw_close = log_prices(
        prices[cols["close"]].to_numpy(dtype=float), f"{name}[{cols['close']!r}]"
    )
    shift = log_close - raw_close  # log of the adjustment factor Adj Close / Close
    o, h, lo = (
        log_prices(prices[cols[k]].to_numpy(dtype=float), f"{name}[{cols[k]!r}]") + shift
        for k in ("open", "high", "low")
    )
    h = np.maximum(h, np.maximum(o, log_close))
    lo = np.minimum(lo, np.minimum(o, log_close))
    return LogOHLC(log_close, o, h, lo)


def choose_proxy(data: LogOHLC, proxy: str = "auto") -> str:
    """The proxy to use on ``data``: ``proxy`` itself, or for ``"auto"`` the best available.

    ``"auto"`` is ``yang_zhang`` when open, high and low exist, else ``squared_returns``.
    """
    if proxy == "auto":
        return "yang_zhang" if data.has_range else "squared_returns"
    if proxy not in PROXIES:
        raise ValueError(f"proxy must be 'auto' or one of {', '.join(PROXIES)}; got {proxy!r}")
    if proxy != "squared_returns" and not data.has_range:
        raise DataError(
            f"proxy {proxy!r} needs Open, High and Low prices; the data has the close only "
            "(use proxy='squared_returns' or 'auto')"
        )
    return proxy


def daily_variance(data: LogOHLC, proxy: str, overnight: bool = True) -> np.ndarray:
    """The daily variance proxy of days ``1 .. n-1`` (length ``n - 1``); see the module notes.

    ``overnight`` adds the squared overnight return to Parkinson and Garman-Klass.
    """
    proxy = choose_proxy(data, proxy)
    r = np.diff(data.close)
    if proxy == "squared_returns":
        return r**2
    o = data.open[1:] - data.close[:-1]
    c = data.close[1:] - data.open[1:]
    hl = data.high[1:] - data.low[1:]
    if proxy == "yang_zhang":
        u = data.high[1:] - data.open[1:]
        d = data.low[1:] - data.open[1:]
        rs = u * (u - c) + d * (d - c)
        return o**2 + YANG_ZHANG_K * c**2 + (1.0 - YANG_ZHANG_K) * rs
    if proxy == "parkinson":
        session = hl**2 / (4.0 * _LN2)
    else:  # garman_klass; never negative since |c| <= H - L and 2 ln 2 - 1 < 0.5
        session = 0.5 * hl**2 - (2.0 * _LN2 - 1.0) * c**2
    return session + o**2 if overnight else session


def realized_variance(daily: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon``-day realised variance from each origin: length ``len(daily) + 1``.

    Entry ``t`` is ``daily[t] + ... + daily[t + horizon - 1]``, the proxies of days
    ``t + 1 .. t + horizon`` after the origin at price position ``t``; NaN where the series
    ends first.
    """
    daily = np.asarray(daily, dtype=float)
    out = np.full(len(daily) + 1, np.nan)
    if horizon <= len(daily):
        sums = np.convolve(daily, np.ones(horizon), mode="valid")  # sums of h consecutive
        out[: len(sums)] = sums
    return out


def horizon_returns(log_close: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon``-day log return from each origin (length ``n``; NaN at the end)."""
    out = np.full(len(log_close), np.nan)
    if horizon < len(log_close):
        out[: len(log_close) - horizon] = log_close[horizon:] - log_close[:-horizon]
    return out


def _find_columns(frame: pd.DataFrame) -> dict[str, str]:
    found = {}
    for col in frame.columns:
        key = str(col).strip().lower().replace(" ", "").replace("_", "")
        for kind, names in _COLUMNS.items():
            if key in names and kind not in found:
                found[kind] = col
    return found
