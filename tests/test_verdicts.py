"""Tests of forecast.evaluation: Clark-West, R²_OS, Holm, MCS/SPA/StepM and the verdict tables."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import MCS, SPA, StepM, optimal_block_length
from scipy import stats
from statsmodels.stats.multitest import multipletests

from forecast.evaluation.bootstrap import block_length, joint_tests
from forecast.evaluation.nested import clark_west, clark_west_differentials, r2_os
from forecast.evaluation.verdicts import (
    MODEL_COLUMNS,
    POOLED_COLUMNS,
    VERDICT_COLUMNS,
    claims_at,
    evaluate_forecasts,
    holm,
    log_errors,
)

# a hand-computed case: f = 2 e1 (e1 - e2) = [1, 4, 6, -0.5], mean 2.625
E_RW = np.array([1.0, -2.0, 3.0, 0.5])
E_M = np.array([0.5, -1.0, 2.0, 1.0])


def table(errors: dict[str, np.ndarray], series: str = "S", horizon: int = 1) -> pd.DataFrame:
    """A forecasts table whose log errors log(forecast/actual) are exactly ``errors``."""
    frames = []
    for model, e in errors.items():
        n = len(e)
        origins = pd.bdate_range("2020-01-01", periods=n)
        actual = 100 * np.exp(np.linspace(0, 0.1, n))
        frames.append(
            pd.DataFrame(
                {
                    "series": series,
                    "model": model,
                    "origin": origins,
                    "horizon": horizon,
                    "target_date": origins + pd.offsets.BDay(horizon),
                    "forecast": actual * np.exp(e),
                    "actual": actual,
                    "origin_price": actual,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def placebo_errors(n: int, seed: int, models=("drift", "ar", "markov")) -> dict[str, np.ndarray]:
    """Random-walk errors and models that add only noise to the random walk's forecast."""
    rng = np.random.default_rng(seed)
    e_rw = rng.standard_t(5, n) * 0.01
    out = {"naive": e_rw}
    for m in models:
        out[m] = e_rw + rng.normal(0, 0.002, n)
    return out


# ---- Clark-West, R²_OS, Holm: known answers ---------------------------------------------


def test_clark_west_differentials_hand_computed():
    f = clark_west_differentials(E_RW, E_M)
    np.testing.assert_allclose(f, [1.0, 4.0, 6.0, -0.5])
    np.testing.assert_allclose(f, E_RW**2 - (E_M**2 - (E_RW - E_M) ** 2))


def test_clark_west_one_step_hand_computed():
    # u = f - 2.625 = [-1.625, 1.375, 3.375, -3.125]; sum u^2 = 25.6875; V = 25.6875 / 4
    stat, p = clark_west(E_RW, E_M, horizon=1)
    expected = 2.625 / math.sqrt(25.6875 / 4 / 4)
    assert stat == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(stats.norm.sf(expected), rel=1e-12)


def test_clark_west_longer_horizons_use_uniform_weights_over_h_minus_1_lags():
    # gamma_1 = sum(u_t u_(t-1)) / 4 = -8.140625 / 4, weight 1 (truncated kernel), lag 1
    stat, _ = clark_west(E_RW, E_M, horizon=2)
    variance = 25.6875 / 4 + 2 * (-8.140625 / 4)
    assert stat == pytest.approx(2.625 / math.sqrt(variance / 4), rel=1e-12)


def test_clark_west_falls_back_to_bartlett_when_uniform_variance_is_negative():
    # f = 2 (1 - e2) = [3, -1, 3, -1, 3, -1]: u = +-2, gamma_0 = 4, gamma_1 = -20 / 6;
    # uniform: 4 - 2 * 20 / 6 < 0, Bartlett (weight 1/2): 4 - 20 / 6
    e2 = np.array([-0.5, 1.5, -0.5, 1.5, -0.5, 1.5])
    stat, p = clark_west(np.ones(6), e2, horizon=2)
    assert stat == pytest.approx(1 / math.sqrt((4 - 20 / 6) / 6), rel=1e-12)
    assert p == pytest.approx(stats.norm.sf(stat), rel=1e-12)


