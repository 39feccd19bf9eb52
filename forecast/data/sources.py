"""Where a ticker's daily prices come from: the cache, Yahoo Finance, or the embedded series.

:func:`resolve_prices` decides, for one ticker:

1. Offline (``offline=True`` or ``FORECAST_OFFLINE=1``): the cache, else the embedded series;
   no network at all.
2. A cache fetched within ``max_age`` that covers the request: the cache, no network.
3. Otherwise the cache is topped up from Yahoo: only the sessions after its last date, plus an
   overlap of :data:`OVERLAP` cached sessions. If Yahoo's overlap differs from the cache
   (a split or dividend restated the past), the whole history is fetched again and replaces
   the cache under a new content hash: old and new adjustments are never mixed.
4. Yahoo unavailable or without data: the cache, flagged ``stale`` with its age; no cache: the
   embedded series, flagged as such with its last date; nothing: :class:`NoPriceData`.

The result, :class:`PriceData`, carries its provenance (source, fetch time, content hash, last
date, staleness and a one-line ``note`` saying why a fallback was used); fallbacks are also
logged as warnings on this module's logger.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.checks import parse_date
from forecast.data.cache import CacheEntry, PriceCache, content_hash
from forecast.data.frames import read_price_frame
from forecast.data.series import PRICE_COLUMNS, embedded_dir, embedded_tickers
from forecast.data.tickers import validate_ticker
from forecast.data.yahoo import NoPriceData, YahooClient, YahooError, default_client, utc_now
from forecast.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: cached sessions asked for again on every top-up, to detect restated history
OVERLAP = 10
#: a cache younger than this is used without asking Yahoo (``load_prices``' default)
DEFAULT_MAX_AGE = timedelta(hours=1)
#: relative difference in the overlap above which history counts as restated
RESTATE_RTOL = 1e-6
#: how far back a whole-history fetch reaches (yfinance's own ``period="max"`` is 99 years)
HISTORY_YEARS = 99
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class PriceData:
    """One ticker's bars (project schema) and where they came from.

    ``source`` is ``"yahoo"`` (fetched now), ``"cache"`` or ``"embedded"``; ``stale`` means
    fresh data was wanted but Yahoo could not give it; ``note`` says why in one line.
    """

    ticker: str
    frame: pd.DataFrame
    source: str
    content_hash: str
    as_of: datetime
    fetched_at: datetime | None = None
    stale: bool = False
    note: str = ""
    new_rows: int = 0
    restated: bool = False

    @property
    def last_date(self) -> date | None:
        """Date of the last bar."""
        return self.frame.index[-1].date() if len(self.frame) else None

    @property
    def age(self) -> timedelta | None:
        """Time since the data were fetched from Yahoo (``None`` for embedded data)."""
        return None if self.fetched_at is None else self.as_of - self.fetched_at

    def attrs(self) -> dict[str, object]:
        """Provenance as JSON-friendly values, for ``Series.attrs`` and run records."""
        age = self.age
        return {
            "source": self.source,
            "ticker": self.ticker,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "content_hash": self.content_hash,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "stale": self.stale,
            "age_seconds": None if age is None else round(age.total_seconds(), 3),
            "restated": self.restated,
            "note": self.note,
        }


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else the ``FORECAST_OFFLINE`` environment variable."""
    if offline is not None:
        return bool(offline)
    value = os.environ.get("FORECAST_OFFLINE", "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(
        f"FORECAST_OFFLINE must be one of {', '.join(_TRUE + _FALSE[1:])} or empty; "
        f"got {os.environ['FORECAST_OFFLINE']!r}"
    )


