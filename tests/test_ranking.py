"""Cross-sectional scores on hand-made cases: rank IC, Newey-West t, the long-short book,
the pair comparisons, and the ranking baselines (reversal, momentum) on planted markets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import price_series

from forecast.evaluation.comparisons import compare_pairs, default_pairs
from forecast.evaluation.nested import clark_west
from forecast.evaluation.ranking import (
    daily_rank_ic,
    ic_summary,
    long_short_weights,
    newey_west_lags,
    newey_west_t,
    portfolio_returns,
    portfolio_summary,
    spearman,
)
from forecast.models import get_model
from forecast.walkforward.cross_section import RankingSettings, cross_section_backtest


def table(signals: dict, outcomes: dict, origins, base=100.0) -> pd.DataFrame:
    """A forecasts table at h = 1: per model and origin, each stock's forecast and outcome
    log returns (``signals[model][t][i]``, ``outcomes[t][i]``)."""
    rows = []
    for model, by_day in signals.items():
        for t, origin in enumerate(origins):
            for i, (f, o) in enumerate(zip(by_day[t], outcomes[t], strict=True)):
                rows.append({"series": f"S{i}", "model": model, "origin": origin, "horizon": 1,
                             "target_date": origin + pd.Timedelta(days=1),
                             "forecast": base * np.exp(f), "actual": base * np.exp(o),
                             "origin_price": base})  # fmt: skip
    return pd.DataFrame(rows)


def test_spearman_known_answer_ties_and_no_ranking():
    # ranks (1,2,3,4) against (1,3,2,4): rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([0.1, 0.3, 0.2, 0.4])) == pytest.approx(0.8)
    # ties share their average rank: signals (1.5, 1.5, 3) against outcomes (1, 2, 3)
    assert spearman(np.array([0.0, 0, 1]), np.array([1.0, 2, 3])) == pytest.approx(np.sqrt(3) / 2)
    assert spearman(np.zeros(4), np.array([1.0, 2, 3, 4])) == 0.0  # the random walk: no skill


def test_daily_ic_from_the_forecasts_table():
    origins = pd.bdate_range("2020-01-06", periods=2)
    outcomes = [[0.1, 0.3, 0.2, 0.4], [0.4, 0.3, 0.2, 0.1]]
    fc = table({"m": [[1, 2, 3, 4], [1, 2, 3, 4]], "naive": [[0] * 4, [0] * 4]}, outcomes, origins)
    ic = daily_rank_ic(fc)
    m = ic[ic.model == "m"]
    assert m.rank_ic.tolist() == pytest.approx([0.8, -1.0])
    assert m.n_stocks.tolist() == [4, 4]
    assert ic[ic.model == "naive"].rank_ic.tolist() == [0.0, 0.0]


def test_newey_west_t_known_answer():
    """t = mean / sqrt(S / n), S = g0 + 2 sum_j (1 - j / (L + 1)) g_j, g_j the autocovariances
    with divisor n (Newey and West 1987, eq. 2, on a regression on a constant)."""
    x = np.array([0.3, -0.1, 0.4, 0.2, -0.2, 0.5, 0.1, 0.0, 0.3, -0.05])
    n, dev = len(x), x - x.mean()
    for lags in (0, 1, 3):
        g = [np.sum(dev[j:] * dev[: n - j]) / n for j in range(lags + 1)]
        s = g[0] + 2 * sum((1 - j / (lags + 1)) * g[j] for j in range(1, lags + 1))
        assert newey_west_t(x, lags) == pytest.approx(x.mean() / np.sqrt(s / n), rel=1e-10)
    assert newey_west_lags(250, 1) == 4 and newey_west_lags(250, 10) == 9
    assert np.isnan(newey_west_t(np.zeros(10), 2))


def test_ic_summary_tests_every_model_but_the_random_walk():
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2020-01-01", periods=200)
    ic = pd.concat([
        pd.DataFrame({"model": m, "horizon": 1, "origin": days, "n_stocks": 10, "rank_ic": v})
        for m, v in [("naive", np.zeros(200)), ("good", 0.1 + 0.2 * rng.normal(size=200)),
                     ("none", 0.2 * rng.normal(size=200))]
    ])  # fmt: skip
    out = ic_summary(ic).set_index("model")
    assert out.loc["good", "nw_t"] > 4 and out.loc["good", "holm_pvalue"] < 0.001
    assert out.loc["none", "holm_pvalue"] > 0.05
    assert np.isnan(out.loc["naive", "holm_pvalue"]) and out.loc["naive", "mean_ic"] == 0
    assert out.loc["good", "holm_pvalue"] == pytest.approx(2 * out.loc["good", "pvalue"])


def test_long_short_weights_ties_nans_and_flat_days():
    s = np.array([[0.1, -0.2, 0.3, 0.0], [1.0, 1.0, 1.0, 1.0], [np.nan, 0.5, -0.5, np.nan]])
    w = long_short_weights(s, 1)
    assert w[0].tolist() == [0, -1, 1, 0]
    assert w[1].tolist() == [0, 0, 0, 0]  # every signal equal: nothing to rank
    assert w[2].tolist() == [0, 1, -1, 0]  # NaN signals are never held
    assert long_short_weights(s[:1], 2)[0].tolist() == [0.5, -0.5, 0.5, -0.5]
    assert long_short_weights(s[2:], 2)[0].tolist() == [0, 0, 0, 0]  # fewer than 2k signals


def test_portfolio_returns_turnover_and_costs_by_hand():
    origins = pd.bdate_range("2020-01-06", periods=3)
    sig = [[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]
    out = [np.log([1.01, 1.0, 1.0, 1.02]), np.log([0.99, 1.0, 1.0, 1.03]), np.log([1.0] * 4)]
    fc = table({"m": sig}, out, origins)
    r = portfolio_returns(fc, k=1, costs_bps=(0.0, 10.0))
    gross = r[r.cost_bps == 0].gross_return.to_numpy()
    np.testing.assert_allclose(gross, [0.02 - 0.01, 0.03 + 0.01, 0.0], atol=1e-12)
    turnover = r[r.cost_bps == 10].turnover.to_numpy()
    assert turnover.tolist() == [2.0, 0.0, 4.0]  # from cash; unchanged; both legs flipped
    net = r[r.cost_bps == 10].net_return.to_numpy()
    np.testing.assert_allclose(net, gross - 0.001 * turnover, atol=1e-15)
    summary = portfolio_summary(r, 1).set_index("cost_bps")
    assert summary.loc[10.0, "ann_return"] == pytest.approx(252 * net.mean())
    assert summary.loc[10.0, "turnover"] == pytest.approx(252 * 2.0)


def test_pair_comparisons_are_clark_west_for_covariates_and_pooled_over_series():
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2020-01-01", periods=120)
    rows = []
    for s in ("A", "B"):
        actual = 100 * np.exp(rng.normal(0, 0.01, len(days)))
        noise = rng.normal(0, 0.01, len(days))
        for m, f in [("naive", np.full(len(days), 100.0)), ("ar", actual * np.exp(noise)),
                     ("ar+x", actual * np.exp(0.5 * noise))]:  # fmt: skip
            rows.append(pd.DataFrame({"series": s, "model": m, "origin": days, "horizon": 1,
                                      "forecast": f, "actual": actual}))  # fmt: skip
    fc = pd.concat(rows, ignore_index=True)
    assert default_pairs(["naive", "ar", "ar+x", "lstm", "global_lstm"]) == [
        ("covariates", "ar", "ar+x"), ("global", "lstm", "global_lstm")]  # fmt: skip
    out = compare_pairs(fc)
    a = out[out.series == "A"].iloc[0]
    e = fc[fc.series == "A"].pivot(index="origin", columns="model", values="forecast")
    act = fc[(fc.series == "A") & (fc.model == "ar")].set_index("origin").actual
    e0, e1 = np.log(e["ar"] / act).to_numpy(), np.log(e["ar+x"] / act).to_numpy()
    assert (a.stat, a.pvalue) == pytest.approx(clark_west(e0, e1, 1))
    assert a.r2 == pytest.approx(1 - np.sum(e1**2) / np.sum(e0**2))
    pooled = out[out.series == "all"].iloc[0]
    assert pooled.n == 240 and pooled.pvalue < 1e-6 and np.isnan(pooled.holm_pvalue)
    assert (out[out.series != "all"].holm_pvalue >= out[out.series != "all"].pvalue).all()


def test_reversal_and_momentum_forecasts_by_hand():
    s = price_series(300, seed=3)
    y = np.log(s.to_numpy())
    rev = get_model("reversal").fit(s)
    np.testing.assert_allclose(rev.predict(2).to_numpy(), [s.iloc[-2]] * 2, rtol=1e-12)
    mom = get_model("momentum").fit(s)
    rate = (y[-1 - 21] - y[-1 - 252]) / 231
    np.testing.assert_allclose(np.log(mom.predict(3).to_numpy()), y[-1] + rate * np.arange(1, 4))


def planted_reversal(n_stocks=8, n=420, phi=-0.3, seed=0):
    """Stocks whose next return is phi times today's: reversal ranks them, momentum cannot."""
    return [price_series(n, phi=phi, mu=0.0, seed=seed + i, name=f"S{i}") for i in range(n_stocks)]


