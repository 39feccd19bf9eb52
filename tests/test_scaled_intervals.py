"""Volatility-scaled conformal intervals: settings, the scaled score, the scales, the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import perturb_after, price_series

from forecast.evaluation.conformal import (
    MIN_ERRORS,
    ConformalState,
    IntervalSettings,
    conformal_bounds,
    conformal_walk,
    variant_name,
)
from forecast.evaluation.coverage import coverage_test_h
from forecast.models.volatility import get_volatility_model
from forecast.report.intervals import scored_points
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.engine import backtest
from forecast.walkforward.scales import series_scales, sigma_path, volatility_at


def garch_prices(n: int, seed: int, omega=2e-6, alpha=0.1, beta=0.88) -> pd.Series:
    """Prices whose log returns follow a GARCH(1,1) with normal innovations."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    r = np.empty(n)
    s2 = omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = np.sqrt(s2) * z[t]
        s2 = omega + alpha * r[t] ** 2 + beta * s2
    idx = pd.bdate_range("2000-01-03", periods=n, name="date")
    return pd.Series(100 * np.exp(np.cumsum(r)), index=idx, name="GARCH")


def test_settings_list_the_scales_and_name_the_variants():
    s = IntervalSettings()
    assert (s.scale, s.scales, s.variant) == ("garch", ("ewma", "garch"), "aci_garch")
    assert s.variants() == (
        "model", "conformal", "aci", "conformal_ewma", "aci_ewma", "conformal_garch", "aci_garch",
    )  # fmt: skip
    # the chosen scale is always computed; "none" never is a scaled variant
    assert IntervalSettings(scale="ewma", scales=()).scales == ("ewma",)
    assert IntervalSettings(scale="none", scales=()).variants() == ("model", "conformal", "aci")
    assert IntervalSettings(scale="none", scales=["garch", "none"]).scales == ("garch",)
    assert variant_name("model", "garch") == "model" and variant_name("conformal") == "conformal"
    with pytest.raises(ValueError, match=r"scale must be one of none, ewma, garch; got 'vix'"):
        IntervalSettings(scale="vix")
    with pytest.raises(ValueError, match=r"scales must be one of none, ewma, garch; got 'x'"):
        IntervalSettings(scales=("x",))


def test_scaled_bounds_are_the_conformal_quantile_of_the_scaled_scores_by_hand():
    """Scores 1..20 (absolute error over scale): the ceil(21 x 0.8) = 17th smallest is 17."""
    state = ConformalState(0.8, "conformal", scaled=True)
    for k in range(1, MIN_ERRORS):
        state.observe(float(k))
        assert state.log_bounds(1.0) is None  # fewer than MIN_ERRORS scores
    state.observe(20.0)
    assert state.log_bounds(0.01) == pytest.approx((-0.17, 0.17), rel=1e-12)
    assert state.log_bounds(None) is None and state.log_bounds(0.0) is None
    # ACI: a miss lowers the working miscoverage by gamma (1 - alpha), a hit raises it by
    # gamma alpha (Gibbs and Candes 2021, eq. 2); the level then picks another rank
    aci = ConformalState(0.8, "aci", scaled=True, gamma=0.05)
    for k in range(1, 21):
        aci.observe(float(k), miss=False)
    assert aci.alpha == pytest.approx(0.2 + 20 * 0.05 * 0.2)  # 0.4: rank ceil(21 x 0.6) = 13
    assert aci.log_bounds(1.0) == (-13.0, 13.0)
    aci.observe(21.0, miss=True)
    assert aci.alpha == pytest.approx(0.4 - 0.05 * 0.8)
    # the window keeps the last scores only
    short = ConformalState(0.8, window=MIN_ERRORS)
    for k in range(30):
        short.observe(float(k))
    assert short.scores == [float(k) for k in range(10, 30)]


def test_scaled_conformal_uses_the_scale_of_each_origin():
    rng = np.random.default_rng(3)
    n = 400
    sigma = np.exp(rng.normal(-4.5, 0.3, n))
    err = sigma * rng.standard_normal(n)
    pos = np.arange(n)
    lo, hi = conformal_bounds(err, pos + 1, pos, 0.8, scale=sigma)
    ok = np.isfinite(lo)
    assert ok.sum() == n - MIN_ERRORS
    np.testing.assert_allclose(-lo[ok], hi[ok])  # symmetric
    # row i: the 80% conformal quantile of |e_j| / sigma_j over the errors known at i, times
    # sigma_i
    i = 300
    scores = np.abs(err[:i]) / sigma[:i]
    recent = np.sort(scores[-250:])
    q = recent[int(np.ceil(251 * 0.8)) - 1]
    assert hi[i] == pytest.approx(q * sigma[i], rel=1e-12)
    # a row without a scale gets no interval and lends no score
    gap = sigma.copy()
    gap[100] = np.nan
    lo2, _ = conformal_bounds(err, pos + 1, pos, 0.8, scale=gap)
    assert np.isnan(lo2[100]) and np.isfinite(lo2[99])


