"""Known answers for the naive, drift and AR baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import price_series

from forecast.errors import ModelFitError
from forecast.models import ARForecaster, DriftForecaster, NaiveForecaster
from forecast.walkforward.engine import backtest


def constant_growth(n=300, g=0.001):
    idx = pd.bdate_range("2015-01-01", periods=n, name="date")
    return pd.Series(50.0 * np.exp(g * np.arange(n)), index=idx, name="G")


def test_naive_repeats_the_last_price():
    s = price_series(50)
    pred = NaiveForecaster().fit(s).predict(3)
    assert (pred == s.iloc[-1]).all()


def test_drift_is_exact_on_a_constant_log_return_series():
    s = constant_growth()
    model = DriftForecaster().fit(s.iloc[:200])
    assert model.drift_ == pytest.approx(0.001, rel=1e-12)
    res = backtest(s, ["drift"], horizons=(1, 5), test_size=50, refit_every=10)
    m = res.metrics.set_index(["model", "horizon"])
    assert m.loc[("drift", 1), "mae"] < 1e-9
    assert m.loc[("drift", 5), "mae"] < 1e-9
    assert m.loc[("drift", 1), "direction_acc"] == 1.0


def test_ar_recovers_the_coefficient_of_an_ar1_return_series():
    s = price_series(4000, phi=0.5, sigma=0.01, mu=0.0, seed=3)
    model = ARForecaster(max_lags=5).fit(s)
    assert model.lags_ == [1]
    assert model.coef_[0] == pytest.approx(0.5, abs=0.04)  # se ~ sqrt((1-phi^2)/n) = 0.014


def test_ar_forecast_is_the_recursion_of_its_coefficients():
    s = price_series(1000, phi=0.4, seed=4)
    m = ARForecaster(max_lags=3).fit(s)
    y = np.log(s.to_numpy())
    r = list(np.diff(y))
    level = y[-1]
    expected = []
    for _ in range(3):
        nxt = m.const_ + sum(c * r[-lag] for c, lag in zip(m.coef_, m.lags_, strict=True))
        r.append(nxt)
        level += nxt
        expected.append(np.exp(level))
    np.testing.assert_allclose(m.predict(3).to_numpy(), expected, rtol=1e-12)


def test_ar_order_selection_uses_training_data_only():
    s = price_series(600, phi=0.0, seed=8)
    a = ARForecaster().fit(s.iloc[:400])
    b = ARForecaster().fit(pd.concat([s.iloc[:400], s.iloc[400:] * 3]).iloc[:400])
    assert a.lags_ == b.lags_
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_ar_rejects_constant_returns():
    with pytest.raises(ModelFitError, match="constant"):
        ARForecaster().fit(constant_growth())


def test_ar_needs_enough_data():
    with pytest.raises(ModelFitError, match=r"ar: needs at least 32 training prices; got 20"):
        ARForecaster().fit(price_series(20))
