"""Past covariates: what else is known at a session's close, on the price series' own dates.

A covariate row ``t`` holds only what is known at the close of session ``t`` (the same time as
the price ``t``), so a model forecasting from origin ``t`` may read rows ``0..t`` and no later.
No covariate is ever given for a date after the origin: the models treat the future values
as unknown (see :mod:`forecast.models.base`). The groups, as named on the command line
(``--covariates market,volume,range,dow``):

``market``
    ``market_return``: the market index's log return from the previous session to ``t``
    (the S&P 500, ``GSPC``, for US stocks). The index is read on its own dates and carried
    forward to the stock's dates (past only: a stock session the index lacks repeats the
    index's last price, so its return is 0 that day and the next return spans both days).
    A stock date before the index's first price or after its last is an error: carrying the
    last price forward for months would invent a flat market.
``volume``
    ``log_volume``: ``log(Volume)``; ``volume_change``: its change from the previous session.
    A zero or missing volume (a filled session) repeats the last known one. Needs a Volume
    column. (In the bokeh files of ``data/prices`` volume is not split-adjusted: a split day
    shows a jump in ``volume_change``.)
``range``
    ``range_vol``: Parkinson's (1980) range-based volatility of the session,
    ``sqrt(log(High / Low)^2 / (4 log 2))`` ("The extreme value method for estimating the
    variance of the rate of return", *Journal of Business* 53(1), 61-65, eq. 8 for one day).
    High and Low of one session share one adjustment, so unadjusted bars are fine. Needs High
    and Low; a session without them repeats the last known value.
``dow``
    ``dow_mon`` .. ``dow_thu``: day-of-week dummies of session ``t`` (Friday is the baseline,
    so an AR with a constant stays identifiable).

Row 0 of ``market_return`` and ``volume_change`` may be NaN (no previous session); every
other row is finite or :func:`build_covariates` raises, naming the column and the first date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecast.errors import ConfigError, DataError

#: group name -> the columns it adds, in this order
GROUPS: dict[str, tuple[str, ...]] = {
    "market": ("market_return",),
    "volume": ("log_volume", "volume_change"),
    "range": ("range_vol",),
    "dow": ("dow_mon", "dow_tue", "dow_wed", "dow_thu"),
}
#: the market index of US stocks (an embedded series)
DEFAULT_MARKET = "GSPC"


def parse_covariates(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Covariate group names from ``"market,volume"`` or a list, checked, in ``GROUPS`` order.

    ``None``, ``""`` and ``"none"`` give ``()``.
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items if str(v).strip()]
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise ConfigError(
            f"covariates must be a comma-separated list of {', '.join(GROUPS)}; got {unknown[0]!r}"
        )
    return tuple(g for g in GROUPS if g in names)


def covariate_columns(groups: Sequence[str]) -> list[str]:
    """The columns :func:`build_covariates` makes for ``groups``."""
    return [c for g in parse_covariates(groups) for c in GROUPS[g]]


def build_covariates(
    frame: pd.DataFrame,
    groups: Sequence[str],
    *,
    market: pd.Series | None = None,
    name: str = "series",
) -> pd.DataFrame:
    """The covariates of one series, one row per row of ``frame`` (see the module docstring).

    Parameters
    ----------
    frame
        The series' bars in the project schema, on the dates of its price series.
    groups
        Covariate group names (``market``, ``volume``, ``range``, ``dow``).
    market
        The market index's prices on its own dates (needed for ``market``).
    name
        The series' name, for messages.

    Returns
    -------
    pandas.DataFrame
        Float columns :func:`covariate_columns` on ``frame``'s index.
    """
    groups = parse_covariates(groups)
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or not index.is_monotonic_increasing:
        raise DataError(f"{name}: covariates need an ascending DatetimeIndex")
    out = pd.DataFrame(index=index)
    if "market" in groups:
        out["market_return"] = _market_return(index, market, name)
    if "volume" in groups:
        log_volume = _carried(np.log(_column(frame, "Volume", "volume", name)), index)
        out["log_volume"] = log_volume
        out["volume_change"] = np.diff(log_volume, prepend=np.nan)
    if "range" in groups:
        high = _column(frame, "High", "range", name)
        low = _column(frame, "Low", "range", name)
        ok = (low > 0) & (high >= low)
        spread = np.log(np.where(ok, high, np.nan) / np.where(ok, low, np.nan))
        out["range_vol"] = _carried(np.sqrt(spread**2 / (4.0 * np.log(2.0))), index)
    if "dow" in groups:
        day = index.day_of_week.to_numpy()
        for k, col in enumerate(GROUPS["dow"]):
            out[col] = (day == k).astype(float)
    _check_finite(out, name)
    return out


def build_panel_covariates(
    frames: Mapping[str, pd.DataFrame],
    groups: Sequence[str],
    market: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """:func:`build_covariates` for every series of a universe, by name."""
    return {n: build_covariates(f, groups, market=market, name=n) for n, f in frames.items()}


def _column(frame: pd.DataFrame, column: str, group: str, name: str) -> np.ndarray:
    values = frame[column].to_numpy(float) if column in frame else np.array([np.nan])
    if not np.isfinite(values).any():
        raise DataError(
            f"covariate {group!r} needs a {column} column; series {name!r} has no {column} values"
        )
    out = frame[column].to_numpy(float).copy()
    out[~(out > 0)] = np.nan  # zero volume or a missing bar: nothing known that day
    return out


def _carried(values: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
    """Forward-fill missing values (the last known one: past only)."""
    return pd.Series(values, index=index).ffill().to_numpy(float)


def _market_return(index: pd.DatetimeIndex, market: pd.Series | None, name: str) -> np.ndarray:
    if market is None or not len(market):
        raise DataError(f"covariate 'market' needs the market index's prices; none given ({name})")
    m = market.dropna()
    m = m[m > 0].sort_index()
    first, last = m.index[0], m.index[-1]
    if index[-1] > last or index[1 if len(index) > 1 else 0] < first:
        raise DataError(
            f"covariate 'market': {m.name or 'the market index'} has prices "
            f"{first:%Y-%m-%d}..{last:%Y-%m-%d}; series {name!r} runs "
            f"{index[0]:%Y-%m-%d}..{index[-1]:%Y-%m-%d}: trim the series (--start/--end) or "
            "give a market series that covers it"
        )
    # the index's last price at or before each stock date (asof: never a later price)
    level = np.log(m.to_numpy(float))
    pos = m.index.searchsorted(index, side="right") - 1
    known = pos >= 0
    logs = np.where(known, level[np.maximum(pos, 0)], np.nan)
    return np.diff(logs, prepend=np.nan)


def _check_finite(out: pd.DataFrame, name: str) -> None:
    body = out.iloc[1:] if len(out) else out
    for col in out.columns:
        bad = ~np.isfinite(body[col].to_numpy(float))
        if bad.any():
            raise DataError(
                f"covariate column {col!r} of series {name!r} is missing from "
                f"{body.index[np.argmax(bad)]:%Y-%m-%d} ({int(bad.sum())} rows); every row "
                "after the first must be known"
            )