def test_scaled_conformal_uses_no_later_error_or_scale():
    rng = np.random.default_rng(4)
    n, h = 300, 5
    sigma = np.exp(rng.normal(-4.5, 0.3, n))
    err = sigma * rng.standard_normal(n)
    pos = np.arange(n)
    lo, _ = conformal_bounds(err, pos + h, pos, 0.8, method="aci", scale=sigma)
    err2, sigma2 = err.copy(), sigma.copy()
    err2[200:] *= 40  # errors whose targets are at 205 and later
    sigma2[230:] *= 3  # scales made at origins 230 and later
    lo2, _ = conformal_bounds(err2, pos + h, pos, 0.8, method="aci", scale=sigma2)
    np.testing.assert_array_equal(lo[: 200 + h], lo2[: 200 + h])
    assert not np.array_equal(lo[200 + h :], lo2[200 + h :])


def test_conformal_walk_ends_in_the_state_after_every_known_error():
    rng = np.random.default_rng(5)
    err = rng.normal(0, 0.01, 60)
    pos = np.arange(60)
    lo, hi, state = conformal_walk(err, pos + 1, pos, 0.8, method="aci")
    # the state after the last origin (59) holds the errors known at it: rows 0..58
    assert state.scores == list(err[:59])
    replay = ConformalState(0.8, "aci")
    for j in range(59):
        miss = None if np.isnan(lo[j]) else not lo[j] <= err[j] <= hi[j]
        replay.observe(err[j], miss)
    assert replay.alpha == pytest.approx(state.alpha, abs=1e-15)


def test_ewma_scale_is_the_riskmetrics_recursion_on_the_past_only():
    s = price_series(400, seed=2, sigma=0.015)
    settings = IntervalSettings(calibration_size=50, scales=("ewma",))
    config = BacktestConfig(horizons=(1, 3), test_size=100, refit_every=30, intervals=settings)
    scales = series_scales("S", s, config)
    assert scales.first == 400 - 100 - 1 - 50
    r = np.diff(np.log(s.to_numpy()))
    v = np.mean(r[:20] ** 2)
    path = []
    for x in r:  # path[t]: the variance of return t + 1 given returns 0..t
        v = 0.94 * v + 0.06 * x**2
        path.append(v)
    o = scales.first + 17  # an origin: prices 0..o, returns 0..o-1
    np.testing.assert_allclose(
        scales.sigma["ewma"][17], np.sqrt(path[o - 1] * np.array([1, 2, 3])), rtol=1e-10
    )
    # no look-ahead: prices changed from a cutoff on move no sigma of an earlier origin
    cut = 330
    moved = series_scales("S", perturb_after(s, cut), config).sigma["ewma"]
    rows = cut - scales.first  # origins before the cutoff
    np.testing.assert_array_equal(moved[:rows], scales.sigma["ewma"][:rows])
    assert not np.array_equal(moved[rows:], scales.sigma["ewma"][rows:])


def test_garch_scale_refits_on_the_cadence_with_the_past_only():
    s = price_series(500, seed=6, sigma=0.012)
    origins = np.arange(300, 420)
    sigma, failures = sigma_path("garch", s, origins, 2, 40, None)
    assert failures == [] and np.isfinite(sigma).all()
    # the second fold: a GARCH fitted on the prices up to origin 340, run to each origin
    model = get_volatility_model("garch", dist="t").fit(s.iloc[:341])
    y = np.log(s.to_numpy())
    expected = model.forecast_volatility(y[:380], np.arange(340, 380) + 1, 2)
    np.testing.assert_allclose(sigma[40:80], expected, rtol=1e-9)
    cut = 360
    moved, _ = sigma_path("garch", perturb_after(s, cut), origins, 2, 40, None)
    np.testing.assert_array_equal(moved[: cut - 300], sigma[: cut - 300])


def test_too_little_history_leaves_the_scale_empty_without_an_error():
    s = price_series(150, seed=1)
    sigma, failures = sigma_path("garch", s, np.arange(20, 140), 1, 20, None)
    assert failures == []
    assert np.isnan(sigma[:80]).all() and np.isfinite(sigma[100:]).all()  # first fit at 100


def test_volatility_at_gives_sigma_and_the_regime_of_the_last_price():
    s = price_series(600, seed=8, sigma=0.01)
    sigma, regime = volatility_at(s, 3, "ewma")
    model = get_volatility_model("ewma").fit(s)
    y = np.log(s.to_numpy())
    path = model.forecast_volatility(y, np.arange(350, 601), 3)
    np.testing.assert_allclose(sigma, path[-1], rtol=1e-12)
    assert regime == ("turbulent" if path[-1, 0] > np.median(path[:-1, 0]) else "calm")
    calm = s.copy()
    calm.iloc[-30:] = calm.iloc[-31] * np.exp(np.cumsum(np.full(30, 1e-4)))  # a quiet month
    assert volatility_at(calm, 1, None) == (None, "calm")


