"""The store's volatility tables: writing a ticker's rows, and the job's reads for planning.

``volatility_forecasts`` and ``volatility_scores`` are defined in :mod:`forecast.store.schema`
(migration 3). :func:`write_volatility` runs inside :meth:`Store.write_ticker
<forecast.store.database.Store.write_ticker>`'s transaction, so a ticker's price and
volatility forecasts, their versions and scores are committed together or not at all.
"""

from __future__ import annotations

import sqlite3

from forecast.store.rows import TickerResult


def write_volatility(c: sqlite3.Connection, run_id: int, r: TickerResult) -> None:
    """Insert ``r``'s volatility forecasts and scores (inside the caller's transaction).

    A stored forecast is never rewritten (a rerun for the same as-of does nothing), nor is a
    stored score.
    """
    for f in r.volatility_forecasts:
        version_id = c.execute(
            "SELECT version_id FROM model_versions WHERE ticker = ? AND model = ? "
            "AND spec_hash = ? AND trained_through = ? AND target = 'volatility'",
            (r.ticker, f.model, f.spec_hash, f.trained_through),
        ).fetchone()[0]
        c.execute(
            "INSERT INTO volatility_forecasts (ticker, model, version_id, as_of, horizon, "
            "target_date, variance, proxy, var_1, var_5, var_1_t, var_5_t, t_dof, last_price, "
            "data_hash, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (ticker, model, as_of, horizon) DO NOTHING",
            (r.ticker, f.model, version_id, r.as_of, f.horizon, f.target_date, f.variance,
             f.proxy, f.var_1, f.var_5, f.var_1_t, f.var_5_t, f.t_dof, r.last_price,
             r.volatility_data_hash or r.data_hash, run_id),
        )  # fmt: skip
    c.executemany(
        "INSERT INTO volatility_scores (vforecast_id, realized, log_return, qlike, "
        "squared_error, hit_1, hit_5, hit_1_t, hit_5_t, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vforecast_id) DO NOTHING",
        [(s.vforecast_id, s.realized, s.log_return, s.qlike, s.squared_error, s.hit_1,
          s.hit_5, s.hit_1_t, s.hit_5_t, run_id) for s in r.volatility_scores],
    )  # fmt: skip


def stored_volatility_models(conn: sqlite3.Connection, ticker: str, as_of: str) -> set[str]:
    """Volatility models that already have forecasts for ``ticker`` at ``as_of``."""
    rows = conn.execute(
        "SELECT DISTINCT model FROM volatility_forecasts WHERE ticker = ? AND as_of = ?",
        (ticker, as_of),
    )
    return {r[0] for r in rows}


def unscored_volatility(conn: sqlite3.Connection, ticker: str, as_of: str) -> list[tuple]:
    """Stored volatility forecasts of ``ticker`` whose target date is at or before ``as_of``
    and that have no score: ``(vforecast_id, as_of, target_date, variance, proxy, var_1,
    var_5, var_1_t, var_5_t)``."""
    rows = conn.execute(
        "SELECT f.vforecast_id, f.as_of, f.target_date, f.variance, f.proxy, f.var_1, f.var_5, "
        "f.var_1_t, f.var_5_t FROM volatility_forecasts AS f "
        "LEFT JOIN volatility_scores AS s USING (vforecast_id) "
        "WHERE f.ticker = ? AND f.target_date <= ? AND s.vforecast_id IS NULL "
        "ORDER BY f.vforecast_id",
        (ticker, as_of),
    )
    return [tuple(r) for r in rows]
