"""``load_price_frame``: open, high, low and close of a CSV file or a ticker, validated.

The volatility models read the day's range where it exists (Parkinson, Garman-Klass and
Yang-Zhang proxies) and the close alone where it does not. This module returns the frame they
read, from the same sources as :func:`forecast.data.loading.load_prices` (a CSV path; a ticker
from the cache, Yahoo Finance or the embedded series), and says in ``attrs`` whether the range
is usable and, when it is not, why.

The frame's columns are a subset of ``Open, High, Low, Close, Adj Close``:

- the **close** is the column :func:`~forecast.data.series.choose_column` picks (``Adj Close``
  when present and non-empty, else ``Close``, or the ``column`` asked for), checked like a
  price series (unique dates, positive finite prices);
- ``Open``, ``High`` and ``Low`` are kept only when every row has all three, positive and
  finite, and the close is ``Close`` or ``Adj Close`` (with ``Adj Close`` the raw ``Close`` is
  kept too: the volatility models scale the range by ``Adj Close / Close`` so that splits and
  dividends move all four prices alike). Otherwise the frame is close-only and
  ``attrs["range_note"]`` says why; one bad row drops the range of the whole series rather
  than mixing two proxies in one history.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecast.checks import parse_date
from forecast.data.loading import _looks_like_path
from forecast.data.series import _strip_suffixes, check_length, choose_column, validate_series
from forecast.data.sources import resolve_prices
from forecast.data.tickers import validate_ticker
from forecast.errors import DataError

if TYPE_CHECKING:
    from forecast.data.yahoo import YahooClient

#: the range columns, and the columns a frame may hold, in order
RANGE_COLUMNS = ("Open", "High", "Low")
FRAME_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close")


def load_price_frame(
    source: str | os.PathLike,
    column: str | None = None,
    *,
    min_length: int = 2,
    start: date | str | None = None,
    end: date | str | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    client: YahooClient | None = None,
) -> pd.DataFrame:
    """Load daily open, high, low and close prices from a CSV file or a ticker.

    Parameters
    ----------
    source, column, min_length, start, end, offline, cache_dir, client
        As :func:`forecast.load_prices`; ``column`` names the close.

    Returns
    -------
    pd.DataFrame
        Float prices on an ascending ``DatetimeIndex`` named ``date`` (columns: see the module
        docstring). ``attrs``: ``name`` (the ticker or file stem), ``source``,
        ``content_hash`` (of this frame), ``column`` (the close's source column), ``range``
        (whether Open, High and Low are usable) and ``range_note`` (why not; empty when they
        are), plus a ticker's provenance as :func:`forecast.load_prices` gives it.
    """
    start, end = parse_date(start, "start"), parse_date(end, "end")
    if _looks_like_path(source):
        path = Path(source)
        raw = _read_csv(path)
        name, where, attrs = _strip_suffixes(path), str(path), {"source": "file"}
    else:
        ticker = validate_ticker(source)
        data = resolve_prices(
            ticker, start=start, end=end, offline=offline, cache_dir=cache_dir, client=client
        )
        raw, name = data.frame, ticker
        where, attrs = f"ticker {ticker} ({data.source} data)", data.attrs()
    frame = price_frame(raw, column, name=name, where=where)
    if start is not None or end is not None:
        lo = pd.Timestamp(start) if start else None
        hi = pd.Timestamp(end) if end else None
        kept = dict(frame.attrs)
        frame = frame.loc[lo:hi]
        frame.attrs.update(kept)
        frame.attrs["content_hash"] = frame_hash(frame)
    check_length(frame, min_length, what=str(source))
    frame.attrs = {**attrs, **frame.attrs}
    return frame


def price_frame(raw: pd.DataFrame, column: str | None, *, name: str, where: str) -> pd.DataFrame:
    """The validated frame of ``raw`` (dates as its index, any price columns); see the module
    docstring for what is kept."""
    close_col = choose_column(raw, column, where)
    close = validate_series(raw[close_col].astype(float), where=f"{where} column {close_col!r}")
    raw = raw.loc[close.index]  # validated: unique, ascending dates with a close each
    frame = pd.DataFrame(index=close.index)
    if close_col == "Adj Close":
        frame["Adj Close"] = close
    else:
        frame["Close"] = close
    keep, note = _range(raw, close_col)
    for col in keep:
        frame[col] = pd.to_numeric(raw[col], errors="coerce").astype(float)
    frame = frame[[c for c in FRAME_COLUMNS if c in frame.columns]]
    frame.index.name = "date"
    frame.attrs = {
        "name": name,
        "column": close_col,
        "range": bool(keep),
        "range_note": note,
        "content_hash": frame_hash(frame),
    }
    return frame


def _range(raw: pd.DataFrame, close_col: str) -> tuple[list[str], str]:
    """The range columns to keep (with the raw close for Adj Close), or none and why."""
    if close_col not in ("Close", "Adj Close"):
        return [], f"the close is column {close_col!r}, not Close or Adj Close"
    needed = [*RANGE_COLUMNS, *(["Close"] if close_col == "Adj Close" else [])]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        return [], f"no {', '.join(missing)} column{'s' * (len(missing) > 1)}"
    values = raw[needed].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0)).all(axis=1)
    if bad.any():
        first = ", ".join(d.strftime("%Y-%m-%d") for d in raw.index[bad][:3])
        return [], (
            f"{int(bad.sum())} of {len(raw)} rows lack a positive {'/'.join(needed)} "
            f"(first: {first})"
        )
    return needed, ""


def _read_csv(path: Path) -> pd.DataFrame:
    """A price CSV as a frame indexed by its ``Date`` column (checked, not yet validated)."""
    if not path.is_file():
        raise DataError(f"price file not found: {path}")
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}") from exc
    date_col = next((c for c in raw.columns if str(c).strip().lower() == "date"), None)
    if date_col is None:
        raise DataError(f"{path}: no 'Date' column; columns are {list(raw.columns)}")
    dates = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    if dates.isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(dates.isna())[:5]]
        raise DataError(f"{path}: {int(dates.isna().sum())} rows have no valid date (lines {rows})")
    out = raw.drop(columns=[date_col])
    out.index = pd.DatetimeIndex(dates.dt.normalize(), name="date")
    return out.sort_index(kind="stable")


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a price frame (dates, column names and values)."""
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.DatetimeIndex(frame.index).as_unit("ns").asi8.astype("<i8").tobytes())
    h.update(np.ascontiguousarray(frame.to_numpy(dtype="<f8")).tobytes())
    return "sha256:" + h.hexdigest()[:16]
