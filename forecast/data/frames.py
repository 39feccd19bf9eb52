"""The project's one price-frame schema, and the functions that bring frames into it.

Every source ends as a float frame with the columns :data:`~forecast.data.series.PRICE_COLUMNS`
(``Open, High, Low, Close, Adj Close, Volume``; missing ones are NaN) on an ascending, unique
``DatetimeIndex`` (unit ``ns``, whatever the pandas version parses by default) named ``date``
holding exchange-local calendar dates. Volume is float so that a missing value can be NaN.
Only bars of closed sessions are kept.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.series import PRICE_COLUMNS
from forecast.errors import DataError

log = logging.getLogger(__name__)

#: a daily bar is kept only this long after Yahoo's regular session end (late prints, auctions)
CLOSE_MARGIN = timedelta(minutes=20)
#: timezone assumed when a frame has tz-naive dates and no metadata says otherwise
DEFAULT_EXCHANGE_TZ = "America/New_York"


def date_index(values) -> pd.DatetimeIndex:
    """Tz-naive midnight dates as the schema's index: unit ``ns``, named ``date``."""
    return pd.DatetimeIndex(pd.DatetimeIndex(values).normalize(), name="date").as_unit("ns")


class SchemaError(DataError):
    """A frame (from yfinance or a file) has a layout this project does not know."""


def normalise_history(raw: pd.DataFrame, ticker: str, *, now: datetime) -> pd.DataFrame:
    """Turn a yfinance frame into the project schema; drop the bar of an unclosed session.

    Accepts ``Ticker.history`` frames (flat columns, tz-aware index) and ``download`` frames
    (``(Price, Ticker)`` or ``(Ticker, Price)`` MultiIndex, tz-naive index). ``raw.attrs`` may
    carry ``exchange_tz`` and ``session_end`` (Yahoo's current regular-session end). Rows
    without a close are dropped, duplicate dates keep the last row; ``attrs`` of the result
    hold ``exchange_tz`` and ``currency``. Raises :class:`SchemaError` for an unknown layout
    and ``DataError`` for non-positive closes.
    """
    if not isinstance(raw, pd.DataFrame):
        raise SchemaError(f"{ticker}: yfinance returned {type(raw).__name__}, not a DataFrame")
    frame = _flatten_columns(raw, ticker)
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{ticker}: yfinance frame lacks columns {missing} (Adj Close needs "
            f"auto_adjust=False); columns are {[str(c) for c in frame.columns]}"
        )
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise SchemaError(
            f"{ticker}: yfinance frame index is {type(frame.index).__name__}, not dates"
        )
    tz = raw.attrs.get("exchange_tz") or (str(frame.index.tz) if frame.index.tz else None)
    tz = tz or DEFAULT_EXCHANGE_TZ
    index = frame.index
    if index.tz is not None:  # exchange-local calendar dates, whatever the machine's timezone
        index = index.tz_convert(tz).tz_localize(None)
    out = frame.loc[:, list(PRICE_COLUMNS)].apply(pd.to_numeric, errors="coerce").astype(float)
    out.columns = pd.Index(PRICE_COLUMNS)  # drops download()'s "Price" level name
    out.index = date_index(index)
    no_close = out["Close"].isna() | out["Adj Close"].isna()
    if no_close.any():
        log.info("%s: dropped %d rows without a close", ticker, int(no_close.sum()))
        out = out.loc[~no_close]
    dup = out.index.duplicated(keep="last")
    if dup.any():
        log.info("%s: dropped %d duplicate dates (kept the last row)", ticker, int(dup.sum()))
        out = out.loc[~dup]
    out = out.sort_index(kind="stable")
    prices = out[["Close", "Adj Close"]].to_numpy()
    bad = ~(np.isfinite(prices) & (prices > 0)).all(axis=1)
    if bad.any():
        first = ", ".join(d.strftime("%Y-%m-%d") for d in out.index[bad][:5])
        raise DataError(
            f"{ticker}: Yahoo sent {int(bad.sum())} rows with non-positive or "
            f"non-finite closes, first at: {first}"
        )
    closed = last_closed_date(now, tz, raw.attrs.get("session_end"))
    out = out.loc[out.index <= pd.Timestamp(closed)].copy()
    out.attrs = {"exchange_tz": tz, "currency": raw.attrs.get("currency")}
    return out


def _flatten_columns(raw: pd.DataFrame, ticker: str) -> pd.DataFrame:
    if not isinstance(raw.columns, pd.MultiIndex):
        return raw
    for level in range(raw.columns.nlevels):
        values = {str(v).upper(): v for v in raw.columns.get_level_values(level)}
        if ticker.upper() in values:
            return raw.xs(values[ticker.upper()], axis=1, level=level)
    raise SchemaError(
        f"{ticker}: yfinance MultiIndex columns do not name the ticker; columns "
        f"are {[tuple(map(str, c)) for c in raw.columns]}"
    )


def last_closed_date(now: datetime, exchange_tz: str, session_end: Any = None) -> date:
    """The exchange-local date of the latest session that has surely closed by ``now``.

    Yesterday (exchange time) has closed; today has closed only when Yahoo's regular session
    end for today is known and ``now`` is at least :data:`CLOSE_MARGIN` past it.
    """
    local_now = pd.Timestamp(now).tz_convert(exchange_tz)
    today = local_now.date()
    if session_end is not None:
        end = pd.Timestamp(session_end)
        end = end.tz_localize("UTC") if end.tz is None else end
        if end.tz_convert(exchange_tz).date() == today and local_now >= end + CLOSE_MARGIN:
            return today
    return today - timedelta(days=1)


def read_price_frame(path: Path) -> pd.DataFrame:
    """A price CSV (``Date`` plus price columns) as a frame in the project schema."""
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable price CSV: {exc}") from exc
    date_col = next((c for c in raw.columns if str(c).strip().lower() == "date"), None)
    if date_col is None:
        raise SchemaError(f"{path}: no 'Date' column; columns are {list(raw.columns)}")
    dates = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    if dates.isna().any():
        raise DataError(f"{path}: {int(dates.isna().sum())} rows have no valid date")
    frame = raw.reindex(columns=list(PRICE_COLUMNS)).apply(pd.to_numeric, errors="coerce")
    frame.index = date_index(dates)
    return frame.astype(float).sort_index(kind="stable")
