"""Confidence sequences of the live scorecard: known answers from the papers' formulas, coverage
under simulated nulls, statuses and decided_on, the grouped table and the alerts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from forecast.errors import ConfigError
from forecast.evaluation.alerts import ALERT_COLUMNS, format_alerts, sequential_alerts
from forecast.evaluation.monitoring import (
    MATURED_COLUMNS,
    SEQUENTIAL_COLUMNS,
    matured_from_scored,
    sequential_rows,
    sequential_table,
)
from forecast.evaluation.sequential import (
    asymptotic_cs,
    coverage_sequence,
    coverage_status,
    empirical_bernstein_cs,
    empirical_bernstein_terms,
    gaussian_mixture_rho2,
    grouped_asymptotic_cs,
    grouped_empirical_bernstein_cs,
    loss_sequence,
    loss_status,
    mixture_radius,
)

# --- known answers ----------------------------------------------------------------------------


def test_mixture_radius_by_hand():
    # t = 2, rho^2 = 1, alpha = 0.05: a = 3, sqrt(2 * 3 / 4 * ln(sqrt(3) / 0.05))
    # = sqrt(1.5 * ln(34.641016)) = sqrt(1.5 * 3.5450384) = sqrt(5.3175576) = 2.3059830
    assert mixture_radius(np.array([2.0]), 1.0, 0.05)[0] == pytest.approx(2.3059830, abs=1e-7)


def test_rho2_minimises_the_radius_at_t_opt():
    for t_opt, alpha in ((100, 0.05), (20, 0.1), (500, 0.01)):
        rho2 = gaussian_mixture_rho2(t_opt, alpha)
        best = minimize_scalar(
            lambda r2, t=t_opt, a=alpha: mixture_radius(np.array([float(t)]), r2, a)[0],
            bounds=(1e-6, 10.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert rho2 == pytest.approx(best.x, rel=1e-5)
        u = t_opt * rho2 + 1  # the stationarity condition u - 1 = log(u / alpha^2)
        assert u - 1 == pytest.approx(math.log(u / alpha**2), rel=1e-12)


def _asymptotic_by_hand(x, alpha, t_opt):
    """The boundary of Waudby-Smith et al. (2024, Thm 2.2), in plain Python, with rho^2
    from the fixed point u = 1 + log(u / alpha^2) instead of Lambert W."""
    u = 10.0
    for _ in range(200):
        u = 1 + math.log(u / alpha**2)
    rho2 = (u - 1) / t_opt
    out = []
    for t in range(1, len(x) + 1):
        head = x[:t]
        mean = sum(head) / t
        var = sum((v - mean) ** 2 for v in head) / t
        a = t * rho2 + 1
        radius = math.sqrt(var) * math.sqrt(2 * a / (t * t * rho2) * math.log(math.sqrt(a) / alpha))
        out.append((mean - radius, mean + radius))
    return out


def test_asymptotic_cs_matches_the_formula_on_a_short_stream():
    x = [0.5, -1.0, 2.0, 0.25, 1.5]
    lower, upper = asymptotic_cs(x, alpha=0.05, t_opt=10, min_n=2)
    expected = _asymptotic_by_hand(x, 0.05, 10)
    assert np.isnan(lower[0]) and np.isnan(upper[0])  # before min_n
    for t in range(1, 5):
        assert lower[t] == pytest.approx(expected[t][0], rel=1e-12)
        assert upper[t] == pytest.approx(expected[t][1], rel=1e-12)
    # t = 2: mean -0.25, sd 0.75; centred and symmetric
    assert (lower[1] + upper[1]) / 2 == pytest.approx(-0.25)


def test_empirical_bernstein_terms_by_hand():
    # x = 1, 0, 1; alpha 0.05 (log(2 / alpha) = 3.6888795); every bet is capped at 1/2
    # (e.g. lambda_2 = sqrt(2 * 3.6888795 / (0.15625 * 2 * log 3)) = 4.6), so
    # psi_E(1/2) = (log 2 - 1/2) / 4 = 0.0482868 and v = 4 (x_i - mu_{i-1})^2 = 1, 2.25, 1
    # (mu_0 = 1/2, mu_1 = 3/4, mu_2 = 1/2).
    x, first = np.array([1.0, 0.0, 1.0]), np.zeros(3, dtype=int)
    _, centre, radius = empirical_bernstein_terms(x, first, 0.05, 0.5)
    assert centre == pytest.approx([1.0, 0.5, 2 / 3])
    log_term, psi = 3.6888795, 0.0482868
    assert radius[0] == pytest.approx((log_term + psi) / 0.5, abs=1e-6)  # 7.4743327
    assert radius[1] == pytest.approx(log_term + 3.25 * psi, abs=1e-6)  # 3.8458117
    assert radius[2] == pytest.approx((log_term + 4.25 * psi) / 1.5, abs=1e-6)  # 2.5960656
    lower, upper = empirical_bernstein_cs([1.0, 0.0, 1.0])
    assert list(lower) == [0.0, 0.0, 0.0] and list(upper) == [1.0, 1.0, 1.0]


def _eb_by_loop(x, alpha, c):
    """Waudby-Smith & Ramdas (2024), Theorem 2, one step at a time."""
    log_term = math.log(2 / alpha)
    mu_prev, sig2_prev, sum_x, sum_sq = 0.5, 0.25, 0.0, 0.0
    s_lam = s_lam_x = s_vpsi = 0.0
    out = []
    for t, xt in enumerate(x, start=1):
        lam = min(math.sqrt(2 * log_term / (sig2_prev * t * math.log(1 + t))), c)
        s_lam += lam
        s_lam_x += lam * xt
        s_vpsi += 4 * (xt - mu_prev) ** 2 * (-math.log(1 - lam) - lam) / 4
        centre, radius = s_lam_x / s_lam, (log_term + s_vpsi) / s_lam
        out.append((max(centre - radius, 0.0), min(centre + radius, 1.0)))
        sum_x += xt
        mu_prev = (0.5 + sum_x) / (t + 1)
        sum_sq += (xt - mu_prev) ** 2
        sig2_prev = (0.25 + sum_sq) / (t + 1)
    return out


def test_empirical_bernstein_cs_matches_a_step_by_step_loop():
    x = (np.random.default_rng(3).random(400) < 0.8).astype(float)  # bets fall below the cap
    lower, upper = empirical_bernstein_cs(x)
    expected = np.array(_eb_by_loop(list(x), 0.05, 0.5))
    np.testing.assert_allclose(lower, expected[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(upper, expected[:, 1], rtol=1e-10, atol=1e-12)
    assert upper[-1] - lower[-1] < 0.2


# --- coverage under simulated nulls, power under alternatives ---------------------------------


def _streams(values: np.ndarray):
    """Flatten (streams, time) into the grouped layout: values and each row's stream start."""
    n, t = values.shape
    return values.ravel(), np.repeat(np.arange(n) * t, t)


