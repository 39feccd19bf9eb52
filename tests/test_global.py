"""Global models: one fit on many series, per-series scaling, the embedding, pooled ridge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import price_series

import forecast
from forecast.errors import ModelFitError
from forecast.models import get_model

SMALL = {"window": 6, "hidden_size": 4, "epochs": 3, "max_horizon": 3, "batch_size": 32}


@pytest.fixture(scope="module")
def panel():
    return {
        "A": price_series(300, phi=0.2, seed=1, name="A"),
        "B": price_series(260, phi=-0.1, sigma=0.02, seed=2, name="B"),
    }


@pytest.mark.parametrize(
    ("name", "patience"), [("lstm", 2), ("gru", None), ("elman", None), ("lecture_rnn", None)]
)
def test_a_global_net_on_one_series_is_the_per_series_net(name, patience):
    """Same windows, same validation tail, same seeds: the same weights, bit for bit."""
    s = price_series(300, phi=0.2, seed=4)
    local = get_model(name, **SMALL, patience=patience).fit(s)
    one = get_model(f"global_{name}", **SMALL, patience=patience).fit(s)
    np.testing.assert_array_equal(one.predict(5).to_numpy(), local.predict(5).to_numpy())
    assert one.n_epochs_ == local.n_epochs_


def test_each_series_is_scaled_by_its_own_past(panel):
    """Returns of B scaled by 10: the standardised panel is unchanged, so is the net, and B's
    forecast returns are exactly 10 times as large; A's do not move."""
    model = get_model("global_lstm", **SMALL, patience=None).fit(panel)
    for k, name in enumerate(model.series_):
        r = np.diff(np.log(panel[name].to_numpy()))
        assert model.mean_[k] == pytest.approx(r.mean()) and model.scale_[k] == pytest.approx(
            r.std()
        )
    b = panel["B"]
    louder = pd.Series(np.exp(10 * np.log(b.to_numpy() / b.iloc[0])), index=b.index, name="B")
    scaled = get_model("global_lstm", **SMALL, patience=None).fit({"A": panel["A"], "B": louder})
    ya, yb, yl = (np.log(s.to_numpy()) for s in (panel["A"], b, louder))
    ends = np.array([100, 200, 260])
    np.testing.assert_array_equal(
        scaled.forecast_log_paths(ya, ends, 4, series="A"),
        model.forecast_log_paths(ya, ends, 4, series="A"),
    )
    moves = model.forecast_log_paths(yb, ends, 4, series="B") - yb[ends - 1, None]
    loud = scaled.forecast_log_paths(yl, ends, 4, series="B") - yl[ends - 1, None]
    np.testing.assert_allclose(loud, 10 * moves, rtol=1e-9, atol=1e-12)


def test_the_embedding_tells_series_apart_and_survives_a_round_trip(panel, tmp_path):
    model = get_model("global_gru", **{**SMALL, "epochs": 2}, embedding_dim=3).fit(panel)
    net = model.nets_[0]
    assert net.embedding.weight.shape == (2, 3) and net.rnn.input_size == 4
    y = np.log(panel["A"].to_numpy())
    ends = np.array([200, 250])  # the same window read as A and as B: two forecasts
    as_a = model.forecast_log_paths(y, ends, 2, series="A")
    as_b = model.forecast_log_paths(y, ends, 2, series="B")
    assert not np.array_equal(as_a, as_b)
    loaded = forecast.load_model(model.save(tmp_path / "g.json"))
    np.testing.assert_array_equal(loaded.forecast_log_paths(y, ends, 2, series="B"), as_b)
    for series in ("A", "B"):
        np.testing.assert_array_equal(
            loaded.predict(3, series=series).to_numpy(), model.predict(3, series=series)
        )


def test_warm_starts_keep_the_embedding_only_for_the_same_series(panel):
    model = get_model("global_lstm", **SMALL, embedding_dim=2, warm_start=True)
    model.fit(panel)
    assert not model.warm_started_
    model.fit({k: s.iloc[:-5] for k, s in panel.items()})
    assert model.warm_started_
    model.fit({"B": panel["B"], "A": panel["A"]})  # other rows of the embedding: cold
    assert not model.warm_started_


def test_series_names_short_series_and_covariates_are_checked(panel):
    model = get_model("global_rnn", **SMALL).fit({**panel, "C": panel["A"].iloc[:15]})
    assert model.series_ == ["A", "B"] and model.skipped_ == ["C"]
    with pytest.raises(ValueError, match="series must name one of the 2 series"):
        model.predict(2)
    with pytest.raises(ValueError, match=r"series 'C' was not in the fit .*too short"):
        model.predict(2, series="C")
    with pytest.raises(ModelFitError, match="no series has the 19 training prices"):
        get_model("global_rnn", **SMALL).fit({"C": panel["A"].iloc[:15]})
    with pytest.raises(ValueError, match="needs exog of 'A'"):
        get_model("global_rnn+x", **SMALL).fit(panel)
    with pytest.raises(ValueError, match="predictive distribution"):
        model.predict_interval(2)


def test_pooled_ridge_recovers_a_common_ar1_coefficient():
    """Three series with the same AR(1), phi = 0.3: the pooled regression finds phi at h = 1
    on the last lag and phi^2 at h = 2 (standardised returns: the same coefficients)."""
    panel = {k: price_series(2000, phi=0.3, seed=10 + i, name=k) for i, k in enumerate("XYZ")}
    model = get_model("global_ridge", window=3, max_horizon=2, alpha=1e-6).fit(panel)
    assert model.coef_.shape == (2, 3)
    assert model.coef_[0, -1] == pytest.approx(0.3, abs=0.03)
    assert model.coef_[1, -1] == pytest.approx(0.09, abs=0.03)
    assert np.abs(model.coef_[:, :-1]).max() < 0.05
