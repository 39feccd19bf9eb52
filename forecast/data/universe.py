"""A universe: several stocks' daily bars aligned on one exchange calendar.

Global models and the cross-sectional test need every series on the same dates: a model
refit on a date sees each series up to that date and no later, and the stocks are ranked
against one another on each session. :func:`load_universe` reads each ticker's bars (the
project's price-frame schema, :mod:`~forecast.data.frames`) and aligns them:

- **Calendar.** Dates that are not sessions of the exchange (``XNYS`` by default, from
  ``exchange_calendars``) are dropped and counted: a bar on a holiday is a data error.
- **Different date ranges.** ``align="common"`` (the default) keeps the sessions from the
  latest first date to the earliest last date, so that every series has a price on every
  kept date; ``align="union"`` keeps every session from the earliest first date to the
  latest last date, each series NaN outside its own range (the engine then walks each series
  on its own dates; a global model trains on whatever each series has up to a date).
- **Missing sessions** inside a series' own range are forward-filled from the previous
  session (the price did not move that day as far as anyone could have known then: past
  only), with Volume left missing, and listed in :attr:`Universe.filled`. A run of more than
  ``max_gap`` consecutive missing sessions is an error naming the ticker and the dates: a
  week-long hole is a halt or a broken file, not something to paper over.

Where a ticker's bars come from, in order: a CSV path; the universe folder
(:func:`universe_dir`, the 14 S&P 500 stocks shipped in ``data/universe``); the embedded
series (``data/prices``); the cache and Yahoo Finance
(:func:`~forecast.data.sources.resolve_prices`).
The universe folder comes first so that ``AAPL`` and ``MSFT`` in a universe come from one
source with the other 13 (their adjustment differs from the embedded files').

The 14 stocks are today's survivors: results on them overstate what was achievable (see
``data/README.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.checks import parse_date
from forecast.data.calendar import get_calendar
from forecast.data.frames import read_price_frame
from forecast.data.series import choose_column, embedded_dir, series_hash, validate_series
from forecast.data.sources import resolve_prices
from forecast.data.tickers import validate_ticker
from forecast.errors import ConfigError, DataError

#: the embedded stock that joins the 14 universe stocks in the default universe (15 stocks)
DEFAULT_EXTRA = ("IBM",)
ALIGNMENTS = ("common", "union")
#: the default longest run of missing sessions that is forward-filled
MAX_GAP = 5
SURVIVORSHIP_NOTE = (
    "The universe's 14 S&P 500 stocks are today's survivors (picked because they still exist "
    "and are in the index): results on them overstate what a strategy could have earned."
)


def universe_dir() -> Path:
    """The folder of the universe CSVs: ``FORECAST_UNIVERSE_DIR``, else ``data/universe``
    next to the embedded prices (a checkout) or the copy inside the wheel."""
    env = os.environ.get("FORECAST_UNIVERSE_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "data" / "universe", here / "_data" / "universe"):
        if candidate.is_dir():
            return candidate
    return embedded_dir().parent / "universe"


def universe_tickers() -> list[str]:
    """Tickers of the shipped universe, sorted (empty when the folder is missing)."""
    folder = universe_dir()
    return sorted(p.stem for p in folder.glob("*.csv")) if folder.is_dir() else []


def default_universe() -> tuple[str, ...]:
    """The default cross-sectional universe: the 14 universe stocks and IBM."""
    return (*universe_tickers(), *DEFAULT_EXTRA)


@dataclass(frozen=True)
class Universe:
    """Bars of several tickers on one calendar (see the module docstring).

    Attributes
    ----------
    frames
        Ticker -> its bars in the project schema on its own aligned dates (no NaN price).
    prices
        Dates x tickers of the chosen price column; NaN outside a ticker's range.
    calendar, align
        The exchange calendar and the alignment used.
    filled
        Ticker -> the sessions forward-filled (ISO dates).
    dropped
        Ticker -> rows dropped because their date is not a session (ISO dates).
    sources
        Ticker -> where its bars came from (a file path or ``cache``/``yahoo``/``embedded``).
    columns
        Ticker -> the price column used.
    """

    frames: dict[str, pd.DataFrame]
    prices: pd.DataFrame
    calendar: str
    align: str
    filled: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def tickers(self) -> list[str]:
        return list(self.prices.columns)

    def series(self) -> list[pd.Series]:
        """Each ticker's price series on its own dates, named, with its provenance in attrs."""
        out = []
        for ticker in self.tickers:
            s = self.prices[ticker].dropna().rename(ticker)
            s.index.name = "date"
            s.attrs.update(
                source=self.sources[ticker], column=self.columns[ticker],
                content_hash=series_hash(s), filled_sessions=len(self.filled.get(ticker, [])),
            )  # fmt: skip
            out.append(s)
        return out

    def describe(self) -> list[str]:
        """One line per ticker: range, rows, source, filled and dropped dates."""
        lines = []
        for s in self.series():
            extra = ""
            if self.filled.get(s.name):
                extra += f", {len(self.filled[s.name])} missing sessions forward-filled"
            if self.dropped.get(s.name):
                extra += f", {len(self.dropped[s.name])} non-session rows dropped"
            lines.append(
                f"{s.name}: {len(s)} prices {s.index[0]:%Y-%m-%d}..{s.index[-1]:%Y-%m-%d} "
                f"(source: {s.attrs['source']}{extra})"
            )
        return lines


