"""A run folder on disk: ``forecasts.csv``, ``metrics.csv``, ``run.json`` and the statistics.

These files are the whole interface between a backtest and everything that reads it later
(reports, other tools): :func:`write_run` writes them, :func:`read_run` reads and checks them,
naming the file when one is missing or malformed. Besides the three core files, a run folder
holds the verdicts and the economic value (``verdicts.csv``, ``verdicts_pooled.csv``,
``economics.csv``, ``economics_summary.csv``, ``economics_equity.csv``; see
:mod:`~forecast.walkforward.resultfiles`) and ``run.json`` their settings under
``statistics``; a folder from before them reads with those tables as ``None``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

from forecast.errors import DataError
from forecast.evaluation.conformal import SCALES, sigma_column
from forecast.evaluation.metrics import (
    INTERVAL_METRIC_COLUMNS,
    METRIC_COLUMNS,
    VERDICT_METRIC_COLUMNS,
)
from forecast.walkforward.engine import BacktestResult
from forecast.walkforward.resultfiles import read_tables, write_tables
from forecast.walkforward.walk import FORECAST_COLUMNS

RUN_FORMAT = 1
#: every interval variant's bounds and the volatility scales, present when the run made
#: intervals (the scaled ones since volatility scaling: a run made before has none)
INTERVAL_COLUMNS = [
    *(
        f"{side}{variant}"
        for variant in ("", "_model", "_conformal", "_aci")
        for side in ("lower", "upper")
    ),
    *(
        f"{side}_{method}_{scale}"
        for scale in SCALES[1:]
        for method in ("conformal", "aci")
        for side in ("lower", "upper")
    ),
    "sigma",
    *(sigma_column(scale) for scale in SCALES[1:]),
]
#: columns of forecasts.csv and metrics.csv read as text whatever they look like
TEXT_COLUMNS = ("series", "model")
#: the lists ``run.json`` holds and the keys every item of each has (checked by read_run)
RUN_LISTS = {
    "series": ("series", "first_date", "last_date", "n", "content_hash"),
    "timings": ("series", "model", "fit_seconds", "predict_seconds", "n_fits", "n_failed"),
    "failures": ("series", "model", "origin", "stage", "error"),
}
VERSIONED_PACKAGES = (
    "forecast",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "torch",
    "yfinance",
)


def package_versions() -> dict[str, str]:
    """Python and the versions of the packages that shape results (without importing them)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def default_run_dir(root: str | os.PathLike = "runs") -> Path:
    """A new timestamped folder name under ``root`` (not created)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(root) / stamp


def write_run(
    result: BacktestResult,
    out: str | os.PathLike,
    *,
    command: str = "backtest",
    arguments: dict | None = None,
    elapsed_seconds: float | None = None,
) -> Path:
    """Write the run files of ``result`` into ``out`` (created if needed); returns ``out``."""
    return write_run_files(
        result, out, command=command, arguments=arguments, elapsed_seconds=elapsed_seconds
    ).path


def write_run_files(
    result: BacktestResult,
    out: str | os.PathLike,
    *,
    command: str = "backtest",
    arguments: dict | None = None,
    elapsed_seconds: float | None = None,
) -> RunFiles:
    """:func:`write_run`, returning the run as :func:`read_run` would read it back.

    The tables are the result's own (the files hold exactly them) and ``run`` is the JSON
    written, decoded again, so that a report built from the returned value equals one built
    later from the folder, without reading the folder.
    """
    out = make_run_dir(out)
    run = {
        "format": RUN_FORMAT,
        "command": command,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": arguments or {},
        "config": result.config,
        "versions": package_versions(),
        "series": _records(result.series_info),
        "timings": _records(result.timings),
        "failures": _records(result.failures),
        "statistics": result.statistics,
        "elapsed_seconds": elapsed_seconds,
    }
    _atomic_write(
        out / "forecasts.csv", result.forecasts.to_csv(index=False, date_format="%Y-%m-%d")
    )
    _atomic_write(out / "metrics.csv", result.metrics.to_csv(index=False))
    tables = write_tables(result, out, _atomic_write)
    text = json.dumps(run, indent=2, default=str)
    _atomic_write(out / "run.json", text + "\n")
    return RunFiles(out, result.forecasts, result.metrics, json.loads(text), **tables)


@dataclass
class RunFiles:
    """The contents of a run folder.

    The statistics tables are ``None`` when the folder has no such file (a run from before
    them, or the economics turned off); see :mod:`~forecast.walkforward.resultfiles`.
    """

    path: Path
    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    run: dict
    verdicts: pd.DataFrame | None = None
    pooled_verdict: pd.DataFrame | None = None
    economics: pd.DataFrame | None = None
    economics_summary: pd.DataFrame | None = None
    equity_curves: pd.DataFrame | None = None


def read_run(path: str | os.PathLike) -> RunFiles:
    """Read a run folder written by :func:`write_run`, checking each file's shape."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"run folder not found: {path}")
    forecasts = _read_csv(
        path / "forecasts.csv",
        FORECAST_COLUMNS,
        ["origin", "target_date"],
        ["horizon", "forecast", "actual", "origin_price", *INTERVAL_COLUMNS],
    )
    optional = [*INTERVAL_METRIC_COLUMNS, *VERDICT_METRIC_COLUMNS]
    required = [c for c in METRIC_COLUMNS if c not in optional]
    numbers = [c for c in METRIC_COLUMNS[2:] if c != "in_mcs"]
    metrics = _read_csv(path / "metrics.csv", required, [], numbers)
    for col in optional:  # a run from before intervals or verdicts existed has none
        if col not in metrics:
            metrics[col] = float("nan")
    metrics["in_mcs"] = _nullable_bool(path / "metrics.csv", metrics["in_mcs"])
    run_file = path / "run.json"
    run = read_run_json(run_file)
    check_run_lists(run_file, run)
    return RunFiles(path, forecasts, metrics, run, **read_tables(path))


