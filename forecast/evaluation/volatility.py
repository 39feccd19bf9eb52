"""Scores of variance forecasts and Value-at-Risk backtests, from the long volatility table.

The table has one row per series, model, origin and horizon with at least ``series, model,
origin, horizon, variance_forecast, realized`` (the ``h``-day variance forecast and the
realised proxy of the same days) and, for the VaR backtests, ``return`` (the ``h``-day log
return) and the VaR columns ``var_1, var_5`` (normal) and ``var_1_t, var_5_t``
(Student-t), positive losses in log-return units.

Losses (Patton 2011, J. Econometrics 160: the two members of his robust family most used;
with a conditionally unbiased proxy ``rv`` of the variance, their expected value ranks
forecasts as the true variance would, however noisy the proxy)::

    MSE    L(rv, f) = (rv - f)^2
    QLIKE  L(rv, f) = rv / f - ln(rv / f) - 1

QLIKE is written in its normalised form: ``L >= 0``, ``L = 0`` iff ``f = rv``, and
``E[L(rv, f)]`` is smallest at ``f = E[rv]``. It is undefined at ``rv = 0`` (a squared
return of exactly zero): such rows are left out of every QLIKE figure and counted in
``n_zero``. The Diebold-Mariano (1995, JBES 13) test of each model against the benchmark
runs on the loss differential ``d_t = L(rv_t, f_model) - L(rv_t, f_bench)`` with
statsmodels' Newey-West (HAC) variance and the Harvey-Leybourne-Newbold correction
(``max(h - 1, ceil(n^(1/3)))`` lags): a negative statistic means the model's loss is lower.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.tsa.stattools import diebold_mariano_test

from forecast.evaluation.coverage import coverage_test_h

BENCHMARK = "naive"
#: the VaR tail probabilities and their column names (``var_1``, ``var_5``; ``_t`` suffix
#: for the Student-t quantiles)
VAR_COLUMNS = {0.01: "var_1", 0.05: "var_5"}

SCORE_COLUMNS = [
    "series",
    "model",
    "horizon",
    "proxy",
    "n",
    "n_zero",
    "qlike",
    "mse",
    "rel_qlike",
    "rel_mse",
    "dm_qlike_stat",
    "dm_qlike_pvalue",
    "dm_mse_stat",
    "dm_mse_pvalue",
]
VAR_TEST_COLUMNS = [
    "series",
    "model",
    "horizon",
    "alpha",
    "dist",
    "n",
    "hits",
    "rate",
    "lr_uc",
    "p_uc",
    "lr_ind",
    "p_ind",
    "lr_cc",
    "p_cc",
]


def qlike(realized: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Normalised QLIKE per point: ``rv / f - ln(rv / f) - 1`` (NaN where ``rv <= 0``)."""
    rv, f = _positive_forecasts(realized, forecast)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rv / f
        loss = ratio - np.log(ratio) - 1.0
    return np.where(rv > 0, loss, np.nan)