def load_frame(
    source: str | os.PathLike, column: str | None = None, *, offline: bool | None = None
) -> tuple[str, pd.DataFrame, str, str]:
    """One ticker's or file's bars: ``(name, frame, price column, source)``.

    The frame is in the project schema (missing columns NaN). See the module docstring for
    the order in which a name is looked up.
    """
    text = str(source)
    if isinstance(source, os.PathLike) or text.lower().endswith((".csv", ".csv.gz")) or "/" in text:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"price file not found: {path}")
        name = path.name.split(".")[0]
        frame, origin = read_price_frame(path), str(path)
    else:
        name = validate_ticker(text)
        for folder in (universe_dir(), embedded_dir()):
            path = folder / f"{name}.csv"
            if path.is_file():
                frame, origin = read_price_frame(path), str(path)
                break
        else:
            data = resolve_prices(name, offline=offline)
            frame, origin = data.frame, data.source
    col = choose_column(frame, column, f"{name} ({origin})")
    validate_series(frame[col].dropna(), where=f"{name} ({origin}) column {col!r}")
    return name, frame.loc[frame[col].notna()], col, origin


def load_universe(
    tickers: Sequence[str | os.PathLike] | None = None,
    *,
    column: str | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
    align: str = "common",
    calendar: str = "XNYS",
    max_gap: int = MAX_GAP,
    offline: bool | None = None,
) -> Universe:
    """Load several tickers (or CSV files) and align them on one exchange calendar.

    Parameters
    ----------
    tickers
        Tickers or CSV paths; default :func:`default_universe` (the 14 shipped S&P 500 stocks
        and IBM).
    column
        The price column (default: ``Adj Close``, else ``Close``).
    start, end
        Keep only sessions on or after ``start`` and on or before ``end``.
    align
        ``"common"`` (every ticker on every kept date) or ``"union"`` (see the module
        docstring).
    calendar
        An ``exchange_calendars`` code.
    max_gap
        The longest run of consecutive missing sessions forward-filled; longer is an error.
    offline
        Never use the network for a ticker that is not shipped.

    Returns
    -------
    Universe
    """
    if align not in ALIGNMENTS:
        raise ConfigError(f"align must be one of {', '.join(ALIGNMENTS)}; got {align!r}")
    if isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 0:
        raise ConfigError(f"max_gap must be an integer >= 0; got {max_gap!r}")
    names = list(tickers) if tickers is not None else list(default_universe())
    if not names:
        raise ConfigError("tickers must name at least one ticker or file; got none")
    start, end = parse_date(start, "start"), parse_date(end, "end")
    cal = get_calendar(calendar)
    loaded, columns, sources, dropped = {}, {}, {}, {}
    for source in names:
        name, frame, col, origin = load_frame(source, column, offline=offline)
        if name in loaded:
            raise ConfigError(f"tickers must be unique; {name!r} appears twice")
        lo = max(frame.index[0], pd.Timestamp(cal.first_session))
        hi = min(frame.index[-1], pd.Timestamp(cal.last_session))
        on_calendar = frame.index.isin(cal.sessions(lo, hi) if lo <= hi else [])
        dropped[name] = [f"{d:%Y-%m-%d}" for d in frame.index[~on_calendar]]
        loaded[name], columns[name], sources[name] = frame.loc[on_calendar], col, origin
    lo, hi = _range(loaded, align, start, end)
    sessions = cal.sessions(lo, hi)
    frames, filled = {}, {}
    for name, frame in loaded.items():
        frames[name], filled[name] = _fill_sessions(name, frame, sessions, max_gap)
    prices = pd.DataFrame(
        {name: frames[name][columns[name]] for name in frames}, index=sessions
    ).rename_axis("date")
    return Universe(frames, prices, calendar, align, filled, dropped, sources, columns)


