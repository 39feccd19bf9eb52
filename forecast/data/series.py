"""Validated daily price series: reading price CSVs, checking rows, the embedded series.

Everything after this module sees one shape: a float ``pd.Series`` of strictly positive,
finite prices on an ascending, unique ``DatetimeIndex`` named ``date``, named after its ticker
or file. Bad input stops here with a :class:`~forecast.errors.DataError` naming the file, the
rule and the rows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.errors import DataError

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
DEFAULT_COLUMNS = ("Adj Close", "Close")
_SHOW = 5  # how many offending dates an error message lists


def embedded_dir() -> Path:
    """The folder of the embedded price CSVs.

    ``FORECAST_DATA_DIR`` overrides it; otherwise the project's ``data/prices`` (a source
    checkout or editable install) or the copy shipped inside the wheel.
    """
    env = os.environ.get("FORECAST_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]  # the package folder
    for candidate in (here.parent / "data" / "prices", here / "_data" / "prices"):
        if candidate.is_dir():
            return candidate
    return here.parent / "data" / "prices"


def embedded_tickers() -> list[str]:
    """Tickers of the embedded series, sorted."""
    folder = embedded_dir()
    return sorted(p.stem for p in folder.glob("*.csv")) if folder.is_dir() else []


def check_length(series: pd.Series, min_length: int, what: str) -> None:
    """Raise ``DataError`` when ``series`` has fewer than ``min_length`` rows."""
    if len(series) < min_length:
        raise DataError(
            f"{what}: series too short: need at least {min_length} prices; got {len(series)}"
        )


def read_price_csv(
    path: Path, column: str | None = None, date_column: str | None = None
) -> pd.Series:
    """Read and validate one price CSV; see :func:`load_prices`.

    ``date_column`` names the dates' column (default: the one called ``Date``, in any case).
    """
    if not path.is_file():
        raise DataError(f"price file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}{_delimiter_hint(path)}") from exc
    if date_column is not None:
        if date_column not in frame.columns:
            raise DataError(
                f"{path}: no column {date_column!r} (--date-column); columns are "
                f"{list(frame.columns)}{_delimiter_hint(path)}"
            )
        date_col = date_column
    else:
        date_col = next((c for c in frame.columns if str(c).strip().lower() == "date"), None)
    if date_col is None:
        raise DataError(
            f"{path}: no 'Date' column; columns are {list(frame.columns)} (name the dates' "
            f"column with --date-column){_delimiter_hint(path)}"
        )
    name = _strip_suffixes(path)
    return frame_to_series(frame, date_col, column, name=name, where=str(path))


def _delimiter_hint(path: Path) -> str:
    """A hint when the file's first line is split by another delimiter than the comma."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            header = f.readline()
    except OSError:
        return ""
    counts = {d: header.count(d) for d in (";", "\t", "|")}
    delimiter, n = max(counts.items(), key=lambda kv: kv[1])
    if n and n >= header.count(","):
        shown = {";": "semicolons", "\t": "tabs", "|": "'|'"}[delimiter]
        return (
            f"; the header is separated by {shown}, not commas: save the file as a "
            f"comma-separated CSV (e.g. a spreadsheet's 'CSV (comma delimited)')"
        )
    return ""


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
