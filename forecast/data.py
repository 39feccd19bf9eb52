"""Loading and validating daily price series.

Everything after this module sees one shape: a float ``pd.Series`` of strictly positive,
finite prices on an ascending, unique ``DatetimeIndex`` named ``date``, named after its ticker
or file. Bad input stops here with a :class:`~forecast.errors.DataError` naming the file, the
rule and the rows.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecast.errors import DataError

if TYPE_CHECKING:
    from forecast.yahoo import YahooClient

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
DEFAULT_COLUMNS = ("Adj Close", "Close")
_TICKER_CHAR_RE = re.compile(r"[A-Z0-9.\-^=&]")
_ISIN_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")  # yfinance's own ISIN test
_SHOW = 5  # how many offending dates an error message lists


def embedded_dir() -> Path:
    """The folder of the embedded price CSVs.

    ``FORECAST_DATA_DIR`` overrides it; otherwise the project's ``data/prices`` (a source
    checkout or editable install) or the copy shipped inside the wheel.
    """
    env = os.environ.get("FORECAST_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "data" / "prices", here / "_data" / "prices"):
        if candidate.is_dir():
            return candidate
    return here.parent / "data" / "prices"


def embedded_tickers() -> list[str]:
    """Tickers of the embedded series, sorted."""
    folder = embedded_dir()
    return sorted(p.stem for p in folder.glob("*.csv")) if folder.is_dir() else []


def validate_ticker(ticker: object) -> str:
    """Return the normalised (upper-case) ticker or raise ``ValueError``.

    Allowed: ASCII letters, digits and ``. - ^ = &``, 1 to 15 characters after stripping
    spaces (``BRK-B``, ``^GSPC``, ``EURUSD=X``). Anything else, path separators, control
    characters and non-ASCII letters included, is refused before it can reach the network or
    a file name. ISIN-like codes (``US0378331005``) are refused too: yfinance would silently
    resolve them over the network.
    """
    if not isinstance(ticker, str):
        raise ValueError(f"ticker must be a string; got {type(ticker).__name__} {ticker!r}")
    text = ticker.strip(" ")
    if not text:
        raise ValueError(f"ticker must not be empty; got {ticker!r}")
    if len(text) > 15:
        raise ValueError(f"ticker must be at most 15 characters; got {len(text)}: {ticker!r}")
    bad = sorted({c for c in text if not (c.isascii() and _TICKER_CHAR_RE.fullmatch(c.upper()))})
    if bad:
        raise ValueError(
            f"ticker may hold only letters, digits and . - ^ = &; got {ticker!r} "
            f"(bad characters: {''.join(bad)!r})"
        )
    norm = text.upper()
    if not any(c.isalnum() for c in norm):
        raise ValueError(f"ticker must hold a letter or digit; got {ticker!r}")
    if _ISIN_RE.fullmatch(norm):
        raise ValueError(
            f"ticker looks like an ISIN, and ISINs are not supported (yfinance would look it "
            f"up over the network); give the exchange ticker instead; got {ticker!r}"
        )
    return norm


def parse_date(value: object, name: str) -> date | None:
    """``None``, a ``date``/``datetime``/``Timestamp`` or an ISO string as a ``date``."""
    if value is None:
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date like 2024-01-31; got {value!r}")


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
) -> pd.Series:
    """Load a daily price series from a CSV file or a ticker.

    Parameters
    ----------
    source
        A CSV path (a ``Date`` column plus price columns) or a ticker. A ticker comes from the
        local cache, topped up from Yahoo Finance, or, when Yahoo cannot be reached and
        nothing is cached, from the embedded series (``AAPL``, ``GSPC``...) in
        :func:`embedded_dir`; see :func:`forecast.prices.resolve_prices`.
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
        A :class:`forecast.yahoo.YahooClient` to fetch with (default: one per process).

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
        series = read_price_csv(Path(source), column)
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
    from forecast.prices import resolve_prices  # it imports this module

    data = resolve_prices(ticker, **options)
    where = f"ticker {ticker} ({data.source} data)"
    col = choose_column(data.frame, column, where)
    series = validate_series(data.frame[col].rename(ticker), where=f"{where} column {col!r}")
    series.attrs.update(data.attrs(), column=col)
    return series


