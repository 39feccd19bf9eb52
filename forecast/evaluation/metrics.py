"""Forecast accuracy metrics: pure functions of the backtest's long forecasts table.

The random walk (``naive``) is the benchmark of every relative measure and test: the
``rel_*`` columns divide by its errors on the same forecast points, ``dm_*`` is the
Diebold-Mariano test against it (squared errors, Harvey-Leybourne-Newbold correction,
the horizon passed through), ``pt_pvalue`` the Pesaran-Timmermann test of direction.

With intervals, ``coverage``, ``width`` and ``winkler`` score the chosen interval, and three
tests of its misses (an actual outside ``[lower, upper]``; probability ``1 - level`` each
under a correct interval) judge whether they come at the right rate and independently
(:mod:`forecast.evaluation.coverage`): ``kupiec_pvalue`` (Kupiec's unconditional coverage),
``ind_pvalue`` (Christoffersen's independence against a first-order Markov chain: small when
misses cluster) and ``cc_pvalue`` (Christoffersen's conditional coverage, both at once). For
``h > 1`` consecutive targets overlap, so misses cluster even for a correct interval: the
tests use every ``h``-th origin (from the first with an interval), whose targets do not.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from statsmodels.stats.diagnostic import pesaran_timmermann
from statsmodels.tsa.stattools import diebold_mariano_test

from forecast.evaluation.conformal import interval_scores
from forecast.evaluation.coverage import coverage_test_h

#: the benchmark model's name in every table: the random walk (the one constant of the project;
#: :mod:`~forecast.evaluation.bootstrap` and :mod:`~forecast.evaluation.verdicts` import it)
BENCHMARK = "naive"

#: the verdict statistics (:func:`forecast.evaluation.verdicts.evaluate_forecasts`) the engine
#: merges into metrics.csv; NaN where not computed (:func:`compute_metrics` leaves them NaN),
#: absent from runs made before them
VERDICT_METRIC_COLUMNS = ["r2_os", "cw_stat", "cw_pvalue", "mcs_pvalue", "in_mcs"]

METRIC_COLUMNS = [
    "series",
    "model",
    "horizon",
    "n",
    "mae",
    "rmse",
    "mape",
    "mase",
    "rel_mae",
    "rel_rmse",
    "direction_acc",
    "dm_stat",
    "dm_pvalue",
    "pt_pvalue",
    "coverage",
    "width",
    "winkler",
    "kupiec_pvalue",
    "ind_pvalue",
    "cc_pvalue",
    *VERDICT_METRIC_COLUMNS,
]
#: filled only when the forecasts carry intervals (and absent from runs made before them)
INTERVAL_METRIC_COLUMNS = [
    "coverage",
    "width",
    "winkler",
    "kupiec_pvalue",
    "ind_pvalue",
    "cc_pvalue",
]
#: the coverage tests among them
COVERAGE_TEST_COLUMNS = ["kupiec_pvalue", "ind_pvalue", "cc_pvalue"]


def interval_tests(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float, horizon: int
) -> dict[str, float]:
    """Kupiec and Christoffersen p-values of one model's intervals at one horizon.

    The arrays are in origin order, one origin after the other; points without an interval
    are left out, and for ``horizon > 1`` every ``horizon``-th of the rest is tested (see the
    module docstring). NaN when no point has an interval.
    """
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    ok = np.isfinite(lower) & np.isfinite(upper)
    if not ok.any():
        return dict.fromkeys(COVERAGE_TEST_COLUMNS, float("nan"))
    a = np.asarray(actual, dtype=float)[ok]
    misses = ((a < lower[ok]) | (a > upper[ok])).astype(np.int64)
    test = coverage_test_h(misses, 1.0 - level, int(horizon))
    return {"kupiec_pvalue": test.p_uc, "ind_pvalue": test.p_ind, "cc_pvalue": test.p_cc}


def mase_scale(prices: np.ndarray) -> float:
    """The MASE denominator: mean absolute one-step price change of ``prices``."""
    prices = np.asarray(prices, dtype=float)
    if len(prices) < 2:
        return float("nan")
    return float(np.mean(np.abs(np.diff(prices))))


def diebold_mariano(
    actual: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray, horizon: int
) -> tuple[float, float]:
    """DM statistic and p-value of ``forecast`` against ``benchmark`` on squared errors.

    ``d_t = e_model^2 - e_benchmark^2``: a positive statistic means the model's squared
    errors are larger than the benchmark's. NaN when undefined (fewer than 3 points or no
    difference at all).
    """
    actual, forecast, benchmark = (
        np.asarray(a, dtype=float) for a in (actual, forecast, benchmark)
    )
    d = (actual - forecast) ** 2 - (actual - benchmark) ** 2
    if len(d) < 3 or np.all(d == d[0]):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = diebold_mariano_test(
            actual, forecast, benchmark, criterion="mse", harvey_adj=True, horizon=horizon
        )
    stat, pvalue = float(res.statistic), float(res.pvalue)
    if not (np.isfinite(stat) and np.isfinite(pvalue)):
        return float("nan"), float("nan")
    return stat, pvalue


def direction_scores(
    actual: np.ndarray, forecast: np.ndarray, origin_price: np.ndarray
) -> tuple[float, float]:
    """Direction hit rate and Pesaran-Timmermann p-value.

    The direction is the sign of the change from the price at the origin. Points with no
    actual change are left out. The hit rate is NaN when the model never predicts a change
    (the random walk); the p-value is NaN when the test is undefined (e.g. every forecast
    points the same way).
    """
    actual_move = np.asarray(actual, dtype=float) - origin_price
    forecast_move = np.asarray(forecast, dtype=float) - origin_price
    keep = actual_move != 0
    actual_move, forecast_move = actual_move[keep], forecast_move[keep]
    if len(actual_move) == 0 or np.all(forecast_move == 0):
        return float("nan"), float("nan")
    hit = float(np.mean(np.sign(forecast_move) == np.sign(actual_move)))
    try:
        pvalue = float(pesaran_timmermann(actual_move, forecast_move).pvalue)
    except ValueError:  # non-positive variance: the test is undefined here
        pvalue = float("nan")
    return hit, pvalue if np.isfinite(pvalue) else float("nan")


def compute_metrics(
    forecasts: pd.DataFrame,
    mase_scales: Mapping[str, float] | None = None,
    expected: pd.DataFrame | None = None,
    level: float | None = None,
) -> pd.DataFrame:
    """One row per (series, model, horizon) from the long forecasts table.

    Parameters
    ----------
    forecasts
        Columns ``series, model, origin, horizon, forecast, actual, origin_price``.
    mase_scales
        Per series, the mean absolute one-step price change over the training rows of the
        first origin (see :func:`mase_scale`); ``mase`` is NaN for a series without one.
    expected
        Optional ``series, model, horizon`` rows that must appear even with no forecasts
        (a model that failed on every fold gets a row with ``n = 0``).
    level
        The nominal coverage of the ``lower, upper`` columns; with it, ``coverage`` (share
        of actuals inside), ``width`` (mean of ``(upper - lower) / forecast``) and
        ``winkler`` (mean interval score) are filled, over the points that have an interval.

    Returns
    -------
    pd.DataFrame
        Columns :data:`METRIC_COLUMNS`.
    """
    mase_scales = mase_scales or {}
    rows = []
    keys = ["series", "model", "horizon"]
    groups = dict(list(forecasts.groupby(keys, sort=False))) if len(forecasts) else {}
    wanted = list(groups)
    if expected is not None:
        wanted += [k for k in expected[keys].itertuples(index=False, name=None) if k not in groups]
    for series, model, horizon in wanted:
        g = groups.get((series, model, horizon))
        if g is None:
            rows.append({"series": series, "model": model, "horizon": horizon, "n": 0})
            continue
        bench = groups.get((series, BENCHMARK, horizon))
        row = _metrics_row(g, bench, mase_scales.get(series, np.nan), int(horizon))
        if level is not None and "lower" in g:
            g = g.sort_values("origin", kind="stable")
            actual, lower, upper = (g[c].to_numpy(float) for c in ("actual", "lower", "upper"))
            row.update(interval_scores(actual, lower, upper, g["forecast"].to_numpy(float), level))
            row.update(interval_tests(actual, lower, upper, level, int(horizon)))
        rows.append(row)
    out = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    out["n"] = out["n"].astype(int)
    out["in_mcs"] = out["in_mcs"].astype("boolean")
    return out


def _metrics_row(g: pd.DataFrame, bench: pd.DataFrame | None, scale: float, h: int) -> dict:
    err = (g["forecast"] - g["actual"]).to_numpy(float)
    actual = g["actual"].to_numpy(float)
    abs_err = np.abs(err)
    mae = float(abs_err.mean())
    row = {
        "series": g["series"].iat[0],
        "model": g["model"].iat[0],
        "horizon": h,
        "n": len(g),
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(100 * np.mean(abs_err / np.abs(actual))),
        "mase": mae / scale if scale and np.isfinite(scale) and scale > 0 else np.nan,
    }
    hit, pt = direction_scores(
        actual, g["forecast"].to_numpy(float), g["origin_price"].to_numpy(float)
    )
    row.update(direction_acc=hit, pt_pvalue=pt)
    if bench is None:
        return row
    both = g.merge(bench[["origin", "forecast"]], on="origin", suffixes=("", "_bench"))
    if len(both) == 0:
        return row
    e_m = (both["forecast"] - both["actual"]).to_numpy(float)
    e_b = (both["forecast_bench"] - both["actual"]).to_numpy(float)
    mae_b, mse_b = np.mean(np.abs(e_b)), np.mean(e_b**2)
    row["rel_mae"] = float(np.mean(np.abs(e_m)) / mae_b) if mae_b > 0 else np.nan
    row["rel_rmse"] = float(np.sqrt(np.mean(e_m**2) / mse_b)) if mse_b > 0 else np.nan
    if row["model"] != BENCHMARK:
        row["dm_stat"], row["dm_pvalue"] = diebold_mariano(
            both["actual"], both["forecast"], both["forecast_bench"], h
        )
    return row
