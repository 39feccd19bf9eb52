"""The run folder's statistics files: verdicts and economic value, one CSV per table.

=========================  ================================================================
``verdicts.csv``           one row per series and horizon: SPA p, StepM's and the MCS's sets,
                           the headline claim and its Holm-adjusted p-value
``verdicts_pooled.csv``    the answer for the whole run, one row per method; the headline is
                           the first row (``clark_west_holm``)
``economics.csv``          one row per series, model, horizon, trading rule and cost level
``economics_summary.csv``  one row per cost level: the best configuration, DSR and PBO
``economics_equity.csv``   per cost level and series: the daily equity curve of the best
                           configuration and of buy-and-hold (what the report draws)
=========================  ================================================================

Each file has a schema (:data:`SCHEMAS`: column -> kind), and :func:`canonical` gives a table
the dtypes its file reads back with, so that a run held in memory equals the same run read
from its folder (the report built from either is the same). A run folder written before these
files existed has none of them: :func:`read_tables` returns ``None`` for each missing file; the
economics files are also absent when a run turned the economics off.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.errors import DataError

#: file name -> (table attribute of the run, column -> kind); kinds: ``text``, ``int``,
#: ``Int`` (an integer that may be missing), ``float``, ``bool``, ``date``
SCHEMAS: dict[str, tuple[str, dict[str, str]]] = {
    "verdicts.csv": (
        "verdicts",
        {
            "series": "text", "horizon": "int", "n_origins": "int", "n_models": "int",
            "left_out": "text", "block_size": "Int", "reps": "int", "mcs_members": "text",
            "spa_pvalue": "float", "stepm_models": "text", "claim": "bool",
            "claim_models": "text", "claim_pvalue": "float", "claim_pooled": "bool",
        },
    ),
    "verdicts_pooled.csv": (
        "pooled_verdict",
        {"method": "text", "n_tests": "int", "pvalue": "float", "claim": "bool",
         "claims": "text"},
    ),
    "economics.csv": (
        "economics",
        {
            "series": "text", "model": "text", "horizon": "int", "rule": "text",
            "cost_bps": "float", "n_days": "int", "ann_return": "float", "ann_vol": "float",
            "sharpe": "float", "turnover": "float", "max_drawdown": "float",
            "hit_rate": "float", "exposure": "float", "bh_return": "float",
            "bh_sharpe": "float", "excess_return": "float", "excess_sharpe": "float",
            "skew": "float", "kurtosis": "float", "psr": "float", "n_trials": "int",
            "dsr": "float",
        },
    ),
    "economics_summary.csv": (
        "economics_summary",
        {
            "cost_bps": "float", "n_configs": "int", "n_trials": "int",
            "sharpe_variance": "float", "expected_max_sharpe": "float", "best_series": "text",
            "best_model": "text", "best_horizon": "Int", "best_rule": "text",
            "best_sharpe": "float", "best_bh_sharpe": "float", "best_dsr": "float",
            "n_beat_bh": "Int", "pbo": "float", "pbo_configs": "int", "pbo_days": "int",
            "pbo_combinations": "Int",
        },
    ),
    "economics_equity.csv": (
        "equity_curves",
        {"series": "text", "model": "text", "horizon": "int", "rule": "text",
         "cost_bps": "float", "end": "date", "equity": "float"},
    ),
}  # fmt: skip
#: the tables, in file order
TABLES = tuple(attr for attr, _ in SCHEMAS.values())


def canonical(frame: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """``frame``'s schema columns, in schema order, with the dtypes the file reads back with.

    Text is ``str`` with missing as ``""``; ``Int`` is pandas' nullable integer; floats keep
    every bit (the CSV is written with the shortest exact representation).
    """
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"table lacks the columns {missing}")
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for col, kind in schema.items():
        values = frame[col].reset_index(drop=True)
        if kind == "text":
            out[col] = values.astype(object).where(values.notna(), "").astype(str)
        elif kind == "int":
            out[col] = pd.to_numeric(values).astype("int64")
        elif kind == "Int":
            out[col] = pd.to_numeric(values).astype("Int64")
        elif kind == "float":
            out[col] = pd.to_numeric(values).astype(float)
        elif kind == "bool":
            out[col] = values.astype(bool)
        else:
            out[col] = pd.to_datetime(values).astype("datetime64[ns]")
    return out


def write_tables(result: object, out: Path, write) -> dict[str, pd.DataFrame | None]:
    """Write each table ``result`` holds (not ``None``) with ``write(path, text)``.

    Returns the tables as their files hold them (:func:`canonical`), ``None`` where the
    result has none; a file left by an earlier run into the same folder that this run has
    no table for is removed, so a folder never mixes two runs.
    """
    written: dict[str, pd.DataFrame | None] = {}
    for name, (attr, schema) in SCHEMAS.items():
        table = getattr(result, attr, None)
        if table is None:
            (out / name).unlink(missing_ok=True)
            written[attr] = None
            continue
        table = canonical(table, schema)
        write(out / name, table.to_csv(index=False, date_format="%Y-%m-%d"))
        written[attr] = table
    return written


def read_tables(path: Path) -> dict[str, pd.DataFrame | None]:
    """Read the statistics files of a run folder; ``None`` for each one that is absent.

    Raises
    ------
    DataError
        A file that is present but unreadable or malformed; the message names it.
    """
    return {attr: _read(path / name, schema) for name, (attr, schema) in SCHEMAS.items()}


def _read(file: Path, schema: dict[str, str]) -> pd.DataFrame | None:
    if not file.is_file():
        return None
    text = [c for c, kind in schema.items() if kind == "text"]
    try:
        frame = pd.read_csv(
            file,
            dtype=dict.fromkeys(text, str),
            keep_default_na=False,
            na_values={c: ["", "nan", "NaN", "<NA>"] for c in schema if c not in text},
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable CSV file: {exc}") from exc
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise DataError(f"{file}: malformed: missing columns {missing}")
    for col, kind in schema.items():
        if kind == "bool":
            ok = frame[col].isin([True, False, "True", "False"])
            if not ok.all():
                _bad(file, col, frame[col], ~ok, "True or False")
            frame[col] = frame[col].isin([True, "True"])
        elif kind == "date":
            parsed = pd.to_datetime(frame[col], errors="coerce", format="%Y-%m-%d")
            if parsed.isna().any():
                _bad(file, col, frame[col], parsed.isna(), "a date")
        elif kind != "text":
            parsed = pd.to_numeric(frame[col], errors="coerce")
            bad = parsed.isna() & frame[col].notna()
            if kind == "int":
                bad |= parsed.isna()
            if bad.any():
                _bad(file, col, frame[col], bad, "a number")
    try:
        return canonical(frame, schema)
    except (TypeError, ValueError) as exc:  # e.g. a fraction in an integer column
        raise DataError(f"{file}: malformed: {exc}") from exc


def _bad(file: Path, col: str, values: pd.Series, bad: pd.Series, wanted: str) -> None:
    line = int(bad.to_numpy().argmax()) + 2
    raise DataError(
        f"{file}: malformed: column {col!r} needs {wanted}; got {values[bad].iloc[0]!r} "
        f"on line {line}"
    )
