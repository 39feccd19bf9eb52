"""``GET /volatility/{ticker}``: the stored volatility and Value-at-Risk forecasts, read-only.

One as-of session's forecasts of a ticker (the newest by default) with each model's version
and, once the target session has passed, its score (realised proxy, log return, QLIKE,
squared error, VaR exceptions); and the ticker's live volatility scorecard: per model and
horizon, the mean QLIKE and MSE of the scored forecasts, each relative to the naive model's on
the same (as-of, horizon) pairs, and the VaR exception rates. Reads the tables of migration 3
(:mod:`forecast.store.schema`) through the caller's read snapshot.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict

from forecast.service.queries import pop_version
from forecast.service.schemas import ParameterError

BENCHMARK = "naive"
_HITS = ("hit_1", "hit_5", "hit_1_t", "hit_5_t")


def volatility_response(
    conn: sqlite3.Connection,
    ticker: str,
    raw_ticker: str,
    model: str | None,
    day: str | None,
    horizon: int | None,
) -> dict:
    """The body of ``GET /volatility/{ticker}``; ``ParameterError`` (404) when the ticker has
    no volatility forecasts or a filter selects nothing (the message says what there is)."""
    latest = _latest(conn, ticker)
    if not latest:
        raise ParameterError(
            404, "ticker", "path", f"no volatility forecasts stored for ticker {ticker!r}",
            raw_ticker,
        )  # fmt: skip
    if model is not None and model not in latest:
        raise ParameterError(
            404, "model", "query", f"ticker {ticker!r} has no volatility forecasts of model "
            f"{model!r}; models: {', '.join(latest)}", model,
        )  # fmt: skip
    models = [model] if model is not None else list(latest)
    chosen = day or max(latest[m] for m in models)
    rows = _rows(conn, ticker, models, chosen, horizon)
    if not rows:
        _nothing(conn, ticker, models, chosen, day, horizon)
    return {
        "ticker": ticker,
        "as_of": chosen,
        "forecasts": rows,
        "scorecard": scorecard(conn, ticker, model),
    }


def _latest(conn: sqlite3.Connection, ticker: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT model, MAX(as_of) FROM volatility_forecasts WHERE ticker = ? GROUP BY model "
        "ORDER BY model",
        (ticker,),
    )
    return {r[0]: r[1] for r in rows}


def _marks(values: list) -> str:
    return ", ".join("?" * len(values))


def _rows(conn, ticker: str, models: list[str], as_of: str, horizon: int | None) -> list[dict]:
    sql = (
        "SELECT f.model, f.horizon, f.target_date, f.variance, f.proxy, f.var_1, f.var_5, "
        "f.var_1_t, f.var_5_t, f.t_dof, f.last_price, f.data_hash, f.run_id, "
        "s.realized, s.log_return, s.qlike, s.squared_error, s.hit_1, s.hit_5, s.hit_1_t, "
        "s.hit_5_t, s.vforecast_id AS scored, v.version_id, v.trained_through, v.spec_hash, "
        "v.params, v.n_train, v.data_hash AS train_data_hash, v.status "
        "FROM volatility_forecasts AS f JOIN model_versions AS v USING (version_id) "
        "LEFT JOIN volatility_scores AS s USING (vforecast_id) "
        "WHERE f.ticker = ? AND f.model IN (" + _marks(models) + ") AND f.as_of = ?"
    )
    params: list = [ticker, *models, as_of]
    if horizon is not None:
        sql += " AND f.horizon = ?"
        params.append(horizon)
    out = []
    for r in conn.execute(sql + " ORDER BY f.model, f.horizon", params):
        row = dict(r)
        score = None
        if row.pop("scored") is not None:
            score = {k: row[k] for k in ("realized", "log_return", "qlike", "squared_error")}
            score.update({k: bool(row[k]) for k in _HITS})
        for k in ("realized", "log_return", "qlike", "squared_error", *_HITS):
            row.pop(k)
        row["volatility"] = math.sqrt(row["variance"])
        row["score"] = score
        row["version"] = pop_version(row)
        out.append(row)
    return out


def _nothing(conn, ticker: str, models: list[str], chosen: str, day, horizon) -> None:
    where = " FROM volatility_forecasts WHERE ticker = ? AND model IN (" + _marks(models) + ")"
    horizons = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT horizon" + where + " AND as_of = ? ORDER BY horizon",
            (ticker, *models, chosen),
        )
    ]
    if horizons:
        raise ParameterError(
            404, "horizon", "query", f"no volatility forecasts of {ticker!r} for horizon "
            f"{horizon} as of {chosen}; stored horizons: {', '.join(map(str, horizons))}", horizon,
        )  # fmt: skip
    args = (ticker, *models, day)
    before = conn.execute("SELECT MAX(as_of)" + where + " AND as_of < ?", args).fetchone()[0]
    after = conn.execute("SELECT MIN(as_of)" + where + " AND as_of > ?", args).fetchone()[0]
    raise ParameterError(
        404, "as_of", "query", f"no volatility forecasts of {ticker!r} as of {day}; nearest "
        f"stored: before {before or 'none'}, after {after or 'none'}", day,
    )  # fmt: skip


def scorecard(conn: sqlite3.Connection, ticker: str, model: str | None = None) -> list[dict]:
    """Per model and horizon of ``ticker``: scored and pending counts, mean QLIKE and MSE,
    each relative to the naive model's on the same (as-of, horizon) pairs, VaR hit rates."""
    rows = conn.execute(
        "SELECT f.model, f.horizon, f.as_of, f.target_date, s.qlike, s.squared_error, "
        "s.hit_1, s.hit_5, s.hit_1_t, s.hit_5_t, s.vforecast_id IS NOT NULL AS scored "
        "FROM volatility_forecasts AS f LEFT JOIN volatility_scores AS s USING (vforecast_id) "
        "WHERE f.ticker = ? ORDER BY f.model, f.horizon, f.as_of",
        (ticker,),
    ).fetchall()
    groups: dict[tuple[str, int], list] = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["horizon"])].append(r)
    naive = {
        (r["as_of"], r["horizon"]): r
        for (m, _), g in groups.items()
        if m == BENCHMARK
        for r in g
        if r["scored"]
    }
    out = []
    for (name, h), g in groups.items():
        if model is not None and name != model:
            continue
        scored = [r for r in g if r["scored"]]
        row = {"model": name, "horizon": h, "n": len(scored), "pending": len(g) - len(scored)}
        row.update(_losses(scored, naive))
        for k in _HITS:
            row[k.replace("hit", "hit_rate")] = (
                sum(r[k] for r in scored) / len(scored) if scored else None
            )
        targets = [r["target_date"] for r in scored]
        row["first_target"] = min(targets) if targets else None
        row["last_target"] = max(targets) if targets else None
        out.append(row)
    return out


def _losses(scored: list, naive: dict) -> dict:
    """Mean QLIKE and MSE, and their ratios to the naive model's on the pairs both scored."""
    q = [r["qlike"] for r in scored if r["qlike"] is not None]
    out = {
        "qlike": sum(q) / len(q) if q else None,
        "mse": sum(r["squared_error"] for r in scored) / len(scored) if scored else None,
        "rel_qlike": None,
        "rel_mse": None,
    }
    pairs = [
        (r, naive[(r["as_of"], r["horizon"])])
        for r in scored
        if (r["as_of"], r["horizon"]) in naive
    ]
    both = [
        (a["qlike"], b["qlike"])
        for a, b in pairs
        if a["qlike"] is not None and b["qlike"] is not None
    ]
    if both and sum(b for _, b in both) > 0:
        out["rel_qlike"] = sum(a for a, _ in both) / sum(b for _, b in both)
    mse_b = sum(b["squared_error"] for _, b in pairs)
    if pairs and mse_b > 0:
        out["rel_mse"] = sum(a["squared_error"] for a, _ in pairs) / mse_b
    return out
