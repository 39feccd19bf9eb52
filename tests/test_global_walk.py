"""The walk of a global model: refits by date on every series, and the cross-series canary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import perturb_after, price_series, tiny

from forecast.evaluation.conformal import IntervalSettings
from forecast.models import get_model
from forecast.walkforward.engine import backtest

SETTINGS = {"horizons": (1, 3), "test_size": 40, "refit_every": 10, "seed": 0}
COLUMNS = ["forecast", "lower", "upper", "lower_model", "upper_model", "lower_aci"]


def aligned(n=260):
    return [price_series(n, phi=phi, seed=20 + i, name=k)
            for i, (k, phi) in enumerate([("A", 0.2), ("B", -0.1), ("C", 0.0)])]  # fmt: skip


def covariates_of(series, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for s in series:
        x = pd.DataFrame({"m": rng.normal(size=len(s)), "v": rng.normal(size=len(s))}, s.index)
        out[s.name] = x
    return out


@pytest.mark.parametrize("name", ["global_lstm+x", "global_ridge+x"])
def test_changing_one_series_after_a_cutoff_moves_no_earlier_forecast_of_any_series(name):
    """The leakage canary across series: B's prices and covariates change from a cutoff on;
    no forecast (nor interval) of A, B or C made before the cutoff may move, and A's later
    forecasts do (the refits after the cutoff learnt from B's new data: the canary is alive)."""
    series = aligned()
    cov = covariates_of(series)
    cutoff = len(series[1]) - 25
    changed = [perturb_after(s, cutoff) if s.name == "B" else s for s in series]
    cov_b = {**cov, "B": cov["B"].copy()}
    cov_b["B"].iloc[cutoff:] += 3.0
    kwargs = {**SETTINGS, "intervals": IntervalSettings(calibration_size=20)}
    model = tiny(get_model(name))
    covs = (cov, cov_b) if model.uses_exog else (None, None)
    a = backtest(series, {name: model}, covariates=covs[0], **kwargs).forecasts
    b = backtest(changed, {name: model}, covariates=covs[1], **kwargs).forecasts
    before = series[0].index[cutoff]
    early_a, early_b = (f[(f.model == name) & (f.origin < before)] for f in (a, b))
    assert set(early_a.series) == {"A", "B", "C"} and len(early_a) == len(early_b)
    np.testing.assert_array_equal(
        early_a[COLUMNS].to_numpy(float), early_b[COLUMNS].to_numpy(float)
    )
    later_a = a[(a.model == name) & (a.series == "A") & (a.origin > before)]
    later_b = b[(b.model == name) & (b.series == "A") & (b.origin > before)]
    assert not np.array_equal(later_a.forecast.to_numpy(), later_b.forecast.to_numpy())


def test_one_fit_per_refit_date_serves_every_aligned_series():
    series = aligned()
    result = backtest(series, {"g": tiny(get_model("global_rnn"))}, **SETTINGS, intervals=None)
    timings = result.timings[result.timings.model == "g"]
    assert timings.n_fits.tolist() == [4, 4, 4]  # 40 origins, refit every 10: 4 dates
    assert timings.fit_seconds.nunique() == 1  # one fit time, shared equally
    assert set(result.metrics[result.metrics.model == "g"].series) == {"A", "B", "C"}
    assert result.failures.empty


def test_series_on_different_dates_fit_on_each_ones_refit_dates():
    """A longer series (ending later) has its own test period; the global model refits on its
    dates too, with every series' data up to each of them."""
    short = aligned()
    long = price_series(320, phi=0.1, seed=9, name="L")  # 60 sessions more
    result = backtest([*short, long], {"g": tiny(get_model("global_ridge"))}, **SETTINGS,
                      intervals=None)  # fmt: skip
    t = result.timings[result.timings.model == "g"].set_index("series")
    assert t.loc["A", "n_fits"] == 8  # 4 dates of the 3 aligned series + 4 of L
    origins = result.forecasts.groupby("series").origin.max()
    assert origins["L"] > origins["A"]


def test_a_series_too_short_for_a_fit_fails_alone_until_it_is_long_enough():
    """S has 20 prices at its first refit date (it needs 21 to join a fit): that fold fails,
    for S only; from its next refit date on, S is in the fit and forecast."""
    series = aligned()
    tiny_one = price_series(50, seed=3, name="S", start="2010-09-01")  # ends with the others
    result = backtest([*series, tiny_one], {"g": tiny(get_model("global_lstm"))},
                      **{**SETTINGS, "test_size": 30}, intervals=None)  # fmt: skip
    failed = result.failures[result.failures.model == "g"]
    assert failed.series.tolist() == ["S"] and "not in the fit" in failed.error.iat[0]
    assert failed.origin.iat[0] == f"{tiny_one.index[19]:%Y-%m-%d}"
    g = result.forecasts[result.forecasts.model == "g"]
    assert set(g.series) == {"A", "B", "C", "S"}
    assert g[g.series == "S"].origin.min() == tiny_one.index[29]


def test_models_with_covariates_need_them_and_frames_must_match():
    series = aligned()
    with pytest.raises(ValueError, match="model 'ar\\+x' reads covariates but none were given"):
        backtest(series, ["ar+x"], **SETTINGS)
    cov = covariates_of(series)
    cov["B"] = cov["B"].iloc[1:]
    with pytest.raises(ValueError, match="covariates of series 'B' must be on the series' own"):
        backtest(series, ["ar+x"], covariates=cov, **SETTINGS)


def test_plain_models_in_a_covariate_run_never_see_the_covariates():
    series = aligned()
    cov = covariates_of(series)
    with_cov = backtest(series, ["ar", "ar+x"], covariates=cov, **SETTINGS, intervals=None)
    without = backtest(series, ["ar"], **SETTINGS, intervals=None)
    a = with_cov.forecasts[with_cov.forecasts.model == "ar"].reset_index(drop=True)
    b = without.forecasts[without.forecasts.model == "ar"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert with_cov.config["covariates"] == ["m", "v"]
