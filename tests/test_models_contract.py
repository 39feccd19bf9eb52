"""One contract, every registered model: shapes, refits, clones, seeds and no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import perturb_after, price_series, tiny
from sklearn.base import clone

from forecast.evaluation.conformal import IntervalSettings
from forecast.models import available_models, get_model
from forecast.walkforward.engine import backtest

MODELS = available_models()


@pytest.fixture(scope="module")
def series():
    return price_series(320, phi=0.2, seed=11)


def make(name):
    return tiny(get_model(name))


@pytest.mark.parametrize("name", MODELS)
def test_fit_predict_shapes(name, series):
    model = make(name)
    assert model.fit(series) is model
    pred = model.predict(4)
    assert list(pred.index) == [1, 2, 3, 4]
    assert pred.index.name == "horizon"
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)
    # from a later origin, with the fitted parameters
    later = model.predict(4, history=series.iloc[:300])
    assert len(later) == 4 and np.all(np.isfinite(later))
    # history equal to the training data gives the same forecast as no history
    np.testing.assert_array_equal(model.predict(4, history=series).to_numpy(), pred.to_numpy())


@pytest.mark.parametrize("name", MODELS)
def test_predict_rejects_bad_horizon_and_unfitted(name, series):
    model = make(name)
    with pytest.raises(RuntimeError, match="call fit"):
        model.predict(1)
    model.fit(series)
    with pytest.raises(ValueError, match="horizon must be an integer >= 1; got 0"):
        model.predict(0)


@pytest.mark.parametrize("name", MODELS)
def test_refit_replaces_and_clone_is_unfitted(name, series):
    a, b = series.iloc[:250], series.iloc[40:]
    model = make(name).fit(a).fit(b)
    fresh = make(name).fit(b)
    assert model.n_train_ == len(b) and model.trained_through_ == fresh.trained_through_
    # warm-started refits (msar, warm_start nets) may land a hair away from a cold fit
    np.testing.assert_allclose(model.predict(3).to_numpy(), fresh.predict(3).to_numpy(), rtol=1e-3)
    copy = clone(model)
    assert not hasattr(copy, "train_log_prices_")
    assert copy.get_params() == model.get_params()


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_output(name, series):
    p1 = make(name).fit(series).predict(5).to_numpy()
    p2 = make(name).fit(series).predict(5).to_numpy()
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("name", MODELS)
def test_batched_origins_equal_single_forecasts(name, series):
    model = make(name).fit(series.iloc[:280])
    y = np.log(series.to_numpy())
    ends = np.array([281, 290, 300, 320])
    batch = model.forecast_log_paths(y, ends, 3)
    for row, end in zip(batch, ends, strict=True):
        single = model.predict(3, history=series.iloc[:end]).to_numpy()
        np.testing.assert_allclose(np.exp(row), single, rtol=1e-9)


@pytest.mark.parametrize("name", MODELS)
def test_leakage_canary(name, series):
    """Change every price from a cutoff on: no forecast made before it may move."""
    cutoff = len(series) - 25
    changed = perturb_after(series, cutoff)
    kwargs = {"horizons": (1, 5), "test_size": 60, "refit_every": 15, "seed": 0,
              "intervals": IntervalSettings(calibration_size=30)}  # fmt: skip
    full_a = backtest(series, {name: make(name)}, **kwargs).forecasts
    full_b = backtest(changed, {name: make(name)}, **kwargs).forecasts
    before = series.index[cutoff]
    a = full_a[(full_a.model == name) & (full_a.origin < before)]
    b = full_b[(full_b.model == name) & (full_b.origin < before)]
    assert len(a) > 0
    # every interval variant, scaled ones included, and the volatility scales too (NaN where
    # a variant has no interval yet counts as equal)
    columns = ["forecast"] + [c for c in a if c.startswith(("lower", "upper", "sigma"))]
    assert {"lower_aci_garch", "upper_conformal_ewma", "sigma", "sigma_ewma"} <= set(columns)
    np.testing.assert_array_equal(a[columns].to_numpy(float), b[columns].to_numpy(float))
    assert a[["lower", "upper", "sigma"]].notna().all().all()
    # the forecasts made after the cutoff do see the change: the canary is alive
    after_a = full_a[(full_a.model == name) & (full_a.origin >= before)]
    after_b = full_b[(full_b.model == name) & (full_b.origin >= before)]
    assert not np.array_equal(after_a.forecast.to_numpy(), after_b.forecast.to_numpy())