def test_asymptotic_cs_rarely_excludes_the_true_mean_under_continuous_monitoring():
    rng = np.random.default_rng(0)
    null = rng.standard_t(5, size=(300, 500))  # heavy tailed, mean 0
    x, first = _streams(null)
    _, lower, upper = grouped_asymptotic_cs(x, first, 0.05, 100, 20)
    ever = ((lower > 0) | (upper < 0)).reshape(300, 500).any(axis=1)
    assert ever.mean() <= 0.08  # 5% nominal (asymptotically); a wrong boundary gives far more
    x, first = _streams(null + 0.3)
    _, lower, _ = grouped_asymptotic_cs(x, first, 0.05, 100, 20)
    assert (lower > 0).reshape(300, 500).any(axis=1).mean() >= 0.9


def test_empirical_bernstein_cs_rarely_excludes_the_true_rate():
    rng = np.random.default_rng(1)
    hits = (rng.random((300, 500)) < 0.8).astype(float)
    x, first = _streams(hits)
    _, lower, upper = grouped_empirical_bernstein_cs(x, first, 0.05, 0.5)
    assert ((lower > 0.8) | (upper < 0.8)).reshape(300, 500).any(axis=1).mean() <= 0.05
    x, first = _streams((rng.random((300, 500)) < 0.65).astype(float))
    _, _, upper = grouped_empirical_bernstein_cs(x, first, 0.05, 0.5)
    assert (upper < 0.8).reshape(300, 500).any(axis=1).mean() >= 0.9