def test_clark_west_undefined_cases_are_nan():
    assert all(np.isnan(clark_west(E_RW, E_RW)))  # identical to the random walk
    assert all(np.isnan(clark_west(E_RW[:2], E_M[:2])))  # too few points
    assert all(np.isnan(clark_west(np.array([1.0, np.nan, 2, 3]), E_M)))
    with pytest.raises(ValueError, match="horizon must be an integer >= 1; got 0"):
        clark_west(E_RW, E_M, horizon=0)
    with pytest.raises(ValueError, match="same shape"):
        clark_west(E_RW, E_M[:3])


def test_r2_os_hand_computed():
    # 1 - (0.25 + 1 + 4 + 1) / (1 + 4 + 9 + 0.25)
    assert r2_os(E_RW, E_M) == pytest.approx(1 - 6.25 / 14.25, rel=1e-12)
    assert r2_os(E_RW, E_RW) == 0.0
    assert r2_os(E_RW, 2 * E_RW) == pytest.approx(-3.0)
    assert np.isnan(r2_os(np.zeros(3), np.ones(3)))
    assert np.isnan(r2_os(np.array([]), np.array([])))


def test_holm_hand_computed_and_matches_statsmodels():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> cummax
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.01, np.nan]), [0.02, 1.0])
    p = np.random.default_rng(1).uniform(size=40) ** 3
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    assert len(holm([])) == 0


# ---- MCS, SPA, StepM: what arch gives ------------------------------------------------------


