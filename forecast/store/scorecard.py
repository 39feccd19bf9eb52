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

from forecast.store.database import open_reader
from forecast.store.live_table import summary_line

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
    """The scorecard table (:data:`SCORECARD_COLUMNS`) from :func:`load_forecasts` rows.

    Every (ticker, model, horizon) at once: the text columns are turned into integer codes
    once and each column is a weighted count per group (``np.bincount``), so a year of 50
    tickers (half a million forecasts) takes about a second, where a loop over the groups
    took ten.
    """
    keys = ["ticker", "model", "horizon"]
    counts = {"horizon": int, "n": int, "pending": int, "n_intervals": int, "n_calm": int,
              "n_turbulent": int}  # fmt: skip
    if not len(forecasts):
        return pd.DataFrame(columns=SCORECARD_COLUMNS).astype(counts)
    groups = forecasts.groupby(keys, sort=True)
    g = _Groups(groups.ngroup().to_numpy(), groups.ngroups)
    out = groups.size().index.to_frame(index=False)
    scored = forecasts["scored"].to_numpy().astype(bool)
    err = forecasts["error"].to_numpy(float)
    out["n"] = g.count(scored)
    out["pending"] = g.count(np.ones(len(scored), bool)) - out["n"]
    out["mae"] = g.mean(np.abs(err), scored)
    out["rmse"] = np.sqrt(g.mean(err**2, scored))
    naive = g.mean(np.abs(forecasts["naive_error"].to_numpy(float)), scored)
    out["rel_mae"] = np.where(naive > 0, out["mae"] / np.where(naive > 0, naive, 1), np.nan)
    hit = forecasts["direction_hit"].to_numpy(float)
    moved = scored & np.isfinite(hit)
    predicted = (forecasts["forecast"] - forecasts["last_price"]).to_numpy(float) != 0
    # NaN for a model that never predicts a move (the random walk), or no move at all
    called = g.count(moved & predicted) > 0
    out["hit_rate"] = np.where(called, g.mean(hit, moved), np.nan)
    codes, dates = pd.factorize(forecasts["target_date"], sort=True)
    for col, reduce in (("first_target", np.minimum), ("last_target", np.maximum)):
        out[col] = g.extreme(codes, scored, reduce, dates)
    waiting = g.extreme(codes, ~scored, np.minimum, dates)
    out["next_target"] = np.where(g.count(~scored) > 0, waiting, None)
    for col, values in _interval_columns(forecasts, scored, g).items():
        out[col] = values
    return out[SCORECARD_COLUMNS].astype(counts)


class _Groups:
    """Per-group reductions over rows, the group of each row given by ``ids`` (0..n - 1)."""

    def __init__(self, ids: np.ndarray, n: int) -> None:
        self.ids, self.n = ids, n

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.ids[mask], minlength=self.n)

    def total(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.ids[mask], weights=values[mask], minlength=self.n)

    def mean(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n = self.count(mask)
        return np.where(n > 0, self.total(values, mask) / np.maximum(n, 1), np.nan)

    def extreme(self, codes: np.ndarray, mask: np.ndarray, reduce, labels) -> np.ndarray:
        """The smallest / largest label per group among masked rows (NaN for none)."""
        start = np.iinfo(np.int64).max if reduce is np.minimum else -1
        best = np.full(self.n, start, dtype=np.int64)
        reduce.at(best, self.ids[mask], codes[mask])
        found = self.count(mask) > 0
        out = np.full(self.n, np.nan, dtype=object)
        out[found] = np.asarray(labels, dtype=object)[best[found]]
        return out


def _interval_columns(f: pd.DataFrame, scored: np.ndarray, g: _Groups) -> dict:
    """``n_intervals``, ``level``, ``coverage``, ``width`` and the regime split per group,
    over the scored forecasts with an interval at the group's newest level (by as-of)."""
    none = {"n_intervals": 0, "level": np.nan, "coverage": np.nan, "width": np.nan}
    for name in REGIMES:
        none.update({f"n_{name}": 0, f"coverage_{name}": np.nan})
    if "lower" not in f:  # rows from an older caller, without interval columns
        return none
    lower, upper = f["lower"].to_numpy(float), f["upper"].to_numpy(float)
    actual, forecast = f["actual"].to_numpy(float), f["forecast"].to_numpy(float)
    level = f["interval_level"].to_numpy(float)
    has = scored & ~np.isnan(lower) & ~np.isnan(upper)
    # the newest row with an interval per group: largest as-of, the later row among equals
    as_of = pd.factorize(f["as_of"], sort=True)[0].astype(np.int64)
    rank = as_of * len(f) + np.arange(len(f))
    newest = np.full(g.n, -1, dtype=np.int64)
    np.maximum.at(newest, g.ids[has], rank[has])
    group_level = np.where(newest >= 0, level[np.maximum(newest, 0) % len(f)], np.nan)
    same = has & (level == group_level[g.ids])
    ok = same & np.isfinite(lower) & np.isfinite(upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = ((actual >= lower) & (actual <= upper)).astype(float)
        width = (upper - lower) / forecast
    n_ok = g.count(ok)
    out = {
        "n_intervals": g.count(same),
        "level": np.where(newest >= 0, group_level, np.nan),
        "coverage": np.where(n_ok > 0, g.total(inside, ok) / np.maximum(n_ok, 1), np.nan),
        "width": np.where(n_ok > 0, g.total(width, ok) / np.maximum(n_ok, 1), np.nan),
    }
    regime = f["vol_regime"].to_numpy() if "vol_regime" in f else np.full(len(f), None)
    for name in REGIMES:
        mask = same & (regime == name)
        out[f"n_{name}"] = g.count(mask)
        out[f"coverage_{name}"] = g.mean(inside, mask)
    return out


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
    """One line: how many forecasts are scored, how many pending, and when the next mature
    (:func:`forecast.store.live_table.summary_line`)."""
    return summary_line(table[["n", "pending", "next_target"]].to_dict("records"))