# --- statuses, decided_on, thinning ----------------------------------------------------------


def test_statuses_elementwise():
    lo, hi = [np.nan, -2.0, 0.5, -1.0], [np.nan, -0.5, 2.0, 1.0]
    assert list(loss_status(lo, hi)) == ["undecided", "better", "worse", "undecided"]
    lo, hi = [0.6, 0.85, 0.7], [0.75, 0.95, 0.9]
    assert list(coverage_status(lo, hi, 0.8)) == ["below", "above", "in band"]


DATES = pd.bdate_range("2026-01-01", periods=120).strftime("%Y-%m-%d").to_numpy()


def _worsening(n_null=30, n_bad=90):
    """Loss differences that average 0 for 30 days, then are clearly positive."""
    rng = np.random.default_rng(5)
    return np.r_[rng.normal(0, 1, n_null), rng.normal(1.0, 1, n_bad)]


def test_loss_sequence_status_and_decided_on():
    d = _worsening()
    seq = loss_sequence(d, DATES)
    lower, _ = asymptotic_cs(d)
    first_worse = int(np.argmax(lower > 0))
    assert first_worse > 30 and (lower[first_worse:] > 0).all()
    assert (seq["status"][:first_worse] == "undecided").all()
    assert (seq["status"][first_worse:] == "worse").all()
    assert (seq["decided_on"][first_worse:] == DATES[first_worse]).all()
    assert seq["decided_on"][:first_worse].isna().all()
    np.testing.assert_allclose(seq["lower"], lower, equal_nan=True)
    assert seq["n"].iloc[-1] == 120 and seq["used"].all()


def test_decided_on_moves_when_the_status_lapses_and_returns():
    lower = np.array([-1, 0.1, 0.2, -0.1, 0.3, 0.4])
    from forecast.evaluation.sequential import loss_status_codes, run_starts

    codes = loss_status_codes(lower, lower + 1)
    assert list(run_starts(codes, np.zeros(6, int))) == [0, 1, 1, 3, 4, 4]


def test_horizon_keeps_every_hth_matured_value_and_carries_the_status():
    d = _worsening()
    d[7] = np.nan  # not scored: skipped, the count goes on among the finite ones
    seq = loss_sequence(d, DATES, horizon=3)
    finite = np.flatnonzero(np.isfinite(d))
    kept = finite[::3]
    assert list(np.flatnonzero(seq["used"])) == list(kept)
    lower, _ = asymptotic_cs(d[kept])
    np.testing.assert_allclose(seq["lower"][kept], lower, equal_nan=True)
    # between two kept values the status and bounds are the last kept one's
    assert seq["upper"][kept[30] + 1] == seq["upper"][kept[30]]
    assert seq["n"][kept[30] + 2] == 31


def test_coverage_sequence_flags_too_narrow_intervals():
    hits = (np.random.default_rng(2).random(400) < 0.6).astype(float)
    hits[::50] = np.nan  # no interval that day
    dates = pd.bdate_range("2026-01-01", periods=400)
    seq = coverage_sequence(hits, dates, level=0.8)
    assert seq["status"].iloc[-1] == "below"
    run = int(np.flatnonzero(seq["status"] != "below")[-1]) + 1  # the current run began here
    assert seq["decided_on"].iloc[-1] == dates[run]
    assert (seq["decided_on"][run:] == dates[run]).all()
    assert seq["n"].iloc[-1] == 392


def test_bad_arguments_name_the_rule_and_the_value():
    with pytest.raises(ConfigError, match=r"alpha must be in \(0, 1\); got 1.5"):
        asymptotic_cs([1.0, 2.0], alpha=1.5)
    with pytest.raises(ConfigError, match="horizon must be an integer >= 1; got 0"):
        loss_sequence([1.0, 2.0], DATES[:2], horizon=0)
    with pytest.raises(ConfigError, match=r"x must lie in \[0, 1\]"):
        empirical_bernstein_cs([0.0, 2.0])
    with pytest.raises(ConfigError, match="x must be finite; got nan at position 1"):
        asymptotic_cs([1.0, np.nan])
    bad = _matured().assign(hit=0.5)
    with pytest.raises(ConfigError, match=r"hit must be 0, 1 or NaN; got 0\.5"):
        sequential_table(bad)
    with pytest.raises(ConfigError, match=r"matured must have columns \['hit', 'level'\]"):
        sequential_table(pd.DataFrame(columns=MATURED_COLUMNS[:-2]))


