"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.evaluation.metrics import (
    METRIC_COLUMNS,
    compute_metrics,
    diebold_mariano,
    direction_scores,
    mase_scale,
)


def table():
    """Two models on 4 origins at horizon 1; prices chosen so every number is easy."""
    origin_price = np.array([100.0, 102.0, 101.0, 103.0])
    actual = np.array([102.0, 101.0, 103.0, 103.0])  # moves: +2, -1, +2, 0
    rows = []
    for model, fc in {
        "naive": origin_price,
        "good": np.array([101.0, 101.5, 102.0, 104.0]),  # moves: +1, -0.5, +1, +1
    }.items():
        for i in range(4):
            rows.append(
                {
                    "series": "S",
                    "model": model,
                    "origin": pd.Timestamp("2020-01-01") + pd.Timedelta(days=i),
                    "horizon": 1,
                    "forecast": fc[i],
                    "actual": actual[i],
                    "origin_price": origin_price[i],
                }
            )
    return pd.DataFrame(rows)


def test_metrics_by_hand():
    m = compute_metrics(table(), {"S": 2.0})
    assert list(m.columns) == METRIC_COLUMNS
    m = m.set_index("model")
    # naive errors: -2, +1, -2, 0 ; good errors: -1, +0.5, -1, +1
    assert m.loc["naive", "mae"] == pytest.approx(5 / 4)
    assert m.loc["good", "mae"] == pytest.approx(3.5 / 4)
    assert m.loc["good", "rmse"] == pytest.approx(np.sqrt((1 + 0.25 + 1 + 1) / 4))
    mape = 100 * np.mean([1 / 102, 0.5 / 101, 1 / 103, 1 / 103])
    assert m.loc["good", "mape"] == pytest.approx(mape)
    assert m.loc["good", "mase"] == pytest.approx(3.5 / 4 / 2.0)
    assert m.loc["good", "rel_mae"] == pytest.approx(3.5 / 5)
    assert m.loc["good", "rel_rmse"] == pytest.approx(np.sqrt(3.25 / 9))
    assert m.loc["naive", "rel_mae"] == 1.0
    # direction: the last point has no actual move and is left out; 3 of 3 right
    assert m.loc["good", "direction_acc"] == 1.0
    assert np.isnan(m.loc["naive", "direction_acc"])
    assert np.isnan(m.loc["naive", "dm_stat"])
    assert (m["n"] == 4).all()


def test_rel_metrics_use_common_points_only():
    t = table()
    t = t[~((t.model == "good") & (t.origin == t.origin.min()))]  # good misses one origin
    m = compute_metrics(t).set_index("model")
    assert m.loc["good", "n"] == 3
    assert m.loc["good", "rel_mae"] == pytest.approx((0.5 + 1 + 1) / (1 + 2 + 0))


def test_diebold_mariano_matches_the_formula():
    rng = np.random.default_rng(3)
    actual = rng.normal(size=60)
    f_model = actual + rng.normal(0, 1.0, 60)
    f_bench = actual + rng.normal(0, 1.3, 60)
    h = 2
    stat, p = diebold_mariano(actual, f_model, f_bench, horizon=h)
    d = (actual - f_model) ** 2 - (actual - f_bench) ** 2
    t = len(d)
    lags = int(max(h - 1, np.ceil(t ** (1 / 3))))
    dc = d - d.mean()
    lrv = np.sum(dc**2) / t
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        lrv += 2 * w * np.sum(dc[lag:] * dc[:-lag]) / t
    dm = d.mean() / np.sqrt(lrv / t)
    dm *= np.sqrt((t + 1 - 2 * h + h * (h - 1) / t) / t)
    assert stat == pytest.approx(dm, rel=1e-8)
    assert p == pytest.approx(2 * stats.t.cdf(-abs(dm), df=t - 1), rel=1e-8)
    assert stat < 0  # the model is the more accurate one here


def test_diebold_mariano_undefined_when_identical():
    a = np.arange(10.0)
    stat, p = diebold_mariano(a, a + 1, a + 1, horizon=1)
    assert np.isnan(stat) and np.isnan(p)


def test_pesaran_timmermann_by_hand():
    actual = np.array([1, -1, 1, 1, -1, 1, -1, -1, 1, 1.0])
    forecast = np.array([1, -1, 1, -1, -1, 1, 1, -1, 1, 1.0])
    hit, p = direction_scores(actual, forecast, np.zeros(10))
    assert hit == 0.8
    py, pz = 0.6, 0.6
    pstar = py * pz + (1 - py) * (1 - pz)
    v = pstar * (1 - pstar) / 10
    w = ((2 * py - 1) ** 2 * pz * (1 - pz) + (2 * pz - 1) ** 2 * py * (1 - py)) / 10
    s = (0.8 - pstar) / np.sqrt(v - w)
    assert p == pytest.approx(2 * stats.norm.sf(abs(s)))


def test_pesaran_timmermann_undefined_when_forecasts_never_change_side():
    hit, p = direction_scores(np.array([1.0, -1, 1]), np.array([1.0, 1, 1]), np.zeros(3))
    assert hit == pytest.approx(2 / 3)
    assert np.isnan(p)


def test_mase_scale():
    assert mase_scale(np.array([1.0, 3.0, 2.0])) == 1.5


def test_expected_rows_for_models_without_forecasts():
    expected = pd.DataFrame({"series": ["S"], "model": ["broken"], "horizon": [1]})
    m = compute_metrics(table(), expected=expected)
    row = m[m.model == "broken"].iloc[0]
    assert row.n == 0 and np.isnan(row.mae)
