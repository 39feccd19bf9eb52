"""A volatility run folder: ``forecasts.csv``, ``metrics.csv``, ``var_tests.csv``,
``verdicts.csv`` and ``run.json`` (with ``"target": "volatility"``).

The same kind of folder as a price run (:mod:`forecast.walkforward.runfiles`), for the tables
of :func:`forecast.walkforward.volatility.backtest_volatility`. ``forecast backtest --target
volatility`` writes one as its run folder; ``forecast compare`` writes one into the
``volatility/`` folder of its price run (:data:`SUBFOLDER`), where the report finds it.
:func:`read_volatility_run` reads one back, checking each file's columns and naming the file
that is missing or malformed; :func:`run_target` says which kind a folder holds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from forecast.errors import DataError
from forecast.evaluation.volatility import VAR_TEST_COLUMNS
from forecast.evaluation.volatility_verdicts import VERDICT_COLUMNS
from forecast.walkforward.runfiles import (
    RUN_FORMAT,
    _atomic_write,
    _read_csv,
    _records,
    check_run_lists,
    make_run_dir,
    package_versions,
    read_run_json,
)
from forecast.walkforward.volatility import METRIC_COLUMNS, VolatilityResult
from forecast.walkforward.volatility_walk import VOLATILITY_COLUMNS

TARGET = "volatility"
#: where ``forecast compare`` puts the volatility run inside its run folder
SUBFOLDER = "volatility"
_NUMBERS = {
    "forecasts": VOLATILITY_COLUMNS[5:7] + VOLATILITY_COLUMNS[8:] + ["horizon"],
    "metrics": [c for c in METRIC_COLUMNS if c not in ("series", "model", "proxy", "in_mcs")],
    "var_tests": [c for c in VAR_TEST_COLUMNS if c not in ("series", "model", "dist")],
    "verdicts": ["horizon", "n_origins", "n_models", "block_size", "reps", "spa_pvalue"],
}
#: read as text whatever they look like (a model list "1" stays "1")
_TEXT = ("series", "model", "proxy", "dist", "left_out", "mcs_members", "stepm_models")
#: ``in_mcs`` as the CSV holds it (pandas may have parsed it already); empty: not tested
_BOOLEANS = {"True": True, "False": False, True: True, False: False}


@dataclass
class VolatilityRunFiles:
    """The contents of a volatility run folder."""

    path: Path
    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    var_tests: pd.DataFrame
    verdicts: pd.DataFrame
    run: dict


def write_volatility_run(
    result: VolatilityResult,
    out: str | os.PathLike,
    *,
    command: str = "backtest",
    arguments: dict | None = None,
    elapsed_seconds: float | None = None,
) -> VolatilityRunFiles:
    """Write the run files of ``result`` into ``out`` (created if needed).

    Returns the run as :func:`read_volatility_run` would read it back (the tables are the
    result's own, ``run`` the JSON written, decoded again).
    """
    out = make_run_dir(out)
    run = {
        "format": RUN_FORMAT,
        "target": TARGET,
        "command": command,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": arguments or {},
        "config": result.config,
        "versions": package_versions() | _arch_version(),
        "series": _records(result.series_info),
        "timings": _records(result.timings),
        "failures": _records(result.failures),
        "elapsed_seconds": elapsed_seconds,
    }
    tables = {
        "forecasts": result.forecasts,
        "metrics": result.metrics,
        "var_tests": result.var_tests,
        "verdicts": result.verdicts,
    }
    for name, table in tables.items():
        text = table.to_csv(index=False, date_format="%Y-%m-%d")
        _atomic_write(out / f"{name}.csv", text)
    text = json.dumps(run, indent=2, default=str)
    _atomic_write(out / "run.json", text + "\n")
    return VolatilityRunFiles(out, **tables, run=json.loads(text))


def run_target(path: str | os.PathLike) -> str:
    """``"volatility"`` when ``path`` holds a volatility run, else ``"price"`` (what every
    older run folder holds)."""
    try:
        run = json.loads((Path(path) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "price"  # read_run names the problem
    return TARGET if isinstance(run, dict) and run.get("target") == TARGET else "price"


def read_volatility_run(path: str | os.PathLike) -> VolatilityRunFiles:
    """Read a folder written by :func:`write_volatility_run`, checking each file's shape."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"run folder not found: {path}")
    forecasts = _read(path / "forecasts.csv", VOLATILITY_COLUMNS, ["origin", "target_date"])
    metrics = _read(path / "metrics.csv", METRIC_COLUMNS, [])
    metrics["in_mcs"] = metrics["in_mcs"].map(_BOOLEANS.get).astype("boolean")
    var_tests = _read(path / "var_tests.csv", VAR_TEST_COLUMNS, [])
    verdicts = _read(path / "verdicts.csv", VERDICT_COLUMNS, [])
    run_file = path / "run.json"
    run = read_run_json(run_file)
    if run.get("target") != TARGET:
        raise DataError(f"{run_file}: not a volatility run (target {run.get('target')!r})")
    check_run_lists(run_file, run)
    return VolatilityRunFiles(path, forecasts, metrics, var_tests, verdicts, run)


def _read(file: Path, columns: list[str], dates: list[str]) -> pd.DataFrame:
    frame = _read_csv(file, columns, dates, _NUMBERS[file.stem])
    for col in (c for c in _TEXT if c in frame.columns):
        frame[col] = frame[col].astype(str)  # empty stays "" (the reader keeps no NA text)
    return frame


def _arch_version() -> dict[str, str]:
    from importlib import metadata

    try:
        return {"arch": metadata.version("arch")}
    except metadata.PackageNotFoundError:
        return {"arch": "not installed"}