# --- the table ---------------------------------------------------------------------------------


def _matured(seed=0, n=100):
    """Two tickers x two models x horizons 1 and 2; model 'bad' is worse than the random walk
    on ticker A; ticker B's intervals changed level; model 'plain' on B has none."""
    rng = np.random.default_rng(seed)
    parts = []
    for ticker in ("A", "B"):
        for model in ("bad", "plain"):
            for h in (1, 2):
                rw = rng.chisquare(1, n) * 1e-4
                shift = 2e-4 if (ticker, model) == ("A", "bad") else 0.0
                hit = (rng.random(n) < 0.8).astype(float)
                level = np.full(n, 0.8)
                if ticker == "B":
                    level[:30] = 0.9
                if (ticker, model) == ("B", "plain"):
                    hit[:], level[:] = np.nan, np.nan
                parts.append(
                    pd.DataFrame(
                        {
                            "ticker": ticker,
                            "model": model,
                            "horizon": h,
                            "target_date": DATES[:n] if n <= 120 else None,
                            "loss_model": rw + rng.normal(shift, 1e-4, n),
                            "loss_rw": rw,
                            "hit": hit,
                            "level": level,
                        }
                    )
                )
    return pd.concat(parts, ignore_index=True)


def test_table_matches_the_stream_functions_per_group():
    matured = _matured()
    table = sequential_table(matured.sample(frac=1, random_state=1))
    assert list(table.columns) == SEQUENTIAL_COLUMNS
    assert list(zip(table.ticker, table.model, table.horizon, strict=True))[:3] == [
        ("A", "bad", 1),
        ("A", "bad", 2),
        ("A", "plain", 1),
    ]
    for row in table.itertuples():
        g = matured[
            (matured.ticker == row.ticker)
            & (matured.model == row.model)
            & (matured.horizon == row.horizon)
        ]
        loss = loss_sequence(g.loss_model - g.loss_rw, g.target_date.to_numpy(), row.horizon)
        last = loss.iloc[-1]
        assert (row.n, row.n_diff) == (100, last["n"])
        assert row.mean_diff == pytest.approx(last["mean"])
        assert row.diff_lower == pytest.approx(last["lower"])
        assert row.status == last["status"]
        assert row.decided_on == last["decided_on"] or (
            pd.isna(row.decided_on) and last["decided_on"] is None
        )
        assert row.last_target == DATES[99]
        if (row.ticker, row.model) == ("B", "plain"):
            assert row.n_hits == 0 and np.isnan(row.hit_rate) and np.isnan(row.level)
            assert row.coverage_status == "in band"
            continue
        newest = g.level == 0.8  # B's older intervals at 0.9 are left out
        cov = coverage_sequence(
            g.hit[newest], g.target_date[newest].to_numpy(), 0.8, row.horizon
        ).iloc[-1]
        assert row.n_hits == cov["n"] and row.level == 0.8
        assert (row.hit_rate, row.hit_lower) == pytest.approx((cov["mean"], cov["lower"]))
        assert row.coverage_status == cov["status"]
    bad = table[(table.ticker == "A") & (table.model == "bad") & (table.horizon == 1)].iloc[0]
    assert bad.status == "worse"


def test_table_is_the_same_from_sorted_and_shuffled_rows():
    matured = _matured(seed=4)
    a = sequential_table(matured)
    b = sequential_table(matured.sample(frac=1, random_state=0).reset_index(drop=True))
    pd.testing.assert_frame_equal(a, b)


def test_rows_replay_the_table_of_each_evening_without_look_ahead():
    matured = _matured(seed=6)
    rows = sequential_rows(matured)
    keys = ["ticker", "model", "horizon"]
    for day in (DATES[40], DATES[77]):
        table = sequential_table(matured[matured.target_date <= day]).set_index(keys)
        cols = [c for c in SEQUENTIAL_COLUMNS if c not in (*keys, "n", "last_target")]
        at = rows[rows.target_date == day].set_index(keys)[cols]
        pd.testing.assert_frame_equal(table[cols], at, check_dtype=False)