def make_run_dir(out: str | os.PathLike) -> Path:
    """The run folder ``out``, created if needed; a ``DataError`` when it cannot be."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    return out


def read_run_json(run_file: Path) -> dict:
    """A run folder's ``run.json``: a JSON object with a ``config`` object, else a
    ``DataError`` naming the file."""
    if not run_file.is_file():
        raise DataError(f"{run_file}: missing (every run folder has one)")
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{run_file}: not valid JSON: {exc}") from exc
    if not isinstance(run, dict) or not isinstance(run.get("config"), dict):
        raise DataError(f"{run_file}: malformed: expected an object with a 'config' object")
    return run


def check_run_lists(run_file: Path, run: dict) -> None:
    """Each list of :data:`RUN_LISTS` in ``run`` must be records that hold its keys."""
    for key, fields in RUN_LISTS.items():
        _check_records(run_file, run, key, fields)


def _nullable_bool(file: Path, values: pd.Series) -> pd.Series:
    """``True``/``False``/empty (or all NaN, in an old run) as pandas' nullable boolean."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    bad = ~text.isin(["True", "False", ""])
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 2
        raise DataError(
            f"{file}: malformed: column 'in_mcs' needs True, False or nothing; got "
            f"{text[bad].iloc[0]!r} on line {line}"
        )
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text == "True"] = True
    out[text == "False"] = False
    return out


def _read_csv(file: Path, columns: list[str], dates: list[str], numbers: list[str]) -> pd.DataFrame:
    if not file.is_file():
        raise DataError(f"{file}: missing (every run folder has one)")
    try:
        # names stay text ("1", "NA" and "nan" are valid series names); only numbers are NaN
        frame = pd.read_csv(
            file,
            dtype={c: str for c in TEXT_COLUMNS},
            keep_default_na=False,
            na_values={c: ["", "nan", "NaN"] for c in numbers},
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable CSV file: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{file}: malformed: missing columns {missing}")
    for col in dates:
        parsed = pd.to_datetime(frame[col], errors="coerce", format="%Y-%m-%d")
        if parsed.isna().any():
            line = int(parsed.isna().to_numpy().argmax()) + 2
            raise DataError(f"{file}: malformed: column {col!r} has a bad date on line {line}")
        frame[col] = parsed
    for col in (c for c in numbers if c in frame.columns):  # optional ones may be absent
        parsed = pd.to_numeric(frame[col], errors="coerce")
        bad = parsed.isna() & frame[col].notna()
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2
            raise DataError(
                f"{file}: malformed: column {col!r} has a non-numeric value "
                f"{frame[col][bad].iloc[0]!r} on line {line}"
            )
        frame[col] = parsed
    return frame


def _check_records(file: Path, run: dict, key: str, fields: tuple[str, ...]) -> None:
    """``run[key]`` must be a list of objects that each hold ``fields``."""
    records = run.get(key)
    if not isinstance(records, list):
        raise DataError(f"{file}: malformed: {key!r} must be a list; got {type(records).__name__}")
    for i, record in enumerate(records):
        missing = [f for f in fields if not isinstance(record, dict) or f not in record]
        if missing:
            raise DataError(f"{file}: malformed: {key}[{i}] lacks the keys {missing}")


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-safe records: NaN becomes null."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600; run files are for sharing
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
