"""The live scorecard: how the stored forecasts and intervals did once their targets passed.

One row per (ticker, model, horizon) over the *matured* forecasts (those the job has scored):

``n``
    Scored forecasts. ``pending``: stored forecasts not scored yet.
``mae``, ``rmse``
    Of ``forecast - actual``, in price units.
``rel_mae``
    ``mae`` divided by the mean absolute error of the random walk on the **same targets**
    (the price at each forecast's as-of date): below 1 beats the random walk.
``hit_rate``
    Share of forecasts that called the direction of the move from the as-of price
    correctly, among targets where the price moved; NaN for a model that never predicts a
    move (the random walk), as in :func:`forecast.evaluation.metrics.direction_scores`.
``n_intervals``
    Scored forecasts with a prediction interval at ``level``.
``level``
    The nominal coverage of the newest scored interval; the interval columns are computed
    over the scored forecasts with an interval at this level only (a config may change the
    level, and coverages at two levels do not average into either).
``coverage``
    Live coverage: the share of those forecasts whose actual fell inside ``[lower, upper]``
    (the actual on the forecast's price basis, as the errors); compare with ``level``.
``width``
    Mean relative width ``(upper - lower) / forecast``.
``n_calm``, ``coverage_calm``, ``n_turbulent``, ``coverage_turbulent``
    The same live coverage split by the volatility regime at each forecast's as-of
    (``vol_regime``: the scaling model's 1-day volatility forecast at the as-of against its
    median over the 250 sessions before, see :func:`forecast.walkforward.scales.volatility_at`):
    an interval that is right on average but wrong when markets move shows here. Forecasts
    stored before the regime existed (schema 2) count in ``coverage`` only.
``first_target``, ``last_target``
    The range of target dates scored.
``next_target``
    The earliest target date of the pending forecasts: the first of them is scored by the
    first ``forecast run`` after that session has closed.

Tickers are not pooled: a mean error in dollars across a $30 and a $2500 series would
measure the price levels, not the models.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.evaluation.conformal import interval_scores
from forecast.store.database import open_reader

SCORECARD_COLUMNS = [
    "ticker",
    "model",
    "horizon",
    "n",
    "pending",
    "mae",
    "rmse",
    "rel_mae",
    "hit_rate",
    "n_intervals",
    "level",
    "coverage",
    "width",
    "n_calm",
    "coverage_calm",
    "n_turbulent",
    "coverage_turbulent",
    "first_target",
    "last_target",
    "next_target",
]
#: the regimes of the split, as ``forecasts.vol_regime`` stores them
REGIMES = ("calm", "turbulent")


def load_forecasts(
    conn: sqlite3.Connection, ticker: str | None = None, model: str | None = None
) -> pd.DataFrame:
    """Stored forecasts with their scores (NaN where not scored yet), optionally filtered."""
    sql = (
        "SELECT f.ticker, f.model, f.horizon, f.as_of, f.target_date, f.forecast, "
        "f.last_price, f.lower, f.upper, f.interval_level, f.interval_method, "
        "f.interval_scale, f.sigma, f.vol_regime, s.actual, s.error, s.naive_error, "
        "s.direction_hit, "
        "s.forecast_id IS NOT NULL AS scored "
        "FROM forecasts AS f LEFT JOIN scores AS s USING (forecast_id) WHERE 1 = 1"
    )
    params: list[str] = []
    if ticker is not None:
        sql += " AND f.ticker = ?"
        params.append(ticker)
    if model is not None:
        sql += " AND f.model = ?"
        params.append(model)
    sql += " ORDER BY f.ticker, f.model, f.horizon, f.as_of"
    return pd.read_sql_query(sql, conn, params=params)


def compute_scorecard(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The scorecard table (:data:`SCORECARD_COLUMNS`) from :func:`load_forecasts` rows."""
    rows = []
    for (ticker, model, horizon), g in forecasts.groupby(["ticker", "model", "horizon"], sort=True):
        scored = g[g["scored"].astype(bool)]
        waiting = g.loc[~g["scored"].astype(bool), "target_date"]
        row = {
            "ticker": ticker,
            "model": model,
            "horizon": int(horizon),
            "n": len(scored),
            "pending": len(g) - len(scored),
            "next_target": waiting.min() if len(waiting) else None,
            **_interval_columns(scored),
        }
        if len(scored):
            err = scored["error"].to_numpy(float)
            naive = np.abs(scored["naive_error"].to_numpy(float))
            mae = float(np.mean(np.abs(err)))
            row.update(
                mae=mae,
                rmse=float(np.sqrt(np.mean(err**2))),
                rel_mae=mae / float(np.mean(naive)) if np.mean(naive) > 0 else np.nan,
                hit_rate=_hit_rate(scored),
                first_target=scored["target_date"].min(),
                last_target=scored["target_date"].max(),
            )
        rows.append(row)
    out = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    counts = {"horizon": int, "n": int, "pending": int, "n_intervals": int, "n_calm": int,
              "n_turbulent": int}  # fmt: skip
    return out.astype(counts)