def test_engine_columns_and_the_chosen_variant():
    s = price_series(420, seed=9)
    res = backtest(s, ["naive", "ar"], horizons=(1, 3), test_size=80, refit_every=40,
                   intervals=IntervalSettings(calibration_size=40))  # fmt: skip
    fc = res.forecasts
    for v in IntervalSettings().variants():
        assert {f"lower_{v}", f"upper_{v}"} <= set(fc.columns)
    np.testing.assert_array_equal(fc["lower"], fc["lower_aci_garch"])
    np.testing.assert_array_equal(fc["sigma"], fc["sigma_garch"])
    assert (fc["sigma_garch"] > 0).all() and (fc["sigma_ewma"] > 0).all()
    # the scaled band is the forecast times exp(+- q sigma)
    q = np.log(fc["upper_aci_ewma"] / fc["forecast"]) / fc["sigma_ewma"]
    np.testing.assert_allclose(np.log(fc["forecast"] / fc["lower_aci_ewma"]) / fc["sigma_ewma"], q)
    # the metrics' tests are Kupiec's and Christoffersen's on the misses, every h-th origin
    m = res.metrics.set_index(["model", "horizon"])
    for (model, h), g in fc.groupby(["model", "horizon"]):
        g = g.sort_values("origin")
        misses = ((g["actual"] < g["lower"]) | (g["actual"] > g["upper"])).to_numpy(int)
        test = coverage_test_h(misses, 0.2, int(h))
        row = m.loc[(model, h)]
        assert (row.kupiec_pvalue, row.ind_pvalue, row.cc_pvalue) == pytest.approx(
            (test.p_uc, test.p_ind, test.p_cc), rel=1e-12
        )
        assert test.n == len(range(0, len(g), int(h)))
    # unscaled: no sigma column, the plain variants only when no scale is asked for
    plain = backtest(s, ["naive"], horizons=1, test_size=40,
                     intervals=IntervalSettings(scale="none", scales=())).forecasts  # fmt: skip
    assert "sigma" not in plain and "lower_aci_ewma" not in plain
    np.testing.assert_array_equal(plain["lower"], plain["lower_aci"])


def test_scaled_intervals_hold_both_halves_on_garch_returns_where_unscaled_do_not():
    """1500 origins of simulated GARCH(1,1) returns, the report's calm/turbulent split."""
    res = backtest(garch_prices(1700, seed=1), ["naive"], horizons=1, test_size=1500,
                   refit_every=250, intervals=IntervalSettings(calibration_size=100))  # fmt: skip
    variants = ("conformal", "aci", "conformal_ewma", "aci_ewma", "conformal_garch", "aci_garch")
    points = scored_points(res.forecasts, variants)
    cover = points.groupby(["variant", "regime"])["inside"].mean()
    for v in variants:
        calm, turbulent = cover[(v, "calm")], cover[(v, "turbulent")]
        inside = 0.75 <= calm <= 0.85 and 0.75 <= turbulent <= 0.85
        assert inside == ("_" in v), (v, calm, turbulent)  # the scaled ones, and only they
        if "_" in v:  # and the gap between the halves shrinks against the unscaled method
            base = v.split("_")[0]
            assert calm - turbulent < cover[(base, "calm")] - cover[(base, "turbulent")] - 0.05
    pooled = points.groupby("variant")["inside"].mean()
    assert pooled.between(0.77, 0.83).all()


def test_a_failing_volatility_model_costs_its_scaled_intervals_only(monkeypatch):
    import forecast.walkforward.engine as engine
    import forecast.walkforward.scales as scales

    s = price_series(400, seed=10)
    real = scales.scale_model

    class Broken:
        def __init__(self, model):
            self.model = model

        def fit(self, prices):
            raise RuntimeError("arch did not converge")

        def __getattr__(self, name):
            return getattr(self.model, name)

    monkeypatch.setattr(
        scales,
        "scale_model",
        lambda scale: Broken(real(scale)) if scale == "garch" else real(scale),
    )
    settings = IntervalSettings(calibration_size=40)
    res = backtest(s, ["naive", "drift"], horizons=1, test_size=60, refit_every=30,
                   intervals=settings)  # fmt: skip
    fc, failures = res.forecasts, res.failures
    assert fc["lower_aci_garch"].isna().all() and fc["sigma"].isna().all()
    assert fc["lower_aci_ewma"].notna().all() and fc["lower_aci"].notna().all()
    assert res.metrics["n"].tolist() == [60, 60]
    # one row per failed refit, once per series (not once per model)
    assert set(failures["stage"]) == {"volatility"} and len(failures) == 4
    assert set(failures["model"]) == {"garch (interval scale)"}
    assert failures["error"].str.contains("arch did not converge").all()
    # a scale task that fails as a whole: one failure row, no sigma, the forecasts stand
    monkeypatch.setattr(engine, "series_scales", lambda *a: 1 / 0)
    res = backtest(s, ["naive"], horizons=1, test_size=60, intervals=settings)
    assert res.failures[["model", "stage"]].values.tolist() == [["interval scales", "volatility"]]
    assert "ZeroDivisionError" in res.failures["error"].iat[0]
    assert res.forecasts["lower_aci_ewma"].isna().all() and res.forecasts["lower_aci"].notna().all()