def test_empty_table():
    assert list(sequential_table(pd.DataFrame(columns=MATURED_COLUMNS)).columns) == (
        SEQUENTIAL_COLUMNS
    )


def test_matured_from_scored_known_answer():
    forecasts = pd.DataFrame(
        {
            "ticker": "X",
            "model": "ar",
            "horizon": 1,
            "target_date": ["2026-01-02", "2026-01-05", "2026-01-06"],
            "forecast": [110.0, 100.0, 100.0],
            "last_price": [100.0, 100.0, 100.0],
            "actual": [100.0, 104.0, np.nan],
            "lower": [95.0, np.nan, 90.0],
            "upper": [105.0, np.nan, 110.0],
            "interval_level": [0.8, np.nan, 0.8],
            "scored": [1, 1, 0],
        }
    )
    out = matured_from_scored(forecasts)
    assert list(out.columns) == MATURED_COLUMNS and len(out) == 2  # unscored dropped
    assert out.loss_model.tolist() == pytest.approx([math.log(1.1) ** 2, math.log(1.04) ** 2])
    assert out.loss_rw.tolist() == pytest.approx([0.0, math.log(1.04) ** 2])
    assert out.hit[0] == 1.0 and np.isnan(out.hit[1])


# --- alerts ----------------------------------------------------------------------------------


def test_alerts_report_new_worse_models_and_coverage_leaving_its_band_once():
    rows = sequential_rows(_matured())
    keys = ["ticker", "model", "horizon"]
    worse = rows[(rows.ticker == "A") & (rows.model == "bad") & (rows.horizon == 1)]
    became = worse.decided_on.dropna().iloc[0]
    day_before = DATES[list(DATES).index(became) - 1]
    matured = _matured()
    table = sequential_table(matured[matured.target_date <= became])
    previous = sequential_table(matured[matured.target_date <= day_before])
    alerts = sequential_alerts(table)  # since = tonight's session
    assert list(alerts.columns) == ALERT_COLUMNS
    assert ("A", "bad", 1, "worse") in set(
        zip(alerts.ticker, alerts.model, alerts.horizon, alerts.kind, strict=True)
    )
    assert "A bad h=1: worse than the random walk since " + became in format_alerts(alerts)
    assert (alerts.since >= became).all()
    by_previous = sequential_alerts(table, previous=previous)
    pd.testing.assert_frame_equal(by_previous.set_index(keys), alerts.set_index(keys))
    assert sequential_alerts(table, previous=table).empty  # nothing new
    later = sequential_table(matured)  # the status began before tonight: not reported again
    bad = (later.ticker == "A") & (later.model == "bad") & (later.horizon == 1)
    assert later.loc[bad, "status"].item() == "worse"
    assert later.loc[bad, "decided_on"].item() < DATES[99]
    assert not (sequential_alerts(later).model == "bad").any()
    assert format_alerts(sequential_alerts(table, since="2030-01-01")) == ""


LOSS_PART = ("T", "m", 1, 300, 300, 0.0, -1.0, 1.0)
LOSS_PART_H5 = ("T", "m", 5, 300, 60, 0.0, -1.0, 1.0)
BELOW_PART = ("2026-03-02", 0.8, "2026-03-02")
IN_BAND_PART = (None, 0.8, "2026-03-02")


def test_alerts_for_coverage():
    table = pd.DataFrame(
        [
            [*LOSS_PART, "undecided", None, 300, 0.65, 0.6, 0.72, "below", *BELOW_PART],
            [*LOSS_PART_H5, "better", "2026-03-02", 60, 0.8, 0.7, 0.9, "in band", *IN_BAND_PART],
        ],
        columns=SEQUENTIAL_COLUMNS,
    )
    alerts = sequential_alerts(table)
    assert alerts.kind.tolist() == ["coverage below"]  # "better" is not an alert
    assert format_alerts(alerts) == (
        "T m h=1: interval coverage below its 80% level since 2026-03-02 (hit rate 65.0%, 95% "
        "confidence sequence [60.0%, 72.0%], 300 intervals)"
    )