def _interval_columns(scored: pd.DataFrame) -> dict:
    """``n_intervals``, ``level``, ``coverage``, ``width`` and the regime split of scored
    forecasts."""
    none = {"n_intervals": 0, "n_calm": 0, "n_turbulent": 0}
    if "lower" not in scored:  # rows from an older caller, without interval columns
        return none
    with_interval = scored[scored["lower"].notna() & scored["upper"].notna()]
    if not len(with_interval):
        return none
    newest = with_interval.sort_values("as_of", kind="stable")["interval_level"].iloc[-1]
    same = with_interval[with_interval["interval_level"] == newest]
    actual, lower, upper, forecast = (
        same[c].to_numpy(float) for c in ("actual", "lower", "upper", "forecast")
    )
    scores = interval_scores(actual, lower, upper, forecast, float(newest))
    out = {
        "n_intervals": len(same),
        "level": float(newest),
        "coverage": scores["coverage"],
        "width": scores["width"],
    }
    regime = same["vol_regime"] if "vol_regime" in same else pd.Series(index=same.index)
    inside = (actual >= lower) & (actual <= upper)
    for name in REGIMES:
        mask = (regime == name).to_numpy()
        out[f"n_{name}"] = int(mask.sum())
        out[f"coverage_{name}"] = float(inside[mask].mean()) if mask.any() else np.nan
    return out


def _hit_rate(scored: pd.DataFrame) -> float:
    moved = scored["direction_hit"].notna()
    predicted_move = (scored["forecast"] - scored["last_price"]).to_numpy(float) != 0
    if not moved.any() or not predicted_move[moved.to_numpy()].any():
        return float("nan")
    return float(scored.loc[moved, "direction_hit"].astype(float).mean())


def scorecard(
    store: str | Path, ticker: str | None = None, model: str | None = None
) -> pd.DataFrame:
    """The scorecard of a store, read through a read-only connection.

    Parameters
    ----------
    store
        The SQLite store ``forecast run`` writes.
    ticker, model
        Keep only this ticker / model.

    Returns
    -------
    pd.DataFrame
        Columns :data:`SCORECARD_COLUMNS`, one row per (ticker, model, horizon).
    """
    conn = open_reader(Path(store))
    try:
        return compute_scorecard(load_forecasts(conn, ticker, model))
    finally:
        conn.close()


def format_scorecard(table: pd.DataFrame) -> str:
    """The scorecard as a plain-text table."""
    if not len(table):
        return "no forecasts stored yet"
    shown = table.copy()
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
    return f"{text}\n\n{scorecard_summary(table)}"


def scorecard_summary(table: pd.DataFrame) -> str:
    """One line: how many forecasts are scored, how many pending, and when the next mature,
    e.g. ``0 of 45 forecasts scored; 45 pending, the first maturing on 2013-03-04 (...)``."""
    scored, pending = int(table["n"].sum()), int(table["pending"].sum())
    line = f"{scored} of {scored + pending} forecasts scored"
    if pending:
        first = min(d for d in table["next_target"] if isinstance(d, str))
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
