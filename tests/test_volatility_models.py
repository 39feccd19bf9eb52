"""Volatility models: proxies, hand computations, arch's own forecasts, the protocol,
the leakage canary on every model, seeds and model files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from sklearn.base import clone
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

from forecast.errors import DataError, ModelFileError, ModelFitError
from forecast.models.volatility import (
    VOLATILITY_MODELS,
    available_volatility_models,
    get_volatility_model,
)
from forecast.models.volatility.files import (
    load_volatility_model,
    volatility_model_files,
    volatility_model_from_files,
)
from forecast.models.volatility.realized import (
    YANG_ZHANG_K,
    LogOHLC,
    choose_proxy,
    daily_variance,
    horizon_returns,
    log_ohlc,
    realized_variance,
)
from forecast.models.volatility.value_at_risk import unit_quantile, value_at_risk, var_hits

ROOT = Path(__file__).resolve().parents[1]
#: tiny settings for the nets, so that a fit takes a fraction of a second
TINY_NET = {"epochs": 2, "hidden_size": 4, "window": 8, "max_horizon": 3, "patience": None}
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close"]


def small(name: str, **params):
    """A registered model with quick settings."""
    extra = TINY_NET if name in ("lstm", "gru") else {}
    return get_volatility_model(name, **{**extra, **params})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """600 days of IBM: open, high, low, close and adjusted close."""
    full = pd.read_csv(ROOT / "data" / "prices" / "IBM.csv", index_col="Date", parse_dates=True)
    return full.iloc[:600]


def perturbed(frame: pd.DataFrame, cutoff: int, seed: int = 1) -> pd.DataFrame:
    """``frame`` with every price from row ``cutoff`` on moved (each row by its own factor)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    factor = np.exp(rng.normal(0.0, 0.05, len(frame) - cutoff))
    for col in PRICE_COLUMNS:
        out.iloc[cutoff:, out.columns.get_loc(col)] *= factor
    out.iloc[cutoff:, out.columns.get_loc("High")] *= 1.01
    return out


# ---- proxies and targets ------------------------------------------------------------------
def test_range_proxies_by_hand():
    day = pd.DataFrame(
        {"Open": [100.0, 102.0], "High": [101.0, 110.0], "Low": [99.0, 95.0],
         "Close": [100.0, 105.0]}
    )  # fmt: skip
    data = log_ohlc(day)
    o, h, lo, c, c0 = (np.log(v) for v in (102.0, 110.0, 95.0, 105.0, 100.0))
    overnight, session, hl = o - c0, c - o, h - lo
    u, d = h - o, lo - o
    rs = u * (u - session) + d * (d - session)
    expected = {
        "squared_returns": (c - c0) ** 2,
        "parkinson": hl**2 / (4 * np.log(2)) + overnight**2,
        "garman_klass": 0.5 * hl**2 - (2 * np.log(2) - 1) * session**2 + overnight**2,
        "yang_zhang": overnight**2 + YANG_ZHANG_K * session**2 + (1 - YANG_ZHANG_K) * rs,
    }
    for proxy, value in expected.items():
        np.testing.assert_allclose(daily_variance(data, proxy), [value], rtol=1e-14)
    np.testing.assert_allclose(
        daily_variance(data, "parkinson", overnight=False), [hl**2 / (4 * np.log(2))]
    )


def test_adjusted_close_scales_the_range_and_auto_picks_the_proxy(frame):
    data = log_ohlc(frame)
    assert data.has_range and choose_proxy(data) == "yang_zhang"
    np.testing.assert_allclose(data.close, np.log(frame["Adj Close"].to_numpy()))
    shift = np.log(frame["Adj Close"] / frame["Close"]).to_numpy()
    np.testing.assert_allclose(data.high, np.log(frame["High"].to_numpy()) + shift)
    closes = log_ohlc(frame["Adj Close"])
    assert not closes.has_range and choose_proxy(closes) == "squared_returns"
    with pytest.raises(DataError, match="proxy 'parkinson' needs Open, High and Low"):
        choose_proxy(closes, "parkinson")
    with pytest.raises(ValueError, match="proxy must be 'auto' or one of"):
        choose_proxy(data, "range")
    with pytest.raises(DataError, match="needs a 'Close' or 'Adj Close' column"):
        log_ohlc(frame[["Open", "High"]])


