"""QLIKE and MSE of variance forecasts, the DM test against the naive model, VaR backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.evaluation.volatility import (
    SCORE_COLUMNS,
    VAR_TEST_COLUMNS,
    loss_test,
    qlike,
    squared_error,
    var_backtests,
    volatility_scores,
)


def test_qlike_is_zero_at_the_proxy_and_positive_elsewhere():
    rv = np.array([1e-4, 4e-4, 2.5e-5])
    np.testing.assert_allclose(qlike(rv, rv), 0.0, atol=1e-15)
    assert np.all(qlike(rv, rv * 1.1) > 0) and np.all(qlike(rv, rv * 0.9) > 0)
    # by hand: rv = 2, f = 1 -> 2 - ln 2 - 1
    assert qlike(np.array([2.0]), np.array([1.0]))[0] == pytest.approx(1 - np.log(2))
    assert np.isnan(qlike(np.array([0.0]), np.array([1.0]))[0])  # undefined at rv = 0
    with pytest.raises(ValueError, match="variance forecasts must be > 0"):
        qlike(rv, np.array([1e-4, 0.0, 1e-4]))


def test_expected_qlike_and_mse_are_smallest_at_the_true_variance():
    """With a noisy, unbiased proxy (rv = sigma^2 z^2), the mean loss over the proxy's
    draws is smallest for the forecast f = sigma^2 (Patton 2011)."""
    rng = np.random.default_rng(0)
    sigma2 = 2e-4
    rv = sigma2 * rng.standard_normal(400_000) ** 2
    grid = sigma2 * np.linspace(0.8, 1.2, 41)
    mean_qlike = [np.mean(qlike(rv, np.full_like(rv, f))) for f in grid]
    mean_mse = [np.mean(squared_error(rv, np.full_like(rv, f))) for f in grid]
    # the exact minimiser of each sample mean is the sample mean of rv; it is sigma2 +- 0.5%
    assert abs(grid[int(np.argmin(mean_qlike))] / sigma2 - 1) <= 0.01
    assert abs(grid[int(np.argmin(mean_mse))] / sigma2 - 1) <= 0.01
    assert abs(rv.mean() / sigma2 - 1) < 0.005


def _table(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """A GARCH-like variance path, its noisy proxy and three forecasts of it."""
    rng = np.random.default_rng(seed)
    log_var = np.empty(n)
    log_var[0] = np.log(1e-4)
    for t in range(1, n):
        log_var[t] = np.log(1e-4) + 0.97 * (log_var[t - 1] - np.log(1e-4)) + rng.normal(0, 0.2)
    true = np.exp(log_var)
    rv = true * rng.standard_normal(n) ** 2
    returns = np.sqrt(true) * rng.standard_normal(n)
    naive = pd.Series(rv).rolling(20, min_periods=1).mean().shift(1).bfill().to_numpy()
    origins = pd.bdate_range("2020-01-01", periods=n)
    frames = []
    for model, f in (
        ("naive", naive),
        ("oracle", true),
        ("double", 2 * true),
        ("tenth", true / 10),
    ):
        frames.append(
            pd.DataFrame(
                {"series": "SIM", "model": model, "origin": origins, "horizon": 1,
                 "variance_forecast": f, "realized": rv, "proxy": "squared_returns",
                 "return": returns, "var_1": 2.3263479 * np.sqrt(f),
                 "var_5": 1.6448536 * np.sqrt(f)}
            )
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_volatility_scores_rank_the_true_variance_first():
    table = volatility_scores(_table())
    assert list(table.columns) == SCORE_COLUMNS
    scores = table.set_index("model")
    naive, oracle, tenth = (scores.loc[m] for m in ("naive", "oracle", "tenth"))
    assert naive["rel_qlike"] == 1.0 and np.isnan(naive["dm_qlike_pvalue"])
    assert oracle["rel_qlike"] < 1 and oracle["dm_qlike_stat"] < 0
    assert oracle["qlike"] < scores.loc["double", "qlike"]
    # a tenth of the variance: QLIKE punishes under-forecasts hard, the DM test sees it
    assert tenth["rel_qlike"] > 2 and tenth["dm_qlike_stat"] > 0 and tenth["dm_qlike_pvalue"] < 0.01
    assert scores.loc["oracle", "proxy"] == "squared_returns" and scores.loc["oracle", "n"] == 300


def test_loss_test_matches_the_mean_loss_differential_sign():
    t = _table()
    rv = t.loc[t.model == "naive", "realized"].to_numpy()
    f = t.loc[t.model == "oracle", "variance_forecast"].to_numpy()
    b = t.loc[t.model == "naive", "variance_forecast"].to_numpy()
    stat, p = loss_test(rv, f, b, 1, "qlike")
    assert np.sign(stat) == np.sign(np.mean(qlike(rv, f) - qlike(rv, b))) and 0 <= p <= 1
    assert all(np.isnan(loss_test(rv, b, b, 1, "mse")))  # identical forecasts: undefined
    with pytest.raises(ValueError, match="loss must be 'qlike' or 'mse'; got 'mae'"):
        loss_test(rv, f, b, 1, "mae")


def test_var_backtests_count_exceptions_and_thin_long_horizons():
    t = _table()
    tests = var_backtests(t)
    assert list(tests.columns) == VAR_TEST_COLUMNS
    oracle = tests[(tests.model == "oracle") & (tests.alpha == 0.05)].iloc[0]
    o = t[t.model == "oracle"]
    assert oracle["hits"] == int(np.sum(o["return"] < -o["var_5"])) and oracle["n"] == 300
    assert set(tests.dist) == {"normal"}  # no _t columns in this table
    five = t.assign(horizon=5)
    thinned = var_backtests(five)
    assert set(thinned["n"]) == {60}  # every 5th of 300 origins