def test_the_baselines_on_a_planted_reversal_market():
    panel = planted_reversal()
    result, scores = cross_section_backtest(
        panel, ["reversal", "momentum", "global_ridge"], test_size=120, refit_every=40,
        settings=RankingSettings(top_k=2, costs_bps=(0.0, 10.0)),
    )  # fmt: skip
    ranking = scores.ranking.set_index("model")
    assert ranking.loc["naive", "mean_ic"] == 0.0  # the random walk ranks nothing
    assert (
        ranking.loc["reversal", "mean_ic"] > 0.15 and ranking.loc["reversal", "holm_pvalue"] < 0.01
    )
    assert ranking.loc["global_ridge", "mean_ic"] > 0.15  # learns the common reversal
    assert abs(ranking.loc["momentum", "mean_ic"]) < 0.1
    book = scores.portfolio_summary.set_index(["model", "cost_bps"])
    assert book.loc[("reversal", 0.0), "sharpe"] > 2
    assert book.loc[("naive", 0.0), "turnover"] == 0.0
    assert set(result.forecasts.horizon) == {1}


def test_the_cross_section_needs_aligned_stocks_and_enough_of_them():
    panel = planted_reversal(4, 300)
    with pytest.raises(ValueError, match="needs at least 2 x top_k = 6 stocks; got 4"):
        cross_section_backtest(panel, ["reversal"], settings=RankingSettings(top_k=3))
    shifted = [*panel[:3], panel[3].iloc[5:]]
    with pytest.raises(ValueError, match="needs every stock on the same dates: 'S3'"):
        cross_section_backtest(shifted, ["reversal"], settings=RankingSettings(top_k=1))
