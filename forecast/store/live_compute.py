"""Computing the live scorecard with its confidence sequences, and its alerts.

:func:`compute_live` joins the scorecard of :mod:`forecast.store.scorecard` (MAE, rel_mae,
live coverage...) with :func:`forecast.evaluation.monitoring.sequential_table` per (ticker,
model, horizon): the columns :data:`forecast.store.live.LIVE_COLUMNS`. The job stores them
after scoring (:func:`refresh_live_scorecard`), replacing ``live_scorecard`` in one
transaction together with a ``live_scorecard_state`` row; readers use
:mod:`forecast.store.live`. Each row keeps the statuses of the computation it replaced
(``previous_status``, ``previous_coverage_status``), so :func:`live_alerts` lists what the
newest run changed; a rerun that stored nothing new leaves the table, and so the alerts, as
they were.
"""

from __future__ import annotations

import math
import sqlite3
import time
from datetime import UTC, datetime

import pandas as pd

from forecast.evaluation.alerts import sequential_alerts
from forecast.evaluation.monitoring import SEQUENTIAL_COLUMNS, matured_from_scored, sequential_table
from forecast.store.database import transaction
from forecast.store.live_table import (
    KEYS,
    LIVE_COLUMNS,
    SEQUENCE_COLUMNS,
    STORED_COLUMNS,
    store_token,
    stored_state,
)
from forecast.store.scorecard import compute_scorecard, load_forecasts

#: the hit-rate sequence's columns of ``sequential_table`` and their names here
RENAMED = {"hit_rate": "cs_coverage", "hit_lower": "coverage_lower", "hit_upper": "coverage_upper"}
_COUNTS = ["n_diff", "n_hits"]
_FLOATS = ["mean_diff", "diff_lower", "diff_upper", "cs_coverage", "coverage_lower"]
_FLOATS += ["coverage_upper", "level"]


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
    state = stored_state(conn)
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
            [tuple(r.values()) for r in records(rows[STORED_COLUMNS])],
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


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows as dicts of plain Python values, NaN as ``None`` (for SQLite and JSON)."""
    cols = list(frame.columns)
    return [
        {c: _plain(v) for c, v in zip(cols, rec, strict=True)}
        for rec in frame.itertuples(index=False, name=None)
    ]


def _plain(v: object) -> object:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def live_alerts(rows: list[dict], stored: bool, since: object = None) -> pd.DataFrame:
    """The alerts of a live scorecard (:func:`forecast.evaluation.alerts.sequential_alerts`).

    ``rows`` as :func:`forecast.store.live.live_rows` gives them.
    ``since`` given: statuses that began on or after that target date. Otherwise, for a
    ``stored`` table, the statuses its computation changed (against ``previous_status`` and
    ``previous_coverage_status``: what the newest run made new); for a table computed
    afresh, the statuses that began on its newest target date.
    """
    table = pd.DataFrame(rows, columns=STORED_COLUMNS)
    table[_FLOATS] = table[_FLOATS].astype(float)  # None (NULL) as NaN
    seq = table.drop(columns=["hit_rate"]).rename(columns={v: k for k, v in RENAMED.items()})
    if since is not None or not stored:
        return sequential_alerts(seq, since=since)
    previous = seq.drop(columns=["status", "coverage_status"]).rename(
        columns={"previous_status": "status", "previous_coverage_status": "coverage_status"}
    )
    return sequential_alerts(seq, previous=previous[SEQUENTIAL_COLUMNS])
