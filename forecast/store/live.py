"""The stored live scorecard and its confidence sequences: reading it, quickly.

The job computes the live scorecard once per run, after it has scored
(:func:`forecast.store.live_compute.refresh_live_scorecard`), and stores one row per
(ticker, model, horizon) in ``live_scorecard``: the accuracy columns of
:mod:`forecast.store.scorecard` and the anytime-valid confidence sequences of
:func:`forecast.evaluation.monitoring.sequential_table` (:data:`LIVE_COLUMNS`; the hit-rate
sequence's columns are renamed ``cs_coverage``, ``coverage_lower``, ``coverage_upper`` so they
do not clash with the direction ``hit_rate`` and the plain ``coverage``), with the statuses of
the computation it replaced (:data:`PREVIOUS_COLUMNS`).

Computing it reads every stored forecast (seconds for a year of 50 tickers); reading it is a
few thousand rows. This module reads with the standard library only (no pandas: ``forecast
scorecard`` starts and answers in well under a second). Forecasts and scores are
append-only, so the store's newest ``forecast_id`` and its count of scores, saved with the
table in ``live_scorecard_state``, tell a reader whether the table still describes the store;
when not (a run killed between its last ticker and the table, a store written by an older
version), :func:`live_rows` computes it afresh from the forecasts.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from forecast.store.database import open_reader
from forecast.store.live_table import (  # noqa: F401 (the names readers use)
    ACCURACY_COLUMNS,
    KEYS,
    LIVE_COLUMNS,
    PREVIOUS_COLUMNS,
    SEQUENCE_COLUMNS,
    STORED_COLUMNS,
    store_token,
    stored_state,
    summary_line,
)


def read_live(
    conn: sqlite3.Connection, ticker: str | None = None, model: str | None = None
) -> tuple[list[dict], dict] | None:
    """The stored rows (:data:`STORED_COLUMNS`, NULL as ``None``) and their state row, or
    ``None`` when the table is missing or stale (the store changed after it was computed)."""
    state = stored_state(conn)
    if state is None or (state["max_forecast_id"], state["n_scores"]) != store_token(conn):
        return None
    sql = f"SELECT {', '.join(STORED_COLUMNS)} FROM live_scorecard WHERE 1 = 1"  # noqa: S608 (fixed names)
    params: list[str] = []
    if ticker is not None:
        sql, params = sql + " AND ticker = ?", [*params, ticker]
    if model is not None:
        sql, params = sql + " AND model = ?", [*params, model]
    rows = conn.execute(sql + " ORDER BY ticker, model, horizon", params).fetchall()
    return [dict(zip(STORED_COLUMNS, r, strict=True)) for r in rows], state


def live_rows(
    store: str | Path, ticker: str | None = None, model: str | None = None
) -> tuple[list[dict], dict | None]:
    """The live scorecard of a store with its confidence sequences, read-only.

    Parameters
    ----------
    store
        The SQLite store ``forecast run`` writes.
    ticker, model
        Keep only this ticker / model.

    Returns
    -------
    rows : list of dict
        :data:`STORED_COLUMNS`, one per (ticker, model, horizon); NaN and NULL as ``None``.
    state : dict or None
        The ``live_scorecard_state`` row of the stored table; ``None`` when it was missing or
        stale and the rows were computed from the forecasts instead (seconds for a large
        store; the previous statuses are then unknown, ``None``).
    """
    conn = open_reader(Path(store))
    try:
        stored = read_live(conn, ticker, model)
        if stored is not None:
            return stored
        from forecast.store.live_compute import compute_live, records
        from forecast.store.scorecard import load_forecasts

        table = compute_live(load_forecasts(conn, ticker, model))
    finally:
        conn.close()
    return [{**r, "previous_status": None, "previous_coverage_status": None}
            for r in records(table)], None  # fmt: skip


# ---- plain text ---------------------------------------------------------------------------
def _num(v: object, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _cs(lo: object, hi: object, fmt: str) -> str:
    if _num(lo, fmt) == "-" or _num(hi, fmt) == "-":
        return "-"
    return f"[{format(lo, fmt)}, {format(hi, fmt)}]"


def _table(header: list[str], rows: list[list[str]], left: int = 2) -> str:
    """Columns right-aligned (the first ``left`` left-aligned), two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def accuracy_text(rows: list[dict]) -> str:
    """The accuracy columns (:data:`ACCURACY_COLUMNS`) as a plain-text table."""
    if not rows:
        return "no forecasts stored yet"
    cols = ACCURACY_COLUMNS
    body = [
        [str(r[c]) if isinstance(r[c], (int, str)) else _num(r[c], ".4g") for c in cols]
        for r in rows
    ]
    return _table(cols, body)


def sequence_text(rows: list[dict]) -> str:
    """The confidence-sequence columns as a plain-text table."""
    if not rows:
        return "no forecasts stored yet"
    header = ["ticker", "model", "h", "n_diff", "mean_diff", "95% CS", "status", "decided_on",
              "n_hits", "coverage", "95% CS", "level", "coverage_status", "since"]  # fmt: skip
    body = [
        [r["ticker"], r["model"], str(r["horizon"]), str(r["n_diff"]),
         _num(r["mean_diff"], ".3g"), _cs(r["diff_lower"], r["diff_upper"], ".3g"),
         r["status"], r["decided_on"] or "-", str(r["n_hits"]), _num(r["cs_coverage"], ".1%"),
         _cs(r["coverage_lower"], r["coverage_upper"], ".1%"), _num(r["level"], ".0%"),
         r["coverage_status"], r["coverage_decided_on"] or "-"]
        for r in rows
    ]  # fmt: skip
    return _table(header, body)