def test_realized_variance_and_returns_sum_the_next_days():
    daily = np.array([1.0, 2.0, 3.0, 4.0])  # days 1..4 of a 5-price series
    np.testing.assert_array_equal(realized_variance(daily, 1), [1, 2, 3, 4, np.nan])
    np.testing.assert_array_equal(realized_variance(daily, 3), [6, 9, np.nan, np.nan, np.nan])
    y = np.log([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(horizon_returns(y, 2), [np.log(4), np.log(4), np.nan, np.nan])


# ---- known answers ------------------------------------------------------------------------
def test_naive_is_the_mean_proxy_of_the_last_window(frame):
    model = small("naive", window=20).fit(frame.iloc[:300])
    data = log_ohlc(frame)
    daily = daily_variance(data, "yang_zhang")
    out = model.forecast_variances(data, np.array([300, 451]), 3)
    np.testing.assert_allclose(out[:, 0], [daily[279:299].mean(), daily[430:450].mean()])
    assert np.all(out == out[:, :1])


def test_ewma_matches_a_hand_loop(frame):
    model = small("ewma", decay=0.94, init_window=20).fit(frame.iloc[:200])
    y = np.log(frame["Adj Close"].to_numpy())
    r = np.diff(y)
    s = np.mean(r[:20] ** 2)
    expected = {}
    for t, ret in enumerate(r):  # s becomes the variance of return t + 1
        s = 0.94 * s + 0.06 * ret**2
        expected[t + 2] = s  # prices y[:t + 2] hold returns 0..t
    ends = np.array([21, 200, 350, 600])
    out = model.forecast_variances(y, ends, 4)
    np.testing.assert_allclose(out, np.repeat([[expected[e]] for e in ends], 4, 1), rtol=1e-13)
    assert model.variance_ == pytest.approx(expected[200], rel=1e-13)


def test_har_matches_hand_built_ols_with_smearing(frame):
    model = small("har", max_horizon=2).fit(frame.iloc[:400])
    daily = daily_variance(log_ohlc(frame), "yang_zhang")
    train = daily[:399]
    floor = 1e-3 * train.mean()
    rows = []
    for t in range(21, 399):
        rows.append(
            [1.0, np.log(max(train[t], floor)), np.log(train[t - 4 : t + 1].mean()),
             np.log(train[t - 21 : t + 1].mean())]
        )  # fmt: skip
    x = np.array(rows)
    for k in (1, 2):
        n = 399 - 21 - k
        target = np.log(np.maximum(train[21 + k : 21 + k + n], floor))
        coef = np.linalg.lstsq(x[:n], target, rcond=None)[0]
        np.testing.assert_allclose(model.coef_[k - 1], coef, rtol=1e-10, atol=1e-12)
        smear = np.mean(train[21 + k : 21 + k + n] / np.exp(x[:n] @ coef))
        assert model.correction_[k - 1] == pytest.approx(smear, rel=1e-10)
    # the forecast from price 500: regressors of day index 498, steps past 2 repeat step 2
    t = 498
    reg = np.array([1.0, np.log(max(daily[t], floor)), np.log(daily[t - 4 : t + 1].mean()),
                    np.log(daily[t - 21 : t + 1].mean())])  # fmt: skip
    out = model.forecast_variances(log_ohlc(frame), np.array([500]), 3)[0]
    expected = np.exp(model.coef_ @ reg) * model.correction_
    np.testing.assert_allclose(out, [expected[0], expected[1], expected[1]], rtol=1e-12)


@pytest.mark.parametrize("name,o", [("garch", 0), ("gjr", 1)])
def test_garch_forecasts_equal_arch_forecast_on_the_same_fit(frame, name, o):
    model = small(name).fit(frame.iloc[:500])
    e = np.diff(np.log(frame["Adj Close"].to_numpy())) * 100
    am = arch_model(e[:499], mean="Zero", vol="GARCH", p=1, o=o, q=1, dist="t", rescale=False)
    res = am.fit(disp="off", show_warning=False)
    np.testing.assert_array_equal(model.params_, res.params.to_numpy())
    assert model.nu_ == res.params["nu"] and model.t_dof() == res.params["nu"]
    # from every origin of the training data (arch's start=...) and from its end
    expected = res.forecast(horizon=6, start=100, reindex=False).variance.to_numpy() / 1e4
    out = model.forecast_variances(log_ohlc(frame.iloc[:500]), np.arange(102, 501), 6)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # between refits: the fitted parameters filtered on later data, as arch does with them
    later = arch_model(e, mean="Zero", vol="GARCH", p=1, o=o, q=1, dist="t", rescale=False)
    expected = later.forecast(res.params, horizon=6, start=450, reindex=False).variance
    out = model.forecast_variances(log_ohlc(frame), np.arange(452, 601), 6)
    np.testing.assert_allclose(out, expected.to_numpy() / 1e4, rtol=1e-12)


def test_msrv_forecast_is_the_filtered_regime_mixture(frame):
    model = small("msrv", fit_window=None).fit(frame.iloc[:450])
    t = model.transition_matrix_
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    daily = daily_variance(log_ohlc(frame), "yang_zhang")
    x = np.log(np.maximum(daily, model.floor_)) - model.center_
    sm = MarkovRegression(x[:549], k_regimes=2, trend="c", switching_variance=True)
    probs = sm.filter(model.params_, cov_type="none", return_raw=True)
    q0 = probs.filtered_marginal_probabilities[:, 548]  # the last day before price 550
    out = model.forecast_variances(log_ohlc(frame), np.array([550]), 40)[0]
    expected = [q0 @ np.linalg.matrix_power(t, k) @ model.regime_levels_ for k in range(1, 41)]
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    # far ahead: the stationary mixture of the regime levels
    stationary = np.linalg.matrix_power(t, 10_000)[0]
    far = model.forecast_variances(log_ohlc(frame), np.array([550]), 3000)[0, -1]
    assert far == pytest.approx(stationary @ model.regime_levels_, rel=1e-6)


def test_value_at_risk_quantiles():
    assert unit_quantile(0.01) == pytest.approx(-2.3263478740, abs=1e-9)
    # t with 6 dof has variance 6/4: t.ppf(0.01, 6) = -3.142668, scaled by sqrt(4/6)
    assert unit_quantile(0.01, "t", 6.0) == pytest.approx(-3.1426684 * np.sqrt(4 / 6), abs=1e-6)
    np.testing.assert_allclose(
        value_at_risk([4e-4, 1e-4], 0.05), [1.6448536 * 0.02, 1.6448536 * 0.01], rtol=1e-7
    )
    assert value_at_risk(1e-4, 0.01, "t") > value_at_risk(1e-4, 0.01, "normal")
    np.testing.assert_array_equal(
        var_hits([-0.03, 0.01, np.nan], [0.02, 0.02, 0.02]), [1, 0, np.nan]
    )
    with pytest.raises(ValueError, match="dof must be a number > 2"):
        unit_quantile(0.01, "t", 2.0)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\); got 1.5"):
        value_at_risk(1e-4, 1.5)


# ---- the protocol, on every model ----------------------------------------------------------
ALL = available_volatility_models()


@pytest.mark.parametrize("name", ALL)
def test_leakage_canary(frame, name):
    """Every price from row 520 on changes: no forecast from an origin before it moves."""
    cutoff = 520
    model = small(name).fit(frame.iloc[:450])
    changed = perturbed(frame, cutoff)
    ends = np.concatenate([np.arange(460, cutoff + 1), [cutoff + 30, 600]])
    before = model.forecast_variances(log_ohlc(frame), ends, 5)
    after = model.forecast_variances(log_ohlc(changed), ends, 5)
    early = ends <= cutoff  # data.head(end) ends before row 520
    np.testing.assert_array_equal(before[early], after[early])
    assert not np.array_equal(before[~early], after[~early])  # the canary is alive
    assert before.shape == (len(ends), 5) and np.all(before > 0) and np.all(np.isfinite(before))


@pytest.mark.parametrize("name", ALL)
def test_protocol_contract(frame, name):
    model = small(name)
    assert not hasattr(model, "n_train_")
    assert model.fit(frame.iloc[:400]) is model
    first = model.predict_variance(4)
    assert list(first.index) == [1, 2, 3, 4] and np.all(first > 0)
    # refit replaces the fitted state; clone is unfitted
    model.fit(frame.iloc[100:500])
    assert model.n_train_ == 400 and model.trained_through_ == str(frame.index[499].date())
    assert not np.array_equal(model.predict_variance(4), first)
    assert not hasattr(clone(model), "n_train_")
    # predict_variance(history=...) is forecast_variances at the end of the history
    later = model.predict_variance(3, history=frame.iloc[:560])
    batched = model.forecast_variances(log_ohlc(frame), np.array([560]), 3)[0]
    np.testing.assert_array_equal(later.to_numpy(), batched)
    vol = model.forecast_volatility(log_ohlc(frame), np.array([560]), 3)[0]
    np.testing.assert_allclose(vol, np.sqrt(np.cumsum(batched)))
    with pytest.raises(ValueError, match="horizon must be an integer >= 1; got 0"):
        model.forecast_variances(log_ohlc(frame), np.array([560]), 0)
    with pytest.raises(DataError, match="ends must lie in"):
        model.forecast_variances(log_ohlc(frame), np.array([601]), 1)


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_output(frame, name):
    data, ends = log_ohlc(frame), np.arange(450, 460)
    a = small(name).fit(frame.iloc[:400]).forecast_variances(data, ends, 3)
    b = small(name).fit(frame.iloc[:400]).forecast_variances(data, ends, 3)
    np.testing.assert_array_equal(a, b)
    if VOLATILITY_MODELS[name].stochastic:
        c = small(name, seed=1).fit(frame.iloc[:400])
        assert not np.array_equal(a, c.forecast_variances(data, ends, 3))


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip(frame, name, tmp_path):
    model = small(name).fit(frame.iloc[:400])
    path = model.save(tmp_path / f"{name}.json")
    loaded = load_volatility_model(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    ends = np.arange(450, 470)
    np.testing.assert_array_equal(
        loaded.forecast_variances(log_ohlc(frame), ends, 5),
        model.forecast_variances(log_ohlc(frame), ends, 5),
    )
    np.testing.assert_array_equal(loaded.predict_variance(3), model.predict_variance(3))
    assert loaded.t_dof() == model.t_dof()
    manifest = json.loads(path.read_text())
    assert manifest["target"] == "volatility" and manifest["model"] == name
    assert (manifest["weights"] is not None) == VOLATILITY_MODELS[name].stochastic


def test_model_files_refuse_tampering_and_price_files(frame):
    files = volatility_model_files(small("gru").fit(frame.iloc[:300]), "m.json")
    assert set(files) == {"m.pt", "m.json"}
    bad = dict(files, **{"m.pt": files["m.pt"][:-1] + b"x"})
    with pytest.raises(ModelFileError, match="sha256"):
        volatility_model_from_files(bad, "m.json")
    manifest = json.loads(files["m.json"])
    manifest.pop("target")  # a price model's manifest has no target
    with pytest.raises(ModelFileError, match="not a volatility model file"):
        volatility_model_from_files({"m.json": json.dumps(manifest).encode()}, "m.json")
    with pytest.raises(RuntimeError, match="call fit"):
        volatility_model_files(small("har"))


def test_errors_name_the_argument(frame):
    with pytest.raises(ValueError, match="unknown volatility model 'foo'; valid"):
        get_volatility_model("foo")
    with pytest.raises(ValueError, match=r"decay must be a number in \(0, 1\); got 1.2"):
        small("ewma", decay=1.2).fit(frame)
    with pytest.raises(ValueError, match="dist must be one of 't', 'normal'; got 'skewt'"):
        small("garch", dist="skewt").fit(frame)
    with pytest.raises(ModelFitError, match="har: needs at least 95 training prices; got 50"):
        small("har").fit(frame.iloc[:50])
    closes = small("har").fit(frame["Adj Close"].iloc[:300])
    assert closes.proxy_ == "squared_returns"
    ranged = small("har").fit(frame.iloc[:300])
    with pytest.raises(DataError, match="fitted on the yang_zhang proxy, which needs Open"):
        ranged.forecast_variances(np.log(frame["Adj Close"].to_numpy()), np.array([400]), 1)


def test_a_close_only_series_works_end_to_end(frame):
    closes = frame["Adj Close"]
    for name in ("naive", "ewma", "garch", "har", "msrv"):
        model = small(name).fit(closes.iloc[:450])
        out = model.forecast_variances(LogOHLC(np.log(closes.to_numpy())), np.array([500]), 2)
        assert np.all(np.isfinite(out)) and np.all(out > 0)


# ---- the walk (the engine's, see also tests/test_volatility_engine.py) ---------------------
def test_walk_rows_and_no_look_ahead(frame):
    from forecast.walkforward.volatility import backtest_volatility

    frame = frame.copy()
    frame.attrs["name"] = "IBM"

    def walk(data):
        return backtest_volatility(data, {"har": small("har")}, test_size=119, reps=10)

    table = walk(frame).forecasts
    table = table[table.model == "har"].reset_index(drop=True)
    assert len(table) == 119 + (119 - 4)  # h=5 needs 5 prices after
    row = table[(table.horizon == 5)].iloc[0]
    daily = daily_variance(log_ohlc(frame), "yang_zhang")
    assert row["realized"] == pytest.approx(daily[480:485].sum())
    assert row["var_5"] == pytest.approx(1.6448536 * np.sqrt(row["variance_forecast"]), rel=1e-6)
    assert row["target_date"] == frame.index[485] and row["proxy"] == "yang_zhang"
    changed = walk(perturbed(frame, 530)).forecasts
    changed = changed[changed.model == "har"].reset_index(drop=True)
    early = table["origin"] < frame.index[530]
    cols = ["variance_forecast", "var_1", "var_5", "var_1_t", "var_5_t"]
    pd.testing.assert_frame_equal(table.loc[early, cols], changed.loc[early, cols])
    assert not table.loc[~early, cols].equals(changed.loc[~early, cols])


def test_msrv_averages_squared_returns_so_that_ties_cannot_degenerate():
    """On GOOG's closes up to 2012-12 (1000 days), the daily log squared returns tie at the
    floor and BFGS runs into a regime of variance 0; 5-day means have no ties."""
    closes = pd.read_csv(ROOT / "data" / "prices" / "GOOG.csv", index_col="Date")["Adj Close"]
    window = closes.iloc[1117:2118]
    with pytest.raises(ModelFitError, match="did not converge"):
        small("msrv", average=1).fit(window)
    model = small("msrv").fit(window)
    assert model.average_ == 5 and np.all(model.regime_variances_ > 0.05)


def test_net_parameters_are_checked(frame):
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\); got 'x'"):
        small("lstm", dropout="x").fit(frame)
    with pytest.raises(ValueError, match=r"window must be an integer >= 2; got 1"):
        small("gru", window=1).fit(frame)
