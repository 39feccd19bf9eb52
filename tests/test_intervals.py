"""Prediction intervals: model distributions, conformal and adaptive conformal, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import price_series
from scipy import stats

from forecast.evaluation.conformal import MIN_ERRORS, conformal_bounds, interval_scores
from forecast.models import available_models, get_model
from forecast.models.distributions import gaussian_bounds, mixture_bounds
from forecast.walkforward.engine import backtest

DISTRIBUTION_MODELS = ["naive", "drift", "ar", "markov", "msar"]


@pytest.fixture(scope="module")
def series():
    return price_series(1500, phi=0.2, seed=3)


def test_gaussian_and_mixture_bounds_agree_on_one_component():
    lo, hi = gaussian_bounds(np.array([1.0]), np.array([4.0]), 0.8)
    assert hi[0] == pytest.approx(1 + 2 * stats.norm.ppf(0.9))
    mlo, mhi = mixture_bounds(np.ones((1, 1)), np.ones((1, 1)), np.full((1, 1), 4.0), 0.8)
    assert mlo[0] == pytest.approx(lo[0], abs=1e-9) and mhi[0] == pytest.approx(hi[0], abs=1e-9)


def test_mixture_bounds_are_quantiles_of_the_mixture():
    w, m, v = np.array([[0.3, 0.7]]), np.array([[-1.0, 2.0]]), np.array([[1.0, 0.25]])
    lo, hi = mixture_bounds(w, m, v, 0.9)
    cdf = lambda x: 0.3 * stats.norm.cdf(x, -1, 1) + 0.7 * stats.norm.cdf(x, 2, 0.5)  # noqa: E731
    assert cdf(lo[0]) == pytest.approx(0.05, abs=1e-10)
    assert cdf(hi[0]) == pytest.approx(0.95, abs=1e-10)


@pytest.mark.parametrize("name", DISTRIBUTION_MODELS)
def test_model_intervals_hold_the_forecast_and_widen(name, series):
    model = get_model(name).fit(series.iloc[:1200])
    pi = model.predict_interval(5, level=0.8)
    assert list(pi.columns) == ["forecast", "lower", "upper"]
    assert (pi.lower <= pi.forecast).all() and (pi.forecast <= pi.upper).all()
    assert np.all(np.diff(pi.upper - pi.lower) > 0)
    np.testing.assert_allclose(pi.forecast, model.predict(5), rtol=1e-12)
    wider = model.predict_interval(5, level=0.95)
    assert (wider.lower < pi.lower).all() and (wider.upper > pi.upper).all()


def test_neural_models_have_no_distribution_and_say_so(series):
    neural = [m for m in available_models() if "hidden_size" in get_model(m).get_params()]
    assert neural
    model = get_model(neural[0], epochs=1, hidden_size=4, window=5).fit(series.iloc[:300])
    with pytest.raises(ValueError, match=r"no predictive distribution.*conformal"):
        model.predict_interval(2)


def test_naive_interval_is_the_random_walk_normal(series):
    model = get_model("naive").fit(series.iloc[:1000])
    r = np.diff(np.log(series.iloc[:1000].to_numpy()))
    pi = model.predict_interval(4, level=0.8)
    z = stats.norm.ppf(0.9)
    last = series.iloc[999]
    np.testing.assert_allclose(
        pi.upper, last * np.exp(z * np.sqrt(np.mean(r**2) * np.arange(1, 5))), rtol=1e-12
    )


def test_ar1_variance_matches_the_closed_form():
    model = get_model("ar", max_lags=1).fit(price_series(3000, phi=0.4, seed=5))
    phi, s2 = model.coef_[0], model.sigma2_
    var = model._log_variances(None, np.array([10]), 4)[0]
    cum = (1 - phi ** np.arange(1, 5)) / (1 - phi)  # total effect of a shock on m+1 returns
    np.testing.assert_allclose(var, s2 * np.cumsum(cum**2), rtol=1e-12)


def test_markov_variance_matches_a_simulation_of_the_chain(series):
    model = get_model("markov").fit(series.iloc[:1200])
    r = np.diff(np.log(series.iloc[:1200].to_numpy()))
    states = model.states_of(r)
    by_state = [r[states == k] for k in range(model.n_states)]
    rng = np.random.default_rng(0)
    n, start = 40_000, 2
    cur, total = np.full(n, start), np.zeros(n)
    cum_p = np.cumsum(model.transition_matrix_, axis=1)
    expected = model._cumulative_variances(3)[start]
    for k in range(3):
        cur = (rng.random(n)[:, None] > cum_p[cur]).sum(axis=1)
        total += np.array([by_state[c][rng.integers(len(by_state[c]))] for c in cur])
        # the sample variance of 40k draws is within ~3% (chi-square, plus fat bins)
        assert total.var() == pytest.approx(expected[k], rel=0.05)


def test_msar_mixture_moments_equal_the_exact_mean_and_variance(series):
    model = get_model("msar").fit(series.iloc[:1200])
    y = np.log(series.to_numpy())
    ends = np.array([1210, 1300, 1400])
    probs = model._filtered_probs(y[: ends.max()])[:, ends - 3].T
    last_return = y[ends - 1] - y[ends - 2]
    mean, var = model._sum_moments(last_return, probs, 5)
    paths = model.forecast_log_paths(y, ends, 5)
    for h in (1, 3, 5):
        w, m, v = model._path_mixture(last_return, probs, h)
        np.testing.assert_allclose(w.sum(axis=1), 1.0)
        mix_mean = (w * m).sum(axis=1)
        np.testing.assert_allclose(mix_mean, mean[:, h - 1], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(
            (w * (v + m**2)).sum(axis=1) - mix_mean**2, var[:, h - 1], rtol=1e-8
        )
        np.testing.assert_allclose(y[ends - 1] + mix_mean, paths[:, h - 1], rtol=1e-12)


def test_msar_falls_back_to_moments_beyond_the_path_cap(series, monkeypatch):
    import forecast.models.msar as msar

    model = get_model("msar").fit(series.iloc[:1200])
    y = np.log(series.to_numpy())
    exact = model.forecast_log_intervals(y, np.array([1300]), 3, 0.8)
    monkeypatch.setattr(msar, "MAX_PATHS", 1)
    approx = model.forecast_log_intervals(y, np.array([1300]), 3, 0.8)
    # a normal with the mixture's moments is close to the mixture, not equal
    np.testing.assert_allclose(approx[0], exact[0], atol=2e-3)
    assert not np.array_equal(approx[0], exact[0])


def gaussian_walk_errors(n, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, sigma, n)


def test_conformal_coverage_on_gaussian_errors_is_nominal():
    n, level = 4000, 0.8
    err = gaussian_walk_errors(n, 0.01)
    pos = np.arange(n)
    lo, hi = conformal_bounds(err, pos + 1, pos, level, window=250)
    ok = np.isfinite(lo)
    assert ok.sum() == n - MIN_ERRORS
    cover = np.mean((err[ok] >= lo[ok]) & (err[ok] <= hi[ok]))
    # binomial sampling error over ~4000 points: sd ~ 0.0063
    assert cover == pytest.approx(level, abs=0.02)


def test_conformal_uses_only_errors_known_at_the_origin():
    n = 300
    err = gaussian_walk_errors(n, 0.01, seed=2)
    pos = np.arange(n)
    h = 5
    lo, _ = conformal_bounds(err, pos + h, pos, 0.8)
    changed = err.copy()
    changed[200:] *= 50  # errors whose targets are at 205 and later
    lo2, _ = conformal_bounds(changed, pos + h, pos, 0.8)
    # an origin o sees errors with target <= o, i.e. rows <= o - h
    np.testing.assert_array_equal(lo[: 200 + h], lo2[: 200 + h])
    assert not np.array_equal(lo[200 + h :], lo2[200 + h :])


def test_adaptive_conformal_recovers_after_a_volatility_jump():
    calm, wild = gaussian_walk_errors(600, 0.01, 1), gaussian_walk_errors(400, 0.03, 2)
    err = np.concatenate([calm, wild])
    pos = np.arange(len(err))
    cover = {}
    for method in ("conformal", "aci"):
        lo, hi = conformal_bounds(err, pos + 1, pos, 0.8, window=500, method=method, gamma=0.02)
        after = slice(650, 800)  # the first 150 sessions after the jump has settled in
        e = err[after]
        cover[method] = np.mean((e >= lo[after]) & (e <= hi[after]))
    assert cover["conformal"] < 0.6  # the plain window is still full of calm errors
    assert cover["aci"] > 0.72


def test_interval_scores_by_hand():
    a = np.array([10.0, 12.0, 7.0])
    lo, hi, f = np.array([9.0, 9.0, 8.0]), np.array([11.0, 11.0, 10.0]), np.array([10.0, 10, 9])
    s = interval_scores(a, lo, hi, f, 0.8)
    assert s["coverage"] == pytest.approx(1 / 3)
    assert s["width"] == pytest.approx(np.mean([0.2, 0.2, 2 / 9]))
    assert s["winkler"] == pytest.approx(np.mean([2, 2 + 10 * 1, 2 + 10 * 1]))


def random_walk(n, sigma, seed, jump_at=None, jump_sigma=None):
    rng = np.random.default_rng(seed)
    sig = np.full(n, sigma)
    if jump_at is not None:
        sig[jump_at:] = jump_sigma
    idx = pd.bdate_range("2000-01-03", periods=n, name="date")
    return pd.Series(100 * np.exp(np.cumsum(rng.normal(0, sig))), index=idx, name="RW")


def test_backtest_coverage_on_gaussian_returns_is_nominal_for_every_variant():
    s = random_walk(1600, 0.01, seed=4)
    res = backtest(s, ["naive", "drift", "ar"], horizons=(1, 5), test_size=1200, refit_every=50)
    fc = res.forecasts
    for variant in ("", "_model", "_conformal", "_aci"):
        lo, hi = fc[f"lower{variant}"], fc[f"upper{variant}"]
        assert (lo <= fc.forecast).all() and (fc.forecast <= hi).all()
        inside = (fc.actual >= lo) & (fc.actual <= hi)
        for (model, h), cover in inside.groupby([fc.model, fc.horizon]).mean().items():
            # binomial sd at 1200 points is 0.012; h=5 errors overlap, so about twice that
            assert cover == pytest.approx(0.8, abs=0.05 if h == 5 else 0.036), (variant, model, h)
    m = res.metrics.set_index(["model", "horizon"])
    assert m.loc[("naive", 1), "coverage"] == pytest.approx(0.8, abs=0.036)
    assert (m["width"] > 0).all() and (m["winkler"] > 0).all()


def test_backtest_adaptive_variant_recovers_after_a_volatility_jump():
    s = random_walk(1400, 0.005, seed=5, jump_at=1000, jump_sigma=0.02)
    res = backtest(s, ["naive"], horizons=1, test_size=600, refit_every=50)
    # the 100 sessions from 30 after the jump: the plain window is still mostly calm errors
    fc = res.forecasts[res.forecasts.origin >= s.index[1030]].iloc[:100]
    cover = {
        v: ((fc.actual >= fc[f"lower_{v}"]) & (fc.actual <= fc[f"upper_{v}"])).mean()
        for v in ("conformal", "aci")
    }
    assert cover["conformal"] < 0.6
    assert cover["aci"] > 0.7


def test_intervals_none_gives_no_interval_columns():
    res = backtest(random_walk(200, 0.01, 1), ["naive"], horizons=1, test_size=50,
                   intervals=None)  # fmt: skip
    assert "lower" not in res.forecasts
    assert res.metrics["coverage"].isna().all()