def _range(
    frames: dict[str, pd.DataFrame], align: str, start: date | None, end: date | None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    firsts = {n: f.index[0] for n, f in frames.items() if len(f)}
    lasts = {n: f.index[-1] for n, f in frames.items() if len(f)}
    empty = sorted(set(frames) - set(firsts))
    if empty:
        raise DataError(f"{empty[0]}: no price on a session of the calendar")
    if align == "common":
        lo, hi = max(firsts.values()), min(lasts.values())
    else:
        lo, hi = min(firsts.values()), max(lasts.values())
    lo = max(lo, pd.Timestamp(start)) if start else lo
    hi = min(hi, pd.Timestamp(end)) if end else hi
    if lo > hi:
        latest = max(firsts, key=firsts.get)
        earliest = min(lasts, key=lasts.get)
        raise DataError(
            f"the tickers share no session in the range asked: {latest} starts "
            f"{firsts[latest]:%Y-%m-%d}, {earliest} ends {lasts[earliest]:%Y-%m-%d}"
            + (f", start={start}, end={end}" if start or end else "")
        )
    return lo, hi


def _fill_sessions(
    name: str, frame: pd.DataFrame, sessions: pd.DatetimeIndex, max_gap: int
) -> tuple[pd.DataFrame, list[str]]:
    """The frame on the sessions of its own range within ``sessions``, gaps forward-filled."""
    own = sessions[(sessions >= frame.index[0]) & (sessions <= frame.index[-1])]
    if not len(own):
        return frame.iloc[:0], []
    before = frame.loc[: own[0]]  # the last bar at or before the first kept session seeds it
    out = frame.loc[own[0] : own[-1]].reindex(own)
    if pd.isna(out.iloc[0]).all() and len(before):
        out.iloc[0] = before.iloc[-1]
    missing = out.isna().all(axis=1).to_numpy()
    if missing.any():
        run = _longest_run(missing)
        if run > max_gap:
            where = np.flatnonzero(missing)
            raise DataError(
                f"{name}: {run} consecutive sessions missing (more than max_gap={max_gap}), "
                f"first missing session {own[where[0]]:%Y-%m-%d}; fix the file or raise max_gap"
            )
        volume = out["Volume"].copy() if "Volume" in out else None
        out = out.ffill()
        if volume is not None:
            out["Volume"] = volume  # no trade is known on a filled session
    return out.rename_axis("date"), [f"{d:%Y-%m-%d}" for d in own[missing]]


def _longest_run(mask: np.ndarray) -> int:
    best = current = 0
    for value in mask:
        current = current + 1 if value else 0
        best = max(best, current)
    return best