def check_length(series: pd.Series, min_length: int, what: str) -> None:
    """Raise ``DataError`` when ``series`` has fewer than ``min_length`` rows."""
    if len(series) < min_length:
        raise DataError(
            f"{what}: series too short: need at least {min_length} prices; got {len(series)}"
        )


def read_price_csv(path: Path, column: str | None = None) -> pd.Series:
    """Read and validate one price CSV; see :func:`load_prices`."""
    if not path.is_file():
        raise DataError(f"price file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}") from exc
    date_col = next((c for c in frame.columns if str(c).strip().lower() == "date"), None)
    if date_col is None:
        raise DataError(f"{path}: no 'Date' column; columns are {list(frame.columns)}")
    name = _strip_suffixes(path)
    return frame_to_series(frame, date_col, column, name=name, where=str(path))


def _strip_suffixes(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def choose_column(frame: pd.DataFrame, column: str | None, where: str) -> str:
    """The price column to use: ``column`` if given, else ``Adj Close`` or ``Close``."""
    price_cols = [c for c in frame.columns if str(c).strip().lower() != "date"]
    if column is not None:
        if column not in frame.columns:
            raise DataError(f"{where}: no column {column!r}; price columns are {price_cols}")
        if frame[column].isna().all():
            raise DataError(f"{where}: column {column!r} is empty (no values in any row)")
        return column
    for candidate in DEFAULT_COLUMNS:
        if candidate in frame.columns and frame[candidate].notna().any():
            return candidate
    present = [c for c in DEFAULT_COLUMNS if c in frame.columns]
    detail = f"{present} present but empty" if present else f"columns are {price_cols}"
    raise DataError(
        f"{where}: no usable price column: need 'Adj Close' or 'Close' with values; {detail}"
    )


def frame_to_series(
    frame: pd.DataFrame,
    date_col: str,
    column: str | None,
    *,
    name: str,
    where: str,
) -> pd.Series:
    """Turn a frame with a date column into a validated price series."""
    col = choose_column(frame, column, where)
    dates = pd.to_datetime(frame[date_col], errors="coerce", format="mixed")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    bad_dates = frame.loc[dates.isna(), date_col]
    if len(bad_dates):
        rows = [int(i) + 2 for i in bad_dates.index[:_SHOW]]  # +2: header line, 1-based
        raise DataError(
            f"{where}: {len(bad_dates)} rows have no valid date (lines {rows}, "
            f"values {[str(v) for v in bad_dates.iloc[:_SHOW]]})"
        )
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    series = pd.Series(values, index=pd.DatetimeIndex(dates.dt.normalize(), name="date"), name=name)
    series = series.sort_index(kind="stable")
    return validate_series(series, where=f"{where} column {col!r}")


def validate_series(series: pd.Series, where: str) -> pd.Series:
    """Check a price series: unique dates, finite and positive prices. Returns it as float."""
    dup = series.index[series.index.duplicated(keep=False)].unique()
    if len(dup):
        shown = ", ".join(d.strftime("%Y-%m-%d") for d in dup[:_SHOW])
        raise DataError(f"{where}: {len(dup)} duplicate dates, first: {shown}")
    values = series.to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        first = ", ".join(d.strftime("%Y-%m-%d") for d in series.index[bad][:_SHOW])
        n_nonfinite = int((~np.isfinite(values)).sum())
        raise DataError(
            f"{where}: {int(bad.sum())} prices are not positive finite numbers "
            f"({n_nonfinite} missing or non-finite), first at: {first}"
        )
    if not series.index.is_monotonic_increasing:
        series = series.sort_index(kind="stable")
    out = series.astype(float)
    out.index.name = "date"
    return out


def series_hash(series: pd.Series) -> str:
    """A content hash of a price series (dates and values), for run records."""
    h = hashlib.sha256()
    h.update(series.index.as_unit("ns").asi8.astype("<i8").tobytes())
    h.update(np.ascontiguousarray(series.to_numpy(dtype="<f8")).tobytes())
    return "sha256:" + h.hexdigest()[:16]
