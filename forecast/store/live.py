"""The live scorecard with its confidence sequences, computed by the job and stored.

:func:`compute_live` joins the scorecard of :mod:`forecast.store.scorecard` (MAE, rel_mae,
live coverage...) with the anytime-valid confidence sequences of
:func:`forecast.evaluation.monitoring.sequential_table` (mean squared-log-error difference
against the random walk, interval hit rate against its level) per (ticker, model, horizon):
:data:`LIVE_COLUMNS`. The sequence columns keep their names there except the hit-rate
sequence's, renamed so they do not clash with the direction ``hit_rate`` and the plain
``coverage``: ``cs_coverage`` (the hit rate of the ``n_hits`` intervals that enter the
sequence: every ``h``-th), ``coverage_lower`` and ``coverage_upper``.

Computing it reads every stored forecast (seconds for a year of 50 tickers), so the job does
it once per run after it has scored (:func:`refresh_live_scorecard`) and stores the rows in
``live_scorecard``, replacing the table in one transaction together with a
``live_scorecard_state`` row; readers (:func:`read_live`: the command line, the service)
read those few thousand rows. Forecasts and scores are append-only, so the store's newest
``forecast_id`` and its count of scores, saved with the table, tell a reader whether the
table still describes the store: when not (a run killed between its last ticker and the
table, a store written by an older version), :func:`live_scorecard` computes it afresh.

Each row keeps the statuses of the computation it replaced (``previous_status``,
``previous_coverage_status``), so :func:`live_alerts` lists what the newest run changed; a
rerun that scored nothing new leaves the table, and so the alerts, as they were.
"""

from __future__ import annotations

import math
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from forecast.evaluation.alerts import sequential_alerts
from forecast.evaluation.monitoring import SEQUENTIAL_COLUMNS, matured_from_scored, sequential_table
from forecast.store.database import open_reader, transaction
from forecast.store.scorecard import SCORECARD_COLUMNS, compute_scorecard, load_forecasts

KEYS = ["ticker", "model", "horizon"]
#: the hit-rate sequence's columns of ``sequential_table`` and their names here
RENAMED = {"hit_rate": "cs_coverage", "hit_lower": "coverage_lower", "hit_upper": "coverage_upper"}
SEQUENCE_COLUMNS = [
    "n_diff", "mean_diff", "diff_lower", "diff_upper", "status", "decided_on",
    "n_hits", "cs_coverage", "coverage_lower", "coverage_upper", "coverage_status",
    "coverage_decided_on",
]  # fmt: skip
LIVE_COLUMNS = [*SCORECARD_COLUMNS, *SEQUENCE_COLUMNS]
PREVIOUS_COLUMNS = ["previous_status", "previous_coverage_status"]
STORED_COLUMNS = [*LIVE_COLUMNS, *PREVIOUS_COLUMNS]
_COUNTS = ["n_diff", "n_hits"]


def compute_live(forecasts: pd.DataFrame) -> pd.DataFrame:
    """:data:`LIVE_COLUMNS` from :func:`forecast.store.scorecard.load_forecasts` rows.

    A (ticker, model, horizon) with no matured forecast yet has ``n_diff`` and ``n_hits`` 0,
    status ``undecided`` and coverage status ``in band``, as the sequences give before their
    first value.
    """
    table = compute_scorecard(forecasts)
    seq = sequential_table(matured_from_scored(forecasts)).rename(columns=RENAMED)
    seq = seq[[*KEYS, *SEQUENCE_COLUMNS]].astype({"horizon": "int64"})
    out = table.merge(seq, on=KEYS, how="left")
    out[_COUNTS] = out[_COUNTS].fillna(0).astype("int64")
    out["status"] = out["status"].fillna("undecided")
    out["coverage_status"] = out["coverage_status"].fillna("in band")
    return out[LIVE_COLUMNS]


def store_token(conn: sqlite3.Connection) -> tuple[int, int]:
    """``(newest forecast_id, number of scores)``: changes whenever the job stores more."""
    newest = conn.execute("SELECT COALESCE(MAX(forecast_id), 0) FROM forecasts").fetchone()[0]
    return int(newest), int(conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])


def _state(conn: sqlite3.Connection) -> dict | None:
    row = conn.execute(
        "SELECT * FROM live_scorecard_state ORDER BY computed_id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else dict(row)


def refresh_live_scorecard(
    conn: sqlite3.Connection, run_id: int | None = None, now: datetime | None = None
) -> dict | None:
    """Recompute ``live_scorecard`` if the store changed since it was stored; the job's step.

    The caller is the only writer (the job holds the store's lock). The rows are computed
    outside any transaction and written in one (the old table, its previous statuses read
    inside it, replaced as a whole), so a reader sees the old table or the new one.

    Returns
    -------
    dict or None
        ``None`` when nothing was stored since the last computation (the table is kept,
        with its previous statuses); else ``{"rows", "changes", "seconds"}``, ``changes``
        the rows whose status or coverage status differs from the previous computation's.
    """
    t0 = time.perf_counter()
    token = store_token(conn)
    state = _state(conn)
    if state is not None and (state["max_forecast_id"], state["n_scores"]) == token:
        return None
    table = compute_live(load_forecasts(conn))
    with transaction(conn) as c:
        old = pd.read_sql_query(
            "SELECT ticker, model, horizon, status AS previous_status, "
            "coverage_status AS previous_coverage_status FROM live_scorecard",
            c,
        )
        rows = table.merge(old.astype({"horizon": "int64"}), on=KEYS, how="left")
        c.execute("DELETE FROM live_scorecard")
        c.executemany(
            f"INSERT INTO live_scorecard ({', '.join(STORED_COLUMNS)}) "  # noqa: S608 (fixed names)
            f"VALUES ({', '.join('?' * len(STORED_COLUMNS))})",
            _records(rows[STORED_COLUMNS]),
        )
        seconds = time.perf_counter() - t0
        c.execute(
            "INSERT INTO live_scorecard_state (run_id, computed_at, max_forecast_id, n_scores, "
            "n_rows, seconds) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, (now or datetime.now(UTC)).isoformat(timespec="seconds"), *token,
             len(rows), round(seconds, 3)),
        )  # fmt: skip
    changed = (rows["status"] != rows["previous_status"]) | (
        rows["coverage_status"] != rows["previous_coverage_status"]
    )
    return {"rows": len(rows), "changes": int(changed.sum()), "seconds": round(seconds, 3)}