def losses_frame(n: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.standard_t(5, n) ** 2
    return pd.DataFrame(
        {
            "naive": base,
            "drift": base + rng.normal(0.05, 0.5, n),
            "ar": base - 0.4 + rng.normal(0, 0.5, n),
            "markov": base + rng.normal(0, 1.0, n),
        }
    )


def test_joint_tests_are_what_arch_gives():
    losses = losses_frame()
    got = joint_tests(losses, 1, alpha=0.05, mcs_size=0.1, reps=300, seed=11)
    mcs = MCS(losses, size=0.1, reps=300, block_size=got.block_size, seed=11)
    mcs.compute()
    pd.testing.assert_series_equal(
        got.mcs_pvalues, mcs.pvalues["Pvalue"].reindex(losses.columns), check_names=False
    )
    rivals = losses.drop(columns="naive")
    spa = SPA(losses["naive"], rivals, block_size=got.block_size, reps=300, seed=11)
    spa.compute()
    assert got.spa_pvalue == spa.pvalues["consistent"]
    stepm = StepM(losses["naive"], rivals, size=0.05, block_size=got.block_size, reps=300, seed=11)
    stepm.compute()
    assert list(got.stepm_models) == list(stepm.superior_models)
    assert "ar" in got.stepm_models  # the planted better model


def test_block_length_rule():
    losses = losses_frame()
    diffs = np.column_stack([losses["naive"] - losses[m] for m in ("drift", "ar", "markov")])
    opt = optimal_block_length(diffs)["stationary"].mean()
    assert block_length(losses, 1) == max(math.ceil(opt), 1)
    assert block_length(losses, 50) == 50  # never shorter than the horizon
    assert block_length(losses[["naive"]], 5) == 5


def test_evaluate_forecasts_uses_arch_with_the_documented_seed():
    errors = placebo_errors(120, seed=4)
    fc = table(errors, series="GSPC", horizon=5)
    v = evaluate_forecasts(fc, reps=200, seed=9)
    row = v.verdicts.iloc[0]
    losses = pd.DataFrame(errors) ** 2
    rng = [9, zlib.crc32(b"GSPC"), 5]
    mcs = MCS(
        losses, 0.1, reps=200, block_size=int(row["block_size"]), seed=np.random.default_rng(rng)
    )
    mcs.compute()
    np.testing.assert_allclose(
        v.models["mcs_pvalue"].to_numpy(), mcs.pvalues["Pvalue"].reindex(losses.columns)
    )
    spa = SPA(
        losses["naive"],
        losses.drop(columns="naive"),
        block_size=int(row["block_size"]),
        reps=200,
        seed=np.random.default_rng(rng),
    )
    spa.compute()
    assert row["spa_pvalue"] == spa.pvalues["consistent"]
    assert row["block_size"] >= 5 and row["reps"] == 200


# ---- the random walk's twin and other edge cases ---------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_model_identical_to_random_walk_is_never_excluded(seed):
    errors = placebo_errors(150, seed)
    errors["twin"] = errors["naive"].copy()
    errors["ar"] = errors["drift"].copy()  # two identical rivals (ar choosing no lag)
    v = evaluate_forecasts(table(errors), reps=200, seed=seed)
    m = v.models.set_index("model")
    assert m.loc["twin", "in_mcs"] and m.loc["naive", "in_mcs"]
    assert m.loc["twin", "mcs_pvalue"] == m.loc["naive", "mcs_pvalue"]
    assert m.loc["ar", "mcs_pvalue"] == m.loc["drift", "mcs_pvalue"]
    assert "twin" in v.verdicts.loc[0, "mcs_members"].split(",")


def test_twin_of_random_walk_does_not_fake_an_spa_rejection():
    # arch compares with ">": a rival equal to the benchmark pins the maximum at 0 and gives
    # p = 0 when the other rivals are worse; the twin must be left out of the SPA
    rng = np.random.default_rng(0)
    e = rng.normal(0, 0.01, 200)
    errors = {"naive": e, "twin": e.copy(), "worse": e + rng.normal(0.01, 0.005, 200)}
    v = evaluate_forecasts(table(errors), reps=200)
    assert v.verdicts.loc[0, "spa_pvalue"] > 0.2
    losses = pd.DataFrame(errors) ** 2
    raw = SPA(losses["naive"], losses[["twin", "worse"]], block_size=2, reps=200, seed=0)
    raw.compute()
    assert raw.pvalues["consistent"] == 0.0  # the pitfall, if the twin stayed in
    assert not v.verdicts.loc[0, "claim"]


def test_all_equal_losses():
    e = np.random.default_rng(1).normal(0, 0.01, 60)
    v = evaluate_forecasts(table({"naive": e, "drift": e.copy(), "ar": e.copy()}), reps=100)
    assert v.models["mcs_pvalue"].tolist() == [1.0, 1.0, 1.0]
    assert v.models["r2_os"].tolist() == [0.0, 0.0, 0.0]
    assert v.models["cw_pvalue"].isna().all()
    row = v.verdicts.iloc[0]
    assert row["spa_pvalue"] == 1.0 and row["stepm_models"] == "" and not row["claim"]
    assert row["claim_pvalue"] == 1.0
    assert not v.pooled["claim"].any()


def test_only_the_random_walk():
    e = np.random.default_rng(2).normal(0, 0.01, 60)
    v = evaluate_forecasts(table({"naive": e}), reps=100)
    assert list(v.models.columns) == MODEL_COLUMNS and len(v.models) == 1
    row = v.verdicts.iloc[0]
    assert row["n_models"] == 0 and row["mcs_members"] == "naive" and not row["claim"]
    assert v.pooled.loc[0, "n_tests"] == 0 and not v.pooled.loc[0, "claim"]


def test_one_rival_and_no_random_walk():
    errors = placebo_errors(80, 5, models=("ar",))
    v = evaluate_forecasts(table(errors), reps=100)
    assert len(v.verdicts) == 1 and np.isfinite(v.verdicts.loc[0, "spa_pvalue"])
    no_rw = evaluate_forecasts(table({"ar": errors["ar"]}), reps=100)
    assert no_rw.models["cw_pvalue"].isna().all()
    assert pd.isna(no_rw.verdicts.loc[0, "spa_pvalue"]) and not no_rw.verdicts.loc[0, "claim"]


def test_missing_rows_and_nans():
    errors = placebo_errors(100, 6)
    fc = table(errors)
    gappy = (fc["model"] == "markov") & (fc.groupby("model").cumcount() < 30)
    fc.loc[gappy, "forecast"] = np.nan  # 30% of markov's points: out of the joint tests
    fc.loc[(fc["model"] == "ar") & (fc.groupby("model").cumcount() == 7), "actual"] = np.nan
    fc.loc[(fc["model"] == "drift") & (fc.groupby("model").cumcount() == 8), "forecast"] = -1.0
    v = evaluate_forecasts(fc, reps=100)
    m = v.models.set_index("model")
    row = v.verdicts.iloc[0]
    assert row["left_out"] == "markov" and row["n_origins"] == 98  # ar and drift lack one each
    assert np.isnan(m.loc["markov", "mcs_pvalue"]) and pd.isna(m.loc["markov", "in_mcs"])
    assert np.isfinite(m.loc["markov", "r2_os"])  # pairwise with the random walk: 70 points
    e = errors["naive"][30:], errors["markov"][30:]
    assert m.loc["markov", "r2_os"] == pytest.approx(r2_os(*e))
    assert row["n_models"] == 3  # markov still counts in the Holm family


def test_too_few_common_origins_skip_the_bootstrap():
    v = evaluate_forecasts(table(placebo_errors(20, 7)), reps=100, min_origins=30)
    assert pd.isna(v.verdicts.loc[0, "spa_pvalue"]) and v.models["mcs_pvalue"].isna().all()
    rivals = v.models[v.models["model"] != "naive"]
    assert rivals["cw_pvalue"].notna().all()  # Clark-West needs no bootstrap


# ---- the headline rule and the pooled answer -------------------------------------------


def test_claim_needs_holm_clark_west_and_positive_r2():
    rng = np.random.default_rng(8)
    n = 500
    e_rw = rng.normal(0, 0.01, n)
    errors = {
        "naive": e_rw,
        "good": e_rw - 0.4 * e_rw + rng.normal(0, 0.002, n),  # removes a real part of e_rw
        "noisy": e_rw - 0.3 * e_rw + rng.normal(0, 0.009, n),  # finds it but adds more noise
        "drift": e_rw + rng.normal(0, 0.002, n),
    }
    v = evaluate_forecasts(table(errors, "X", 1), reps=200)
    m = v.models.set_index("model")
    assert m.loc["noisy", "cw_pvalue"] < 1e-6 and m.loc["noisy", "r2_os"] < 0
    row = v.verdicts.iloc[0]
    assert row["claim"] and row["claim_models"] == "good" and row["claim_pooled"]
    assert row["claim_pvalue"] <= 3 * m.loc["good", "cw_pvalue"]
    assert "good" in row["stepm_models"].split(",") and row["spa_pvalue"] < 0.05
    assert v.pooled.loc[0, "method"] == "clark_west_holm" and v.pooled.loc[0, "claim"]
    assert v.pooled.loc[0, "claims"] == "X h=1: good"


def test_pooled_holm_counts_every_series_model_horizon():
    parts = [
        table(placebo_errors(60, s), series=f"S{s}", horizon=h) for s in range(3) for h in (1, 5)
    ]
    v = evaluate_forecasts(pd.concat(parts, ignore_index=True), reps=50)
    assert list(v.pooled.columns) == POOLED_COLUMNS
    assert list(v.verdicts.columns) == VERDICT_COLUMNS
    assert v.pooled.set_index("method").loc["clark_west_holm", "n_tests"] == 3 * 2 * 3
    assert v.pooled.set_index("method").loc["spa_holm", "n_tests"] == 6
    family = v.models[v.models["model"] != "naive"]
    eligible = family["r2_os"] > 0
    expected = (
        holm(family["cw_pvalue"].to_numpy())[eligible.to_numpy()].min() if eligible.any() else 1
    )
    assert v.pooled.loc[0, "pvalue"] == pytest.approx(min(expected, 1.0))


def test_claims_restated_at_another_level_from_the_stored_p_values():
    rng = np.random.default_rng(8)
    parts = []
    for s, strength in enumerate((0.0, 0.15, 0.4)):
        e_rw = rng.normal(0, 0.01, 300)
        errors = {"naive": e_rw, "good": e_rw - strength * e_rw + rng.normal(0, 0.003, 300)}
        errors["drift"] = e_rw + rng.normal(0, 0.002, 300)
        parts.append(table(errors, f"S{s}", 1))
    fc = pd.concat(parts, ignore_index=True)
    at5 = evaluate_forecasts(fc, reps=100)
    same, pooled = claims_at(at5.models, at5.verdicts, 0.05)
    pd.testing.assert_frame_equal(same, at5.verdicts)
    pd.testing.assert_frame_equal(pooled, at5.pooled)
    for alpha in (0.001, 0.2):  # as if the run had been made at that level
        direct = evaluate_forecasts(fc, alpha=alpha, reps=100)
        restated, pooled = claims_at(at5.models, at5.verdicts, alpha)
        claims = ["claim", "claim_models", "claim_pvalue", "claim_pooled"]
        pd.testing.assert_frame_equal(restated[claims], direct.verdicts[claims])
        pd.testing.assert_frame_equal(pooled.iloc[:1], direct.pooled.iloc[:1])
    assert at5.verdicts["claim"].tolist() == [False, True, True]


def test_identical_run_to_run_and_independent_of_series_order():
    parts = [table(placebo_errors(80, s), series=f"S{s}") for s in range(3)]
    a = evaluate_forecasts(pd.concat(parts, ignore_index=True), reps=100)
    b = evaluate_forecasts(pd.concat(parts[::-1], ignore_index=True), reps=100)
    pd.testing.assert_frame_equal(a.models, evaluate_forecasts(pd.concat(parts), reps=100).models)
    key = ["series", "horizon"]
    pd.testing.assert_frame_equal(
        a.verdicts.sort_values(key).reset_index(drop=True),
        b.verdicts.sort_values(key).reset_index(drop=True),
    )


def test_bad_arguments_name_the_rule():
    fc = table(placebo_errors(40, 0))
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\); got 0"):
        evaluate_forecasts(fc, alpha=0)
    with pytest.raises(ValueError, match="reps must be an integer >= 1; got 0"):
        evaluate_forecasts(fc, reps=0)
    with pytest.raises(ValueError, match=r"max_missing must be a number in \[0, 1\); got 1"):
        evaluate_forecasts(fc, max_missing=1)
    with pytest.raises(ValueError, match="missing \\['actual'\\]"):
        log_errors(fc.drop(columns="actual"))
    with pytest.raises(ValueError, match="one row per \\(series, model, horizon, origin\\)"):
        evaluate_forecasts(pd.concat([fc, fc.iloc[:1]]))
    with pytest.raises(ValueError, match="losses must have a 'naive' column"):
        joint_tests(losses_frame().drop(columns="naive"), 1)


def test_empty_forecasts():
    fc = table(placebo_errors(10, 0)).iloc[:0]
    v = evaluate_forecasts(fc)
    assert v.models.empty and v.verdicts.empty and not v.pooled["claim"].any()


def test_stepm_finding_every_model_in_two_steps():
    # arch 8.0's StepM raises once every model is found better over two or more steps
    rng = np.random.default_rng(0)
    b = rng.standard_normal(250) ** 2 + 1
    losses = pd.DataFrame(
        {
            "naive": b,
            "a": b - 1 + rng.normal(0, 2, 250),
            "b": b - 1 + rng.normal(0, 2, 250),
            "c": b - 0.15 + rng.normal(0, 0.3, 250),
        }
    )
    stepm = StepM(losses["naive"], losses[["a", "b", "c"]], block_size=2, reps=300, seed=1)
    with pytest.raises(ValueError, match="zero-size array"):
        stepm.compute()
    got = joint_tests(losses, 1, reps=300, seed=1)
    assert got.stepm_models == ("a", "b", "c") and got.spa_pvalue == 0.0
