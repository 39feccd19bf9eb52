"""Prediction intervals of the scheduled job: bootstrap, live errors, no look-ahead, methods."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from job_helpers import dump, job_config, query, sessions

import forecast.job.runner
import forecast.job.ticker
from forecast.data.loading import load_prices
from forecast.evaluation.conformal import MIN_ERRORS, IntervalSettings
from forecast.execution.base import one_thread
from forecast.job.intervals import PastError, needs_bootstrap, replay_state
from forecast.job.runner import run_job
from forecast.models import get_model
from forecast.walkforward.engine import backtest
from forecast.walkforward.scales import sigma_path, volatility_at

DAYS = sessions(8, end="2013-02-28")
SQL_ERRORS = (
    "SELECT f.as_of, f.target_date, f.forecast, s.actual, f.lower, f.upper FROM forecasts f "
    "JOIN scores s USING (forecast_id) WHERE f.ticker = ? AND f.model = ? AND f.horizon = ? "
    "ORDER BY f.as_of"
)


def _split(errors: np.ndarray, level: float) -> tuple[float, float]:
    """Split-conformal quantiles, written out: ranks floor((m+1)a/2), ceil((m+1)(1-a/2))."""
    m, alpha = len(errors), 1 - level
    srt = np.sort(errors)
    lo = srt[max(int(np.floor((m + 1) * alpha / 2)), 1) - 1]
    hi = srt[min(int(np.ceil((m + 1) * (1 - alpha / 2))), m) - 1]
    return min(lo, 0.0), max(hi, 0.0)


def test_bootstrap_is_the_engines_walk_and_gives_the_first_interval(tmp_path):
    config = job_config(
        tmp_path, models={"drift": {}}, tickers=["AAPL"], intervals="conformal",
        calibration_size=40, scale="none",
    )  # fmt: skip
    summary = run_job(config, as_of=DAYS[0])
    assert summary.tickers[0]["calibrated"] == ["drift"]
    # the engine's walk on the prices up to the as-of, one fit, gives the stored errors
    prices = load_prices("AAPL").loc[: DAYS[0]]
    walk = backtest(
        prices, {"drift": get_model("drift")}, horizons=(1, 2, 3), test_size=40, refit_every=40,
        train_size=config.train_size, intervals=None,
    ).forecasts  # fmt: skip
    walk = walk[walk["model"] == "drift"]
    stored = query(
        config.store,
        "SELECT horizon, origin, target_date, log_error, as_of FROM calibration_errors "
        "ORDER BY horizon, origin",
    )
    assert len(stored) == len(walk) == 40 + 39 + 38
    assert {r[4] for r in stored} == {DAYS[0]} and max(r[2] for r in stored) == DAYS[0]
    walk = walk.sort_values(["horizon", "origin"])
    np.testing.assert_allclose(
        [r[3] for r in stored], np.log(walk["actual"] / walk["forecast"]), rtol=1e-12
    )
    # with no live errors yet, the interval is split conformal on those errors
    for h in (1, 2, 3):
        errors = np.array([r[3] for r in stored if r[0] == h])
        ((fc, lower, upper),) = query(
            config.store, "SELECT forecast, lower, upper FROM forecasts WHERE horizon = ?", (h,)
        )
        lo, hi = _split(errors, 0.8)
        assert (lower, upper) == pytest.approx((fc * np.exp(lo), fc * np.exp(hi)), rel=1e-12)


def test_bootstrap_runs_once_per_ticker_model_and_spec(tmp_path):
    config = job_config(tmp_path, models={"drift": {}, "ar": {"max_lags": 2}}, tickers=["AAPL"])
    first = run_job(config, as_of=DAYS[0]).tickers[0]
    assert first["calibrated"] == ["drift", "ar"] and first["intervals"] == 6
    calibration = dump(config.store, "calibration")
    later = [run_job(config, as_of=d).tickers[0] for d in DAYS[1:3]]
    assert [t["calibrated"] for t in later] == [[], []]  # reused
    assert dump(config.store, "calibration") == calibration
    assert all(r[4] is not None for r in dump(config.store, "intervals"))
    # new parameters are a new model: its own bootstrap; the old one is kept
    changed = job_config(tmp_path, models={"drift": {}, "ar": {"max_lags": 3}}, tickers=["AAPL"])
    assert run_job(changed, as_of=DAYS[3]).tickers[0]["calibrated"] == ["ar"]
    rows = query(
        config.store, "SELECT model, as_of, COUNT(*) FROM calibration_errors GROUP BY 1, 2"
    )
    assert rows == [("ar", DAYS[0], 297), ("ar", DAYS[3], 297), ("drift", DAYS[0], 297)]


def test_live_errors_take_over_from_the_bootstrap(tmp_path):
    """Once ``interval_window`` live errors are known, the interval is theirs alone."""
    config = job_config(
        tmp_path, models={"drift": {}}, tickers=["AAPL"], intervals="conformal",
        calibration_size=22, interval_window=20, scale="none",
    )  # fmt: skip
    days = sessions(24, end="2013-02-28")
    for day in days:
        assert run_job(config, as_of=day).exit_code == 0
    assert query(config.store, "SELECT DISTINCT as_of FROM calibration_errors") == [(days[0],)]
    for h in (1, 2, 3):
        rows = query(config.store, SQL_ERRORS, ("AAPL", "drift", h))
        known = [r for r in rows if r[1] <= days[-1]]
        assert len(known) == 24 - h >= 20
        errors = np.log([r[3] / r[2] for r in known[-20:]])
        ((fc, lower, upper),) = query(
            config.store,
            "SELECT forecast, lower, upper FROM forecasts WHERE as_of = ? AND horizon = ?",
            (days[-1], h),
        )
        lo, hi = _split(errors, 0.8)
        assert (lower, upper) == pytest.approx((fc * np.exp(lo), fc * np.exp(hi)), rel=1e-12)


def _perturbed_after(day: str):
    """``load_prices`` with every price after ``day`` changed by up to a few percent."""
    real = forecast.job.runner.load_prices

    def load(ticker, **kwargs):
        prices = real(ticker, **kwargs)
        later = prices.index > pd.Timestamp(day)
        factor = np.exp(np.random.default_rng(7).normal(0.0, 0.03, int(later.sum())))
        out = prices.copy()
        out[later] = out[later].to_numpy() * factor
        out.attrs.update(prices.attrs)
        return out

    return load


def test_a_replayed_as_of_uses_no_later_error(tmp_path, monkeypatch):
    """Backfilled into a store that already holds a later as-of made from other prices,
    the earlier as-ofs get exactly the intervals of an in-order backfill."""
    models = {"drift": {}, "ar": {"max_lags": 2}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_order = job_config(tmp_path / "a", models=models, tickers=["AAPL"])
    replayed = job_config(tmp_path / "b", models=models, tickers=["AAPL"])
    cut = DAYS[5]
    for day in DAYS[:6]:
        run_job(in_order, as_of=day)
    with monkeypatch.context() as m:
        m.setattr(forecast.job.runner, "load_prices", _perturbed_after(cut))
        later = run_job(replayed, as_of=DAYS[7])  # sees the changed prices: its errors differ
        assert later.tickers[0]["calibrated"] == ["drift", "ar"]
        for day in DAYS[:6]:
            assert run_job(replayed, as_of=day).exit_code == 0
    assert dump(replayed.store, "calibration") != dump(in_order.store, "calibration")
    for table in ("forecasts", "intervals", "calibration", "scores"):
        kept = [
            r for r in dump(replayed.store, table) if r[2 if table != "calibration" else 3] <= cut
        ]
        assert kept == dump(in_order.store, table), table
    assert all(r[4] is not None for r in dump(in_order.store, "intervals"))


def test_intervals_none_stores_nulls_and_no_calibration(tmp_path):
    config = job_config(tmp_path, tickers=["AAPL"], intervals="none")
    summary = run_job(config, as_of=DAYS[0])
    assert summary.tickers[0]["calibrated"] == [] and summary.tickers[0]["intervals"] == 0
    assert {r[4:] for r in dump(config.store, "intervals")} == {(None, None, None, None)}
    assert dump(config.store, "calibration") == []


def test_model_method_uses_the_models_distribution_and_conformal_for_the_nets(tmp_path):
    config = job_config(tmp_path, tickers=["AAPL"], intervals="model", level=0.9)
    summary = run_job(config, as_of=DAYS[0])
    assert summary.tickers[0]["calibrated"] == ["gru"]  # the only model without a distribution
    methods = {r[1]: r[6:] for r in dump(config.store, "intervals")}
    assert methods == {
        "naive": ("model", 0.9), "drift": ("model", 0.9), "ar": ("model", 0.9),
        "gru": ("conformal", 0.9),
    }  # fmt: skip
    prices = load_prices("AAPL").loc[: DAYS[0]]
    ar = get_model("ar", max_lags=2).fit(prices.iloc[-config.train_size :])
    expected = ar.predict_interval(3, history=prices, level=0.9)
    got = query(
        config.store, "SELECT forecast, lower, upper FROM forecasts WHERE model = 'ar' ORDER BY "
        "horizon",
    )  # fmt: skip
    np.testing.assert_allclose(got, expected[["forecast", "lower", "upper"]], rtol=1e-12)


def test_a_failed_bootstrap_costs_the_intervals_not_the_forecasts(tmp_path, monkeypatch):
    config = job_config(tmp_path, models={"drift": {}}, tickers=["AAPL"])

    def fail(*args, **kwargs):
        raise RuntimeError("no walk today")

    with monkeypatch.context() as m:
        m.setattr(forecast.job.ticker, "bootstrap", fail)
        summary = run_job(config, as_of=DAYS[0])
    (ticker,) = summary.tickers
    assert (summary.exit_code, ticker["status"], ticker["forecasts"]) == (0, "stored", 3)
    assert ticker["events"] == [{
        "model": "drift", "kind": "calibration_failed",
        "message": "RuntimeError: no walk today; intervals wait for live errors",
    }]  # fmt: skip
    assert {r[4:] for r in dump(config.store, "intervals")} == {(None, None, "aci", 0.8)}
    assert run_job(config, as_of=DAYS[1]).tickers[0]["calibrated"] == ["drift"]  # tried again


def test_needs_bootstrap_and_replay_rules():
    settings = IntervalSettings(scale="none")
    live = [(i, h, "2020-01-01", "2020-01-02", 1.0, 1.0) for h in (1, 2) for i in range(MIN_ERRORS)]
    assert not needs_bootstrap((), live, 2, settings)  # enough live errors at every horizon
    assert needs_bootstrap((), live, 3, settings)  # horizon 3 has none
    assert not needs_bootstrap(((3, "2019-12-30", "2020-01-02", 0.0),), live, 3, settings)
    assert not needs_bootstrap((), live, 3, settings, warm={3})  # horizon 3 has a state
    assert not needs_bootstrap((), [], 3, IntervalSettings(calibration_size=0))
    # scaled: live errors without a sigma, and bootstrap errors of another scale, do not count
    garch = IntervalSettings(scale="garch")
    assert needs_bootstrap((), live, 2, garch)
    with_sigma = [(*r, None, None, None, None, None, 0.01) for r in live]
    assert not needs_bootstrap((), with_sigma, 2, garch)
    ewma_rows = ((3, "2019-12-30", "2020-01-02", 0.0, "ewma", 0.01),)
    assert needs_bootstrap(ewma_rows, with_sigma, 3, garch)
    assert not needs_bootstrap(ewma_rows, with_sigma, 3, IntervalSettings(scale="ewma"))
    errors = [PastError("2020-01-01", "2020-01-02", 0.01 * i) for i in range(MIN_ERRORS)]
    bounds, state, last = replay_state(errors, "2020-01-02", "2020-01-03", None, settings, "aci")
    assert bounds is not None and len(state.scores) == MIN_ERRORS and last == "2020-01-01"
    # an error whose target is after the as-of is never used, even if passed
    assert replay_state(errors, "2020-01-01", "2020-01-03", None, settings, "aci")[0] is None
    assert replay_state(errors[1:], "2020-01-02", "2020-01-03", None, settings, "aci")[0] is None


def test_the_state_carries_the_interval_and_equals_a_full_replay(tmp_path, monkeypatch):
    """Evening after evening, the stored state updated with the matured errors gives the
    same bounds as replaying every error known at the as-of (the store without states)."""
    models = {"drift": {}, "ar": {"max_lags": 2}}
    (tmp_path / "kept").mkdir()
    (tmp_path / "replayed").mkdir()
    kept = job_config(tmp_path / "kept", models=models, tickers=["AAPL"], calibration_size=30)
    replayed = job_config(
        tmp_path / "replayed", models=models, tickers=["AAPL"], calibration_size=30
    )
    replays = []
    real = forecast.job.ticker.replay_state
    monkeypatch.setattr(
        forecast.job.ticker, "replay_state", lambda *a: replays.append(a[1]) or real(*a)
    )
    days = sessions(12, end="2013-02-28")
    for day in days:
        assert run_job(kept, as_of=day).exit_code == 0
        assert run_job(replayed, as_of=day).exit_code == 0
        with sqlite3.connect(replayed.store) as conn:  # as if no state had been kept
            conn.execute("DELETE FROM interval_state")
    # the kept store replayed on its first evening only (2 models x 3 horizons)
    assert replays.count(days[0]) == 12 and set(replays) - {days[0]} <= set(days[1:])
    assert sum(1 for d in replays if d != days[0]) == 6 * (len(days) - 1)  # the other store
    a, b = dump(kept.store, "intervals"), dump(replayed.store, "intervals")
    assert [r[:4] + r[6:] for r in a] == [r[:4] + r[6:] for r in b]
    np.testing.assert_allclose([r[4:6] for r in a], [r[4:6] for r in b], rtol=1e-12)
    assert all(r[4] is not None and r[6] == "aci" for r in a)
    states = query(
        kept.store, "SELECT model, horizon, as_of, method, scale, window_size, last_origin, "
        "scores FROM interval_state ORDER BY model, horizon, as_of",
    )  # fmt: skip
    assert len(states) == 2 * 3 * 5  # the newest 5 evenings per model and horizon
    newest = [s for s in states if s[2] == days[-1]]
    assert {s[3:6] for s in newest} == {("aci", "garch", 250)}
    # horizon 1's newest error is the forecast made the session before
    assert {s[6] for s in newest if s[1] == 1} == {days[-2]}
    # the bootstrap's 31 - h errors and the 12 - h live ones
    assert all(len(json.loads(s[7])) == (31 - s[1]) + (12 - s[1]) for s in newest)


def test_scaled_interval_is_sigma_times_the_conformal_quantile_of_the_scores(tmp_path):
    config = job_config(
        tmp_path, models={"drift": {}}, tickers=["AAPL"], intervals="conformal",
        calibration_size=40, scale="garch",
    )  # fmt: skip
    assert run_job(config, as_of=DAYS[0]).exit_code == 0
    prices = load_prices("AAPL").loc[: DAYS[0]]
    # with one BLAS thread, as every job task runs: arch's optimiser moves in the 4th digit
    # with the thread count
    with one_thread():
        sigma, regime = volatility_at(prices, 3, "garch", config.train_size)
        # the bootstrap's sigma: a GARCH fitted once at its first origin, on the past only
        origins = np.arange(len(prices) - 41, len(prices) - 1)
        path, _ = sigma_path("garch", prices, origins, 3, 40, config.train_size)
    stored = query(
        config.store, "SELECT horizon, origin, log_error, scale, sigma FROM calibration_errors "
        "ORDER BY horizon, origin",
    )  # fmt: skip
    for h in (1, 2, 3):
        rows = [r for r in stored if r[0] == h]
        assert {r[3] for r in rows} == {"garch"}
        np.testing.assert_allclose([r[4] for r in rows], path[: 41 - h, h - 1], rtol=1e-12)
        scores = np.sort([abs(r[2]) / r[4] for r in rows])
        q = scores[int(np.ceil((len(scores) + 1) * 0.8)) - 1]
        ((fc, lower, upper, scale, s, vol_regime),) = query(
            config.store, "SELECT forecast, lower, upper, interval_scale, sigma, vol_regime "
            "FROM forecasts WHERE horizon = ?", (h,),
        )  # fmt: skip
        assert (scale, vol_regime) == ("garch", regime)
        assert s == pytest.approx(sigma[h - 1], rel=1e-12)
        assert (lower, upper) == pytest.approx((fc * np.exp(-q * s), fc * np.exp(q * s)), rel=1e-12)


def test_a_failed_volatility_forecast_costs_the_scaled_intervals_only(tmp_path, monkeypatch):
    config = job_config(tmp_path, models={"drift": {}}, tickers=["AAPL"], calibration_size=30)

    def fail(*args, **kwargs):
        raise RuntimeError("no volatility today")

    monkeypatch.setattr(forecast.job.ticker, "volatility_at", fail)
    summary = run_job(config, as_of=DAYS[0])
    assert summary.exit_code == 0 and summary.tickers[0]["forecasts"] == 3
    kinds = [e["kind"] for e in summary.tickers[0]["events"]]
    assert kinds == ["scale_failed", "interval_failed"]
    assert {r[4:] for r in dump(config.store, "intervals")} == {(None, None, "aci", 0.8)}