def resolve_prices(
    ticker: str,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    offline: bool | None = None,
    cache_dir: str | Path | None = None,
    client: YahooClient | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> PriceData:
    """Daily bars of ``ticker`` from the cache, Yahoo Finance or the embedded data.

    Parameters
    ----------
    ticker
        Checked by :func:`~forecast.data.tickers.validate_ticker` before any file or network access.
    start, end
        First and last date wanted (inclusive). ``start=None`` means the whole history,
        ``end=None`` up to the last closed session. The frame returned is the whole cached
        history, which covers this range when Yahoo could provide it.
    offline
        Skip the network; default from ``FORECAST_OFFLINE``.
    cache_dir
        The cache folder; default :func:`~forecast.data.cache.default_cache_dir`.
    client
        The Yahoo client (its retries and breaker span the run); default a process-wide one.
    max_age
        A cache fetched more recently than this is used as is; ``timedelta(0)`` always asks.

    Raises
    ------
    NoPriceData
        No source has data: ``no price data for ticker 'XXXX': <why>``.
    """
    ticker = validate_ticker(ticker)
    start, end = parse_date(start, "start"), parse_date(end, "end")
    if start and end and start > end:
        raise ValueError(f"start must be on or before end; got start={start}, end={end}")
    store = PriceCache(cache_dir)
    entry = store.read(ticker)
    if is_offline(offline):
        if entry is not None:
            return _from_cache(entry, utc_now())
        return _embedded(ticker, utc_now(), "offline: FORECAST_OFFLINE or --offline", store)
    client = client or default_client(store.root)
    as_of = client.now()
    if entry is not None and _covers(entry, start, end, as_of, max_age):
        return _from_cache(entry, as_of)
    try:
        new, new_rows, restated = update_entry(entry, ticker, client, start=start, end=end)
    except (YahooError, DataError) as exc:
        return _fallback(ticker, entry, as_of, exc, store)
    note = ""
    try:
        store.write(new)
    except OSError as exc:  # the data are good; only keeping them failed
        note = f"{ticker}: could not write the cache file {store.path(ticker)}: {exc}"
        log.warning(note)
    return PriceData(
        ticker,
        new.frame,
        "yahoo",
        new.content_hash,
        as_of,
        new.fetched_at,
        note=note,
        new_rows=new_rows,
        restated=restated,
    )


def update_entry(
    entry: CacheEntry | None,
    ticker: str,
    client: YahooClient,
    *,
    start: date | None = None,
    end: date | None = None,
) -> tuple[CacheEntry, int, bool]:
    """Fetch what ``entry`` lacks; return the new entry, the rows added and a restated flag.

    With no usable entry (none, empty, or starting after ``start``) the whole range is
    fetched. Otherwise only from :data:`OVERLAP` sessions before the cache's last date; a
    difference in the overlap triggers a full re-fetch that replaces the history.
    """
    now = client.now()
    end_excl = end + timedelta(days=1) if end else now.date() + timedelta(days=2)
    if entry is not None and not entry.frame.empty:  # never shrink what is cached
        end_excl = max(end_excl, entry.last_date + timedelta(days=1))
    first = start or date(now.year - HISTORY_YEARS, 1, 1)
    if entry is None or entry.frame.empty or not _head_covered(entry, start):
        frame = _history(client, ticker, first, end_excl)
        added = len(frame) - (0 if entry is None else len(entry.frame))
        return _entry(ticker, frame, now, start), added, False
    old = entry.frame
    overlap_start = old.index[-min(OVERLAP, len(old))].date()
    fresh = _history(client, ticker, overlap_start, end_excl)
    why = restatement(old.loc[old.index >= pd.Timestamp(overlap_start)], fresh)
    if why:
        log.warning(
            "%s: Yahoo restated past prices (%s); replacing the cached history", ticker, why
        )
        frame = _history(client, ticker, entry.start or first, end_excl)
        return _entry(ticker, frame, now, entry.start), len(frame) - len(old), True
    merged = pd.concat([old.loc[old.index < pd.Timestamp(overlap_start)], fresh])
    merged.attrs = dict(fresh.attrs)
    return _entry(ticker, merged, now, entry.start), len(merged) - len(old), False


def _history(client: YahooClient, ticker: str, start: date, end: date) -> pd.DataFrame:
    frame = client.history(ticker, start, end)
    if frame.empty:  # only an open session's bar: nothing final to keep
        last = end - timedelta(days=1)
        raise NoPriceData(
            f"no price data for ticker {ticker!r}: no closed session from {start} to {last}"
        )
    return frame


def restatement(cached: pd.DataFrame, fresh: pd.DataFrame) -> str:
    """Why ``fresh`` restates ``cached`` over their common dates; ``""`` when it does not.

    Prices (not volume, which Yahoo revises for recent days) must agree within
    :data:`RESTATE_RTOL`, and every cached date must still be there.
    """
    gone = cached.index.difference(fresh.index)
    if len(gone):
        return f"{len(gone)} cached sessions are gone, first {gone[0]:%Y-%m-%d}"
    cols = [c for c in PRICE_COLUMNS if c != "Volume"]
    a = cached[cols].to_numpy(dtype=float)
    b = fresh.loc[cached.index, cols].to_numpy(dtype=float)
    differ = ~np.isclose(a, b, rtol=RESTATE_RTOL, atol=0.0, equal_nan=True)
    if not differ.any():
        return ""
    i, j = np.argwhere(differ)[0]
    return f"{cols[j]} on {cached.index[i]:%Y-%m-%d} was {a[i, j]:.6g}, now {b[i, j]:.6g}"


def _entry(ticker: str, frame: pd.DataFrame, now: datetime, start: date | None) -> CacheEntry:
    return CacheEntry(
        ticker,
        frame.loc[:, list(PRICE_COLUMNS)],
        now,
        start,
        frame.attrs.get("exchange_tz"),
        frame.attrs.get("currency"),
    )


def _head_covered(entry: CacheEntry, start: date | None) -> bool:
    return entry.start is None or (start is not None and start >= entry.start)


def _covers(
    entry: CacheEntry, start: date | None, end: date | None, as_of: datetime, max_age: timedelta
) -> bool:
    if entry.frame.empty or not _head_covered(entry, start):
        return False
    if end is not None and entry.last_date >= end:
        return True
    return as_of - entry.fetched_at <= max_age


def _from_cache(entry: CacheEntry, as_of: datetime, stale: bool = False, note: str = ""):
    return PriceData(
        entry.ticker,
        entry.frame,
        "cache",
        entry.content_hash,
        as_of,
        entry.fetched_at,
        stale=stale,
        note=note,
    )


def _fallback(ticker: str, entry, as_of: datetime, exc: Exception, store: PriceCache):
    if entry is not None:
        data = _from_cache(entry, as_of, stale=True)
        note = (
            f"{ticker}: using cached data up to {data.last_date}, fetched "
            f"{format_age(data.age)} ago ({_reason(ticker, exc)})"
        )
        log.warning(note)
        return replace(data, note=note)
    try:
        return _embedded(ticker, as_of, _reason(ticker, exc), store)
    except NoPriceData:
        if isinstance(exc, NoPriceData):
            raise exc from None
        raise NoPriceData(
            f"no price data for ticker {ticker!r}: {_reason(ticker, exc)}; nothing cached "
            f"in {store.folder} and no embedded series"
        ) from exc


def _reason(ticker: str, exc: Exception) -> str:
    return str(exc).removeprefix(f"{ticker}: ")


def _embedded(ticker: str, as_of: datetime, reason: str, store: PriceCache) -> PriceData:
    folder = embedded_dir()
    names = dict.fromkeys([ticker, ticker.lstrip("^")])  # ^GSPC is embedded as GSPC
    path = next((folder / f"{n}.csv" for n in names if n and (folder / f"{n}.csv").is_file()), None)
    if path is None:
        known = ", ".join(embedded_tickers()) or "none"
        raise NoPriceData(
            f"no price data for ticker {ticker!r}: {reason}; nothing cached in "
            f"{store.folder} and no embedded series (embedded: {known})"
        )
    frame = read_price_frame(path)
    data = PriceData(ticker, frame, "embedded", content_hash(frame), as_of)
    note = f"{ticker}: using embedded data ending {data.last_date} ({reason})"
    log.warning(note)
    return replace(data, note=note)


def format_age(age: timedelta | None) -> str:
    """``45s``, ``12m``, ``3h05m``, ``2d04h``; ``n/a`` for ``None``."""
    if age is None:
        return "n/a"
    s = max(0, int(age.total_seconds()))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