def squared_error(realized: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """MSE loss per point: ``(rv - f)^2``."""
    rv, f = _positive_forecasts(realized, forecast)
    return (rv - f) ** 2


def loss_test(
    realized: np.ndarray,
    forecast: np.ndarray,
    benchmark: np.ndarray,
    horizon: int,
    loss: str = "qlike",
) -> tuple[float, float]:
    """DM statistic and p-value of ``forecast`` against ``benchmark`` under ``loss``.

    ``loss`` is ``"qlike"`` or ``"mse"``; NaN when undefined (fewer than 3 points, or the
    same loss everywhere).
    """
    criteria = {"qlike": qlike, "mse": squared_error}
    if loss not in criteria:
        raise ValueError(f"loss must be 'qlike' or 'mse'; got {loss!r}")
    rv, f, b = (np.asarray(a, dtype=float) for a in (realized, forecast, benchmark))
    d = criteria[loss](rv, f) - criteria[loss](rv, b)
    if len(d) < 3 or not np.all(np.isfinite(d)) or np.all(d == d[0]):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = diebold_mariano_test(
            rv, f, b, criterion=criteria[loss], harvey_adj=True, horizon=int(horizon)
        )
    stat, pvalue = float(res.statistic), float(res.pvalue)
    if not (np.isfinite(stat) and np.isfinite(pvalue)):
        return float("nan"), float("nan")
    return stat, pvalue


def volatility_scores(table: pd.DataFrame, benchmark: str = BENCHMARK) -> pd.DataFrame:
    """One row per series, model and horizon: QLIKE and MSE, relative to ``benchmark``
    on the same origins, and the DM tests against it (columns :data:`SCORE_COLUMNS`).

    Without the benchmark in a series and horizon, the relative and DM columns are NaN.
    """
    _require(table, ["series", "model", "origin", "horizon", "variance_forecast", "realized"])
    rows = []
    for (series, horizon), group in table.groupby(["series", "horizon"], sort=False):
        bench = group[group["model"] == benchmark].set_index("origin")
        for model, g in group.groupby("model", sort=False):
            g = g[np.isfinite(g["realized"].to_numpy(dtype=float))]
            rows.append(_score_row(series, model, int(horizon), g, bench, benchmark))
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def var_backtests(table: pd.DataFrame) -> pd.DataFrame:
    """Kupiec and Christoffersen tests of every VaR column, per series, model and horizon.

    For ``h > 1`` the tests use every ``h``-th origin (non-overlapping targets), counted
    in the origin order of the table's rows; ``n`` is the number tested. Columns
    :data:`VAR_TEST_COLUMNS`.
    """
    _require(table, ["series", "model", "origin", "horizon", "return"])
    rows = []
    for (series, model, horizon), g in table.groupby(["series", "model", "horizon"], sort=False):
        g = g.sort_values("origin")
        g = g[np.isfinite(g["return"].to_numpy(dtype=float))]
        for alpha, base in VAR_COLUMNS.items():
            for dist, col in (("normal", base), ("t", f"{base}_t")):
                if col not in g:
                    continue
                hits = (g["return"].to_numpy(float) < -g[col].to_numpy(float)).astype(int)
                test = coverage_test_h(hits, alpha, int(horizon)).as_dict()
                rows.append(
                    {"series": series, "model": model, "horizon": int(horizon), "alpha": alpha,
                     "dist": dist, **{k: test[k] for k in VAR_TEST_COLUMNS[5:]}}
                )  # fmt: skip
    return pd.DataFrame(rows, columns=VAR_TEST_COLUMNS)


def _score_row(
    series: str, model: str, horizon: int, g: pd.DataFrame, bench: pd.DataFrame, name: str
) -> dict:
    rv = g["realized"].to_numpy(dtype=float)
    f = g["variance_forecast"].to_numpy(dtype=float)
    positive = rv > 0
    row = {
        "series": series,
        "model": model,
        "horizon": horizon,
        "proxy": g["proxy"].iloc[0] if "proxy" in g and len(g) else None,
        "n": len(g),
        "n_zero": int((~positive).sum()),
        "qlike": float(np.mean(qlike(rv[positive], f[positive]))) if positive.any() else np.nan,
        "mse": float(np.mean(squared_error(rv, f))) if len(g) else np.nan,
    }
    nan = {k: np.nan for k in SCORE_COLUMNS[8:]}
    common = g[g["origin"].isin(bench.index)]
    if model == name or not len(common):
        return {**row, **nan, **({"rel_qlike": 1.0, "rel_mse": 1.0} if model == name else {})}
    rv = common["realized"].to_numpy(dtype=float)
    f = common["variance_forecast"].to_numpy(dtype=float)
    b = bench.loc[common["origin"], "variance_forecast"].to_numpy(dtype=float)
    pos = rv > 0
    q_model, q_bench = np.mean(qlike(rv[pos], f[pos])), np.mean(qlike(rv[pos], b[pos]))
    m_model, m_bench = np.mean(squared_error(rv, f)), np.mean(squared_error(rv, b))
    dm_q = loss_test(rv[pos], f[pos], b[pos], horizon, "qlike")
    dm_m = loss_test(rv, f, b, horizon, "mse")
    return {
        **row,
        "rel_qlike": float(q_model / q_bench) if q_bench > 0 else np.nan,
        "rel_mse": float(m_model / m_bench) if m_bench > 0 else np.nan,
        "dm_qlike_stat": dm_q[0],
        "dm_qlike_pvalue": dm_q[1],
        "dm_mse_stat": dm_m[0],
        "dm_mse_pvalue": dm_m[1],
    }


def _positive_forecasts(realized: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, ...]:
    rv = np.asarray(realized, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if rv.shape != f.shape:
        raise ValueError(f"realized and forecast must have one shape; got {rv.shape}, {f.shape}")
    if np.any(f <= 0):
        raise ValueError(
            f"variance forecasts must be > 0; {int(np.sum(f <= 0))} are not (min {f.min()!r})"
        )
    return rv, f


def _require(table: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"table must have columns {columns}; missing {missing}")
