"""The stored live scorecard's columns and freshness, shared by its reader and its writer.

See :mod:`forecast.store.live` (reading) and :mod:`forecast.store.live_compute` (computing
and storing); the table is defined in :mod:`forecast.store.schema`. Standard library only.
"""

from __future__ import annotations

import sqlite3

KEYS = ["ticker", "model", "horizon"]
#: the columns of :data:`forecast.store.scorecard.SCORECARD_COLUMNS` (checked by a test)
ACCURACY_COLUMNS = [
    *KEYS, "n", "pending", "mae", "rmse", "rel_mae", "hit_rate", "n_intervals", "level",
    "coverage", "width", "n_calm", "coverage_calm", "n_turbulent", "coverage_turbulent",
    "first_target", "last_target", "next_target",
]  # fmt: skip
SEQUENCE_COLUMNS = [
    "n_diff", "mean_diff", "diff_lower", "diff_upper", "status", "decided_on",
    "n_hits", "cs_coverage", "coverage_lower", "coverage_upper", "coverage_status",
    "coverage_decided_on",
]  # fmt: skip
LIVE_COLUMNS = [*ACCURACY_COLUMNS, *SEQUENCE_COLUMNS]
PREVIOUS_COLUMNS = ["previous_status", "previous_coverage_status"]
STORED_COLUMNS = [*LIVE_COLUMNS, *PREVIOUS_COLUMNS]


def store_token(conn: sqlite3.Connection) -> tuple[int, int]:
    """``(newest forecast_id, number of scores)``: changes whenever the job stores more."""
    newest = conn.execute("SELECT COALESCE(MAX(forecast_id), 0) FROM forecasts").fetchone()[0]
    return int(newest), int(conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])


def stored_state(conn: sqlite3.Connection) -> dict | None:
    """The newest ``live_scorecard_state`` row (``None``: never computed)."""
    row = conn.execute(
        "SELECT * FROM live_scorecard_state ORDER BY computed_id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else dict(row)


def summary_line(rows: list[dict]) -> str:
    """One line: how many forecasts are scored, how many pending, and when the next mature,
    e.g. ``0 of 45 forecasts scored; 45 pending, the first maturing on 2013-03-04 (...)``.

    ``rows``: scorecard rows with ``n``, ``pending`` and ``next_target``.
    """
    scored = sum(int(r["n"]) for r in rows)
    pending = sum(int(r["pending"]) for r in rows)
    line = f"{scored} of {scored + pending} forecasts scored"
    if pending:
        first = min(r["next_target"] for r in rows if isinstance(r["next_target"], str))
        line += (
            f"; {pending} pending, the first maturing on {first} (scored by the first "
            f"`forecast run` after that session closes)"
        )
    if not scored:
        line += (
            ". No forecast has matured yet: the columns fill in as the job runs on later "
            "sessions (or replay past sessions with `forecast run --as-of DATE`)"
        )
    return line
