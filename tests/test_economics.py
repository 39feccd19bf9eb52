"""Trading rules, P&L after costs, the deflated Sharpe ratio and the PBO: known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.errors import ConfigError, DataError
from forecast.evaluation.economics import (
    ECONOMIC_COLUMNS,
    EQUITY_COLUMNS,
    RULE_LABELS,
    SUMMARY_COLUMNS,
    EconomicSettings,
    economic_table,
    economic_verdict,
    equity_curves,
    evaluate_economics,
    pbo_matrix,
)
from forecast.evaluation.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    pbo,
    probabilistic_sharpe,
    sharpe_moments,
)
from forecast.evaluation.trading import (
    RETURN_COLUMNS,
    book_positions,
    build_panels,
    sigma_from_interval,
    trading_returns,
)

PRICES = np.array([100.0, 102.0, 101.0, 103.0, 104.0, 102.0])
DATES = pd.bdate_range("2020-01-06", periods=6)


def table(prices, forecast_returns, horizon, model="m", series="S", dates=None, sigma=None):
    """A forecasts table of one series and model: origins 0..n-1-h, forecasts exp(f) away."""
    prices = np.asarray(prices, dtype=float)
    dates = DATES if dates is None else dates
    origins = np.arange(len(prices) - horizon)
    f = np.asarray(forecast_returns, dtype=float)[: len(origins)]
    out = pd.DataFrame(
        {
            "series": series,
            "model": model,
            "origin": dates[origins],
            "horizon": horizon,
            "target_date": dates[origins + horizon],
            "forecast": prices[origins] * np.exp(f),
            "actual": prices[origins + horizon],
            "origin_price": prices[origins],
        }
    )
    if sigma is not None:
        out["sigma"] = np.asarray(sigma, dtype=float)[: len(origins)]
    return out


# ---- the deflated Sharpe ratio ----------------------------------------------------------


def test_deflated_sharpe_paper_example():
    """Bailey and López de Prado (2014), "The Deflated Sharpe Ratio", JPM 40(5), section "A
    numerical example": N = 100 trials, V[SR_n] = 1/2 annualised, best SR = 2.5 annualised,
    T = 1250 daily returns (five years of 250 days), skewness -3, kurtosis 10. The paper
    de-annualises with 250 days and reports SR0 = 0.1132 and DSR = 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe(2.5 / np.sqrt(250), 1250, 100, 0.5 / 250, skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_and_dsr_edges():
    # normal returns, no selection: PSR is the one-sided t-like probability
    sr, t = 0.1, 101
    assert probabilistic_sharpe(sr, t) == pytest.approx(stats.norm.cdf(sr * 10 / np.sqrt(1.005)))
    assert deflated_sharpe(sr, t, 1, 0.0) == probabilistic_sharpe(sr, t)  # one trial: SR0 = 0
    assert expected_max_sharpe(1, 0.3) == 0.0
    # more trials, a higher bar
    assert deflated_sharpe(sr, t, 50, 0.01) < deflated_sharpe(sr, t, 5, 0.01)
    arr = probabilistic_sharpe(np.array([0.1, np.nan]), np.array([101, 101]))
    assert arr[0] == pytest.approx(probabilistic_sharpe(0.1, 101)) and np.isnan(arr[1])
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1; got 0"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="n_obs must be an integer >= 2; got 1"):
        probabilistic_sharpe(0.1, 1)


def test_sharpe_moments_match_scipy():
    x = np.random.default_rng(3).standard_t(5, size=(400, 2))
    sr, sk, ku = sharpe_moments(x)
    np.testing.assert_allclose(sr, x.mean(0) / x.std(0, ddof=1))
    np.testing.assert_allclose(sk, stats.skew(x))
    np.testing.assert_allclose(ku, stats.kurtosis(x, fisher=False))
    assert all(np.isnan(v) for v in sharpe_moments(np.zeros(10)))


# ---- the probability of backtest overfitting --------------------------------------------


def test_pbo_by_hand_two_blocks():
    """S = 2: each half is in-sample once. A wins the first half, B the second: the in-sample
    best is always last out of sample, rank 1 of 2, w = 1/3, lambda = ln(1/2)."""
    a = [0.02, 0.01, -0.01, -0.02]
    b = [-0.01, -0.02, 0.02, 0.01]
    res = pbo(np.column_stack([a, b]), n_blocks=2)
    assert res.pbo == 1.0 and res.n_combinations == 2
    np.testing.assert_allclose(res.logits, np.log(0.5))
    # A better than B in both halves: rank 2 of 2, w = 2/3, lambda = ln 2
    c = [0.01, 0.03, 0.03, 0.04]
    res = pbo(np.column_stack([c, b]), n_blocks=2)
    assert res.pbo == 0.0
    np.testing.assert_allclose(res.logits, np.log(2.0))


def test_pbo_noise_near_half_and_planted_signal_low():
    noise, signal = [], []
    for seed in range(8):
        m = np.random.default_rng(seed).normal(0.0, 0.01, size=(480, 40))
        noise.append(pbo(m).pbo)
        m[:, 7] += 0.003  # one real signal: a daily Sharpe ratio of 0.3
        signal.append(pbo(m).pbo)
    assert abs(np.mean(noise) - 0.5) < 0.1, noise
    assert max(signal) < 0.1, signal
    res = pbo(m)
    assert res.n_combinations == 12870 and res.n_obs == 480 and res.n_strategies == 40


def test_pbo_matches_a_plain_loop_over_the_combinations():
    """The CSCV steps written out with np.std and scipy's rankdata, on S = 6 (20 splits)."""
    m = np.random.default_rng(5).normal(0.0005, 0.01, size=(60, 7))
    m[:, 3] = m[:, 2]  # an exact tie
    blocks = np.split(m, 6)
    logits = []
    for chosen in itertools.combinations(range(6), 3):
        train = np.vstack([blocks[b] for b in chosen])
        test = np.vstack([blocks[b] for b in range(6) if b not in chosen])
        best = np.argmax(train.mean(0) / train.std(0, ddof=1))
        w = stats.rankdata(test.mean(0) / test.std(0, ddof=1))[best] / (7 + 1)
        logits.append(np.log(w / (1 - w)))
    res = pbo(m, n_blocks=6)
    np.testing.assert_allclose(res.logits, logits)
    assert res.pbo == np.mean(np.array(logits) <= 0)


def test_pbo_drops_oldest_rows_and_checks_input():
    m = np.random.default_rng(0).normal(size=(35, 3))
    res = pbo(m, n_blocks=16)
    assert res.n_obs == 32
    np.testing.assert_array_equal(res.logits, pbo(m[3:], n_blocks=16).logits)
    with pytest.raises(ValueError, match="n_blocks must be an even integer >= 2; got 3"):
        pbo(m, n_blocks=3)
    with pytest.raises(ValueError, match="at least 2 configurations; got 1"):
        pbo(m[:, :1])
    with pytest.raises(ValueError, match=r"at least max\(n_blocks, 4\) = 16 rows.*got 10"):
        pbo(m[:10])


# ---- positions and P&L by hand ----------------------------------------------------------


def test_long_short_and_long_flat_by_hand_h1():
    f = [0.01, -0.02, 0.0015, 0.03, 0.01]
    fc = table(PRICES, f, horizon=1)
    r = PRICES[1:] / PRICES[:-1] - 1  # the day returns d0->d1 .. d4->d5
    ls = trading_returns(fc, "long_short", 10.0)
    assert list(ls.columns) == RETURN_COLUMNS
    np.testing.assert_array_equal(ls["position"], [1, -1, 1, 1, 1])
    np.testing.assert_array_equal(ls["turnover"], [1, 2, 2, 0, 0])  # from cash on day one
    expected = [r[0] - 0.001, -r[1] - 0.002, r[2] - 0.002, r[3], r[4]]
    np.testing.assert_allclose(ls["net_return"], expected)
    assert list(ls["start"]) == list(DATES[:5]) and list(ls["end"]) == list(DATES[1:])
    # long/flat is long only when the forecast beats the round trip, 2 x 10 bp = 0.002
    lf = trading_returns(fc, "long_flat", 10.0)
    np.testing.assert_array_equal(lf["position"], [1, 0, 0, 1, 1])
    np.testing.assert_allclose(lf["net_return"], [r[0] - 1e-3, -1e-3, 0, r[3] - 1e-3, r[4]])
    # at 5 bp the 0.0015 forecast clears the 0.001 round trip
    at5 = trading_returns(fc, "long_flat", 5.0)
    np.testing.assert_array_equal(at5["position"], [1, 0, 1, 1, 1])
    bh = trading_returns(fc, "buy_and_hold", 10.0)
    np.testing.assert_allclose(bh["net_return"], r - np.array([1e-3, 0, 0, 0, 0]))
    assert set(bh["model"]) == {"buy_and_hold"}


def test_missing_forecast_means_cash():
    """A failed fold leaves no forecast at an origin: that book holds no position."""
    fc = table(PRICES, [0.01, -0.02, 0.0015, 0.03, 0.01], horizon=1).drop(index=2)
    out = trading_returns(fc, "long_short", 0.0)
    np.testing.assert_array_equal(out["position"], [1, -1, 0, 1, 1])
    assert len(out) == 5  # the day grid still has d2 and d3 (as a target and an origin)


def test_staggered_books_by_hand_h2():
    """h = 2, long/flat at cost 0 from origins d0..d3: w = 1, 1, 0, 1. Book A trades at d0
    and d2 (1 then 0), book B at d1 and d3 (1 then 1). Every book is live from d1: the held
    position is the average of the last two decisions, 1, 0.5, 0.5 on d1->d2, d2->d3,
    d3->d4; turnover is book A's half-unit exit on d2."""
    fc = table(PRICES, [0.01, 0.01, -0.02, 0.02], horizon=2)
    out = trading_returns(fc, "long_flat", 10.0)
    r = PRICES[1:] / PRICES[:-1] - 1
    assert list(out["start"]) == list(DATES[1:4]) and list(out["end"]) == list(DATES[2:5])
    np.testing.assert_allclose(out["position"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(out["turnover"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(out["net_return"], [r[1] - 1e-3, 0.5 * r[2] - 5e-4, 0.5 * r[3]])


def test_vol_target_positions_and_skipped_without_sigma():
    sigma = [0.02, 0.01, 0.001, np.nan, 0.02]
    fc = table(PRICES, [0.01, -0.02, 0.0015, 0.03, 0.01], horizon=1, sigma=sigma)
    out = trading_returns(fc, "vol_target", 0.0, target_vol=0.10, max_leverage=2.0)
    ann = np.sqrt(252)
    expected = [0.1 / (0.02 * ann), -0.1 / (0.01 * ann), 2.0, 0.0, 0.1 / (0.02 * ann)]
    np.testing.assert_allclose(out["position"], expected)  # capped at 2; no sigma: flat
    plain = evaluate_economics(table(PRICES * 1.0, np.zeros(5) + 0.01, horizon=1))
    assert "vol_target" not in set(plain.table["rule"])
    with pytest.raises(ConfigError, match="rule 'vol_target' needs a volatility forecast"):
        trading_returns(table(PRICES, [0.01] * 5, horizon=1), "vol_target", 0.0)


def test_sigma_from_interval_inverts_a_normal_interval():
    fc = table(PRICES, [0.01] * 5, horizon=1)
    z = stats.norm.ppf(0.9)
    s = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    fc["lower"] = fc["forecast"] * np.exp(-z * s)
    fc["upper"] = fc["forecast"] * np.exp(z * s)
    fc.loc[2, "lower"] = np.nan
    got = sigma_from_interval(fc, level=0.8)
    np.testing.assert_allclose(got.drop(index=2), np.delete(s, 2))
    assert np.isnan(got[2])


def test_metrics_by_hand():
    fc = table(PRICES, [0.01, -0.02, 0.0015, 0.03, 0.01], horizon=1)
    settings = EconomicSettings(costs_bps=(10.0,), rules=("long_flat", "long_short"))
    t = economic_table(fc, settings).set_index("rule")
    r = PRICES[1:] / PRICES[:-1] - 1
    net = np.array([r[0] - 1e-3, -1e-3, 0, r[3] - 1e-3, r[4]])  # long/flat, as above
    row = t.loc["long_flat"]
    assert row["n_days"] == 5
    assert row["ann_return"] == pytest.approx(252 * net.mean())
    assert row["ann_vol"] == pytest.approx(np.sqrt(252) * net.std(ddof=1))
    assert row["sharpe"] == pytest.approx(np.sqrt(252) * net.mean() / net.std(ddof=1))
    assert row["turnover"] == pytest.approx(252 * 3 / 5)  # 1 + 1 + 0 + 1 + 0 units
    equity = np.cumprod(1 + net)
    assert row["max_drawdown"] == pytest.approx(np.max(1 - equity / np.maximum.accumulate(equity)))
    assert row["hit_rate"] == pytest.approx(2 / 3)  # long at d0, d3 (up), d4 (down)
    assert row["exposure"] == pytest.approx(3 / 5)
    bh = r - np.array([1e-3, 0, 0, 0, 0])
    assert row["bh_sharpe"] == pytest.approx(np.sqrt(252) * bh.mean() / bh.std(ddof=1))
    assert row["excess_return"] == pytest.approx(252 * (net.mean() - bh.mean()))
    assert t.loc["long_short", "hit_rate"] == pytest.approx(4 / 5)
    # two trials at this cost: SR0 from the variance of their two daily Sharpe ratios
    srs = t["sharpe"].to_numpy() / np.sqrt(252)
    sr0 = expected_max_sharpe(2, np.var(srs, ddof=1))
    sr, sk, ku = sharpe_moments(net)
    assert row["n_trials"] == 2
    assert row["dsr"] == pytest.approx(deflated_sharpe(sr, 5, 2, np.var(srs, ddof=1), sk, ku))
    assert row["psr"] == pytest.approx(probabilistic_sharpe(sr, 5, sk, ku))
    assert row["dsr"] == pytest.approx(probabilistic_sharpe(sr, 5, sk, ku, benchmark=sr0))


# ---- no look-ahead ----------------------------------------------------------------------


def test_leakage_canary_future_prices_do_not_move_past_positions():
    """Rewrite every price after a cutoff (and the forecasts made after it): the positions
    decided up to the cutoff and the returns earned by then are unchanged, for every rule and
    horizon, although the `actual` of earlier rows (prices after the cutoff) changed."""
    rng = np.random.default_rng(1)
    n, cut = 80, 50
    dates = pd.bdate_range("2021-01-04", periods=n)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    f, s = rng.normal(0, 0.01, n), rng.uniform(0.005, 0.02, n)
    later = prices.copy()
    later[cut + 1 :] *= np.exp(rng.normal(0, 0.05, n - cut - 1))
    f2, s2 = f.copy(), s.copy()
    f2[cut + 1 :], s2[cut + 1 :] = rng.normal(0, 0.01, n - cut - 1), 0.03

    def run(p, fr, sg):
        return pd.concat([table(p, fr, h, dates=dates, sigma=sg) for h in (1, 3)])

    before, after = run(prices, f, s), run(later, f2, s2)
    assert not np.allclose(before["actual"], after["actual"])  # the canary has something to see
    for rule in ("long_flat", "long_short", "vol_target", "buy_and_hold"):
        a, b = (trading_returns(t, rule, 5.0) for t in (before, after))
        decided = a["start"] <= dates[cut]
        pd.testing.assert_series_equal(a.loc[decided, "position"], b.loc[decided, "position"])
        earned = a["end"] <= dates[cut]
        pd.testing.assert_series_equal(a.loc[earned, "net_return"], b.loc[earned, "net_return"])
        if rule == "buy_and_hold":
            continue
        for pa, pb in zip(build_panels(before), build_panels(after), strict=True):
            wa, wb = (book_positions(rule, p, 5.0) for p in (pa, pb))
            np.testing.assert_array_equal(wa[: cut + 1], wb[: cut + 1])


# ---- the whole evaluation ---------------------------------------------------------------


def run_table(seed=0, n=300, oracle=False):
    """Two series, four models, horizons 1 and 5; 'oracle' forecasts the true future."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, series in enumerate(["A", "B"]):
        dates = pd.bdate_range("2015-01-05", periods=n) + pd.Timedelta(days=3 * k)
        prices = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
        for h in (1, 5):
            truth = np.log(prices[h:] / prices[:-h])
            for model in ("naive", "noise1", "noise2", "oracle" if oracle else "noise3"):
                fr = {"naive": np.zeros(n - h), "oracle": truth}.get(
                    model, rng.normal(0, 0.01, n - h)
                )
                frames.append(table(prices, fr, h, model, series, dates, np.full(n, 0.01)))
    return pd.concat(frames, ignore_index=True)


def test_evaluate_economics_noise_grid():
    res = evaluate_economics(run_table())
    t, s = res.table, res.summary
    assert list(t.columns) == ECONOMIC_COLUMNS and list(s.columns) == SUMMARY_COLUMNS
    assert len(t) == 2 * 4 * 2 * 3 * 3  # series x models x horizons x rules x costs
    # the random walk never holds a position: no Sharpe ratio, not a trial
    assert t.loc[t["model"] == "naive", "sharpe"].isna().all()
    # the DSR's N: every configuration that holds a position, at every cost level of the run
    assert (t["n_trials"] == 2 * 3 * 2 * 3 * 3).all() and (s["n_trials"] == 108).all()
    assert (s["n_configs"] == 36).all()
    assert list(s["cost_bps"]) == [0.0, 5.0, 10.0]
    srs = t["sharpe"].dropna().to_numpy() / np.sqrt(252)
    assert s["expected_max_sharpe"].iloc[0] == pytest.approx(
        np.sqrt(252) * expected_max_sharpe(108, np.var(srs, ddof=1))
    )
    assert (s["pbo_configs"] == 36).all() and (s["pbo_combinations"] == 12870).all()
    # h=1 holds on days 0..298 of the grid, h=5 on 4..294 (all five books live): 291 shared
    # days, of which CSCV keeps the last 16 x 18 = 288
    assert (s["pbo_days"] == 288).all()
    best = s.iloc[1]
    assert best["best_sharpe"] == t[t["cost_bps"] == 5.0]["sharpe"].max()
    assert best["best_dsr"] < 0.95
    text = economic_verdict(s)
    assert "no evidence" in text and "deflated Sharpe ratio" in text
    assert f"is {best['best_model']} {RULE_LABELS[best['best_rule']]} on" in text
    m = pbo_matrix(res.returns, 5.0)
    assert m.shape == (291, 36) and m.columns.names == ["series", "model", "horizon", "rule"]


def test_trials_per_cost_level_deflate_by_that_level_only():
    forecasts = run_table()
    run = evaluate_economics(forecasts)
    per_cost = evaluate_economics(forecasts, EconomicSettings(trials="cost"))
    t, s = per_cost.table, per_cost.summary
    assert (t["n_trials"] == 36).all() and (s["n_trials"] == 36).all()
    for cost, part in t.groupby("cost_bps"):
        srs = part["sharpe"].dropna().to_numpy() / np.sqrt(252)
        sr0 = np.sqrt(252) * expected_max_sharpe(36, np.var(srs, ddof=1))
        assert s.set_index("cost_bps").loc[cost, "expected_max_sharpe"] == pytest.approx(sr0)
    # three times the trials, a higher bar here
    ok = run.table["dsr"].notna()
    assert ok.any() and (run.table.loc[ok, "dsr"] <= per_cost.table.loc[ok, "dsr"]).all()
    pd.testing.assert_series_equal(run.summary["pbo"], s["pbo"])  # the PBO is per cost
    with pytest.raises(ConfigError, match="trials must be one of run, cost; got 'all'"):
        EconomicSettings(trials="all")


def test_evaluate_economics_planted_oracle():
    res = evaluate_economics(run_table(oracle=True))
    s = res.summary.set_index("cost_bps")
    assert (s["best_model"] == "oracle").all()
    assert (s["best_dsr"] > 0.95).all() and (s["pbo"] < 0.1).all()
    assert "Verdict: evidence" in economic_verdict(res.summary)


def test_equity_curves_are_cumulative_log_returns():
    res = evaluate_economics(run_table(), EconomicSettings(costs_bps=(5.0,)))
    eq = equity_curves(res.returns)
    assert list(eq.columns) == EQUITY_COLUMNS
    key = (eq["series"] == "A") & (eq["model"] == "noise1") & (eq["horizon"] == 5)
    one = eq[key & (eq["rule"] == "long_short")]
    r = res.returns
    net = r[(r["series"] == "A") & (r["model"] == "noise1") & (r["horizon"] == 5)
            & (r["rule"] == "long_short")]["net_return"]  # fmt: skip
    np.testing.assert_allclose(one["equity"], np.cumsum(np.log1p(net.to_numpy())))
    assert ((eq["model"] == "buy_and_hold") & (eq["rule"] == "buy_and_hold")).any()


def test_bad_input_is_named():
    fc = table(PRICES, [0.01] * 5, horizon=1)
    with pytest.raises(DataError, match=r"missing columns \['origin_price'\]"):
        economic_table(fc.drop(columns="origin_price"))
    with pytest.raises(DataError, match="one row per series, model, origin and horizon"):
        economic_table(pd.concat([fc, fc.iloc[:1]]))
    bad = fc.copy()
    bad.loc[0, "actual"] = 999.0  # d1's price as a target disagrees with it as an origin
    with pytest.raises(DataError, match=r"prices of S disagree on 2020-01-07: 102\.0 and 999\.0"):
        economic_table(bad)
    with pytest.raises(ConfigError, match="n_blocks must be an even integer >= 2; got 15"):
        EconomicSettings(n_blocks=15)
    with pytest.raises(ConfigError, match="rules must be some of"):
        EconomicSettings(rules=("momentum",))
    with pytest.raises(ConfigError, match="cost_bps must be finite numbers >= 0; got -1"):
        EconomicSettings(costs_bps=(-1,))