def _records(frame: pd.DataFrame) -> list[tuple]:
    """Plain Python values, NaN as NULL (numpy scalars are not SQLite types)."""
    out = []
    for rec in frame.itertuples(index=False, name=None):
        out.append(tuple(
            None if (isinstance(v, float) and math.isnan(v)) or v is pd.NA else
            (v.item() if hasattr(v, "item") else v) for v in rec
        ))  # fmt: skip
    return out


def read_live(
    conn: sqlite3.Connection, ticker: str | None = None, model: str | None = None
) -> tuple[pd.DataFrame, dict] | None:
    """The stored table (:data:`STORED_COLUMNS`) and its state row, or ``None`` when the
    table is missing or stale (the store changed after it was computed)."""
    state = _state(conn)
    if state is None or (state["max_forecast_id"], state["n_scores"]) != store_token(conn):
        return None
    sql, params = f"SELECT {', '.join(STORED_COLUMNS)} FROM live_scorecard WHERE 1 = 1", []  # noqa: S608
    if ticker is not None:
        sql, params = sql + " AND ticker = ?", [*params, ticker]
    if model is not None:
        sql, params = sql + " AND model = ?", [*params, model]
    table = pd.read_sql_query(sql + " ORDER BY ticker, model, horizon", conn, params=params)
    return table, state


def live_scorecard(
    store: str | Path, ticker: str | None = None, model: str | None = None
) -> tuple[pd.DataFrame, dict | None]:
    """The live scorecard of a store with its confidence sequences, read-only.

    Parameters
    ----------
    store
        The SQLite store ``forecast run`` writes.
    ticker, model
        Keep only this ticker / model.

    Returns
    -------
    table : pd.DataFrame
        :data:`STORED_COLUMNS`, one row per (ticker, model, horizon).
    state : dict or None
        The ``live_scorecard_state`` row of the stored table; ``None`` when the table was
        missing or stale and was computed from the forecasts instead (seconds for a large
        store; previous statuses unknown, NULL).
    """
    conn = open_reader(Path(store))
    try:
        stored = read_live(conn, ticker, model)
        if stored is not None:
            return stored
        table = compute_live(load_forecasts(conn, ticker, model))
    finally:
        conn.close()
    for col in PREVIOUS_COLUMNS:
        table[col] = None
    return table, None


def live_alerts(table: pd.DataFrame, stored: bool, since: object = None) -> pd.DataFrame:
    """The alerts of a live scorecard (:func:`forecast.evaluation.alerts.sequential_alerts`).

    ``since`` given: statuses that began on or after that target date. Otherwise, for a
    ``stored`` table, the statuses its computation changed (against ``previous_status`` and
    ``previous_coverage_status``: what the newest run made new); for a table computed
    afresh, the statuses that began on its newest target date.
    """
    seq = table.drop(columns=["hit_rate"]).rename(columns={v: k for k, v in RENAMED.items()})
    if since is not None or not stored:
        return sequential_alerts(seq, since=since)
    previous = seq.drop(columns=["status", "coverage_status"]).rename(
        columns={"previous_status": "status", "previous_coverage_status": "coverage_status"}
    )
    return sequential_alerts(seq, previous=previous[SEQUENTIAL_COLUMNS])


def sequence_text(table: pd.DataFrame) -> str:
    """The confidence-sequence columns of a live scorecard as a plain-text table."""
    if not len(table):
        return "no forecasts stored yet"

    def cs(lo: float, hi: float, fmt: str) -> str:
        return "-" if math.isnan(lo) or math.isnan(hi) else f"[{lo:{fmt}}, {hi:{fmt}}]"

    def num(v: float, fmt: str) -> str:
        return "-" if v is None or math.isnan(v) else f"{v:{fmt}}"

    shown = pd.DataFrame({
        "ticker": table["ticker"],
        "model": table["model"],
        "h": table["horizon"],
        "n_diff": table["n_diff"],
        "mean_diff": [num(v, ".3g") for v in table["mean_diff"].astype(float)],
        "95% CS": [cs(lo, hi, ".3g") for lo, hi in
                   zip(table["diff_lower"].astype(float), table["diff_upper"].astype(float),
                       strict=True)],
        "status": table["status"],
        "decided_on": table["decided_on"].fillna("-"),
        "n_hits": table["n_hits"],
        "coverage": [num(v, ".1%") for v in table["cs_coverage"].astype(float)],
        "95% CS ": [cs(lo, hi, ".1%") for lo, hi in
                    zip(table["coverage_lower"].astype(float),
                        table["coverage_upper"].astype(float), strict=True)],
        "level": [num(v, ".0%") for v in table["level"].astype(float)],
        "coverage_status": table["coverage_status"],
        "since": table["coverage_decided_on"].fillna("-"),
    })  # fmt: skip
    return shown.to_string(index=False)
