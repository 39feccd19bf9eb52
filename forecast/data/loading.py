"""``load_prices``: a validated price series from a CSV file or a ticker.

The top of the data room: a path goes to :func:`forecast.data.series.read_price_csv`, a ticker
to :func:`forecast.data.sources.resolve_prices` (the cache, Yahoo Finance, the embedded series).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from forecast.checks import parse_date
from forecast.data.series import check_length, choose_column, read_price_csv, validate_series
from forecast.data.sources import resolve_prices
from forecast.data.tickers import validate_ticker

if TYPE_CHECKING:
    from forecast.data.yahoo import YahooClient


def _looks_like_path(source: str | os.PathLike) -> bool:
    if isinstance(source, os.PathLike):
        return True
    return (
        source.lower().endswith((".csv", ".csv.gz"))
        or "/" in source
        or "\\" in source
        or Path(source).is_file()
    )


def load_prices(
    source: str | os.PathLike,
    column: str | None = None,
    *,
    min_length: int = 2,
    start: date | str | None = None,
    end: date | str | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    client: YahooClient | None = None,
    date_column: str | None = None,
) -> pd.Series:
    """Load a daily price series from a CSV file or a ticker.

    Parameters
    ----------
    source
        A CSV path (a ``Date`` column plus price columns) or a ticker. A ticker comes from the
        local cache, topped up from Yahoo Finance, or, when Yahoo cannot be reached and
        nothing is cached, from the embedded series (``AAPL``, ``GSPC``...) in
        :func:`embedded_dir`; see :func:`forecast.data.sources.resolve_prices`.
    column
        The price column. Default: ``Adj Close`` when present and non-empty, else ``Close``.
    min_length
        The fewest rows the caller needs; a shorter series raises ``DataError``.
    start, end
        Keep only prices on or after ``start`` and on or before ``end`` (dates or ISO
        strings).
    offline
        Never use the network (default: the ``FORECAST_OFFLINE`` environment variable).
    cache_dir
        The price cache folder (default: ``FORECAST_CACHE_DIR``, else the user cache dir).
    client
        A :class:`forecast.data.yahoo.YahooClient` to fetch with (default: one per process).
    date_column
        For a CSV: the column holding the dates (default: the one named ``Date``).

    Returns
    -------
    pd.Series
        Float prices on an ascending ``DatetimeIndex`` named ``date``; the series name is the
        ticker or the file stem. For a ticker, ``attrs`` hold the provenance: ``source``
        (``yahoo``, ``cache`` or ``embedded``), ``fetched_at``, ``content_hash``,
        ``last_date``, ``stale``, ``age_seconds``, ``column`` and ``note`` (why a fallback
        was used; also logged as a warning).
    """
    start, end = parse_date(start, "start"), parse_date(end, "end")
    if _looks_like_path(source):
        series = read_price_csv(Path(source), column, date_column)
    else:
        ticker = validate_ticker(source)
        series = _load_ticker(
            ticker,
            column,
            start=start,
            end=end,
            offline=offline,
            cache_dir=cache_dir,
            client=client,
        )
    if start is not None or end is not None:
        attrs = dict(series.attrs)
        lo = pd.Timestamp(start) if start else None
        hi = pd.Timestamp(end) if end else None
        series = series.loc[lo:hi]
        series.attrs.update(attrs)
    check_length(series, min_length, what=str(source))
    return series


def _load_ticker(ticker: str, column: str | None, **options) -> pd.Series:
    data = resolve_prices(ticker, **options)
    where = f"ticker {ticker} ({data.source} data)"
    col = choose_column(data.frame, column, where)
    series = validate_series(data.frame[col].rename(ticker), where=f"{where} column {col!r}")
    series.attrs.update(data.attrs(), column=col)
    return series
