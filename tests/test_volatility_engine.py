"""The volatility engine: rows, scores, failures as rows, executors, the leakage canary on
every volatility model, train size, close-only series, run files and the OHLC loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forecast.data.ohlc import load_price_frame
from forecast.data.series import embedded_dir
from forecast.errors import DataError
from forecast.evaluation.volatility import VAR_TEST_COLUMNS
from forecast.evaluation.volatility_verdicts import VERDICT_COLUMNS, volatility_verdicts
from forecast.execution.process_pool import ProcessExecutor
from forecast.models.volatility import available_volatility_models, get_volatility_model
from forecast.models.volatility.baselines import NaiveVolatility
from forecast.models.volatility.realized import daily_variance, log_ohlc
from forecast.walkforward.volatility import METRIC_COLUMNS, backtest_volatility
from forecast.walkforward.volatility_files import (
    read_volatility_run,
    run_target,
    write_volatility_run,
)
from forecast.walkforward.volatility_walk import VOLATILITY_COLUMNS

TINY_NET = {"epochs": 2, "hidden_size": 4, "window": 8, "max_horizon": 3, "patience": None}
PRICES = ["Open", "High", "Low", "Close", "Adj Close"]


def small(name: str):
    return get_volatility_model(name, **(TINY_NET if name in ("lstm", "gru") else {}))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """700 days of IBM's open, high, low and close, named IBM."""
    full = load_price_frame(embedded_dir() / "IBM.csv")
    out = full.iloc[:700].copy()
    out.attrs = dict(full.attrs)
    return out


def perturbed(frame: pd.DataFrame, cutoff: int) -> pd.DataFrame:
    """Every price from row ``cutoff`` on moved, each row by its own factor, highs more."""
    rng = np.random.default_rng(1)
    out = frame.copy()
    factor = np.exp(rng.normal(0.0, 0.05, len(frame) - cutoff))
    for col in PRICES:
        out.iloc[cutoff:, out.columns.get_loc(col)] *= factor
    out.iloc[cutoff:, out.columns.get_loc("High")] *= 1.01
    out.attrs = dict(frame.attrs)
    return out


@pytest.fixture(scope="module")
def run(frame):
    return backtest_volatility(frame, ["naive", "ewma", "har"], test_size=60, refit_every=20,
                               reps=200)  # fmt: skip


def test_rows_follow_the_engine_semantics(frame, run):
    fc = run.forecasts
    assert list(fc.columns) == VOLATILITY_COLUMNS
    n = len(frame)
    for h in (1, 5):
        rows = fc[(fc.model == "har") & (fc.horizon == h)]
        origins = np.array([frame.index.get_loc(o) for o in rows["origin"]])
        # origins n-61 .. n-2, kept while the target is inside the data
        assert list(origins) == list(range(n - 61, n - 1 - (h - 1)))
        assert list(rows["target_date"]) == list(frame.index[origins + h])
    row = fc[(fc.model == "ewma") & (fc.horizon == 5)].iloc[3]
    o = frame.index.get_loc(row["origin"])
    daily = daily_variance(log_ohlc(frame), "yang_zhang")
    assert row["realized"] == pytest.approx(daily[o : o + 5].sum())
    assert row["return"] == pytest.approx(np.log(frame["Adj Close"].iloc[o + 5] /
                                                 frame["Adj Close"].iloc[o]))  # fmt: skip
    assert row["var_5"] == pytest.approx(1.6448536 * np.sqrt(row["variance_forecast"]), rel=1e-6)
    assert row["var_1"] == pytest.approx(2.3263479 * np.sqrt(row["variance_forecast"]), rel=1e-6)
    assert row["var_1_t"] > row["var_1"] and row["var_5_t"] < row["var_5"]  # fat tails
    assert (fc["proxy"] == "yang_zhang").all() and (fc["t_dof"] == 6.0).all()
    # the naive model's forecast is the mean proxy of the 20 days up to the origin
    naive = fc[(fc.model == "naive") & (fc.horizon == 1)].iloc[0]
    o = frame.index.get_loc(naive["origin"])
    assert naive["variance_forecast"] == pytest.approx(daily[o - 20 : o].mean())


def test_metrics_scores_mcs_and_var_tests(run):
    m = run.metrics
    assert list(m.columns) == METRIC_COLUMNS and len(m) == 6
    naive = m[m.model == "naive"]
    assert (naive["rel_qlike"] == 1.0).all() and naive["dm_qlike_pvalue"].isna().all()
    others = m[m.model != "naive"]
    assert others["dm_qlike_pvalue"].between(0, 1).all() and others["rel_mse"].gt(0).all()
    assert m["mcs_pvalue"].between(0, 1).all()
    assert (m["in_mcs"] == (m["mcs_pvalue"] > 0.10)).all()
    assert m["mcs_pvalue"].max() == 1.0  # the best model's MCS p-value
    assert list(run.var_tests.columns) == VAR_TEST_COLUMNS and len(run.var_tests) == 3 * 2 * 4
    assert m["var_1_p_uc"].between(0, 1).all() and m["var_5_t_rate"].between(0, 1).all()
    assert list(run.verdicts.columns) == VERDICT_COLUMNS and len(run.verdicts) == 2
    assert run.verdicts["block_size"].ge(run.verdicts["horizon"]).all()
    assert run.config["target"] == "volatility" and run.failures.empty
    # the same seed gives the same bootstrap
    again = volatility_verdicts(run.forecasts, reps=200)
    pd.testing.assert_frame_equal(again.verdicts, run.verdicts)


def test_failing_folds_are_rows_and_the_other_models_go_on(frame):
    class Fragile(NaiveVolatility):
        """Fails to fit on more than 650 prices: the last two folds fail."""

        def _fit(self, data):
            if len(data) > 650:
                raise RuntimeError("too long for me")
            super()._fit(data)

    class Broken(NaiveVolatility):
        def _variances(self, data, ends, horizon):
            return -super()._variances(data, ends, horizon)  # not positive: refused

    models = {"naive": NaiveVolatility(), "fragile": Fragile(), "broken": Broken()}
    out = backtest_volatility(frame, models, test_size=60, refit_every=20, reps=50)
    f = out.failures
    assert set(f["model"]) == {"fragile", "broken"}
    assert (f.loc[f.model == "fragile", "stage"] == "fit").all()
    assert (f.loc[f.model == "broken", "stage"] == "predict").all()
    assert f.loc[f.model == "broken", "error"].str.contains("not positive finite").all()
    assert len(f[f.model == "broken"]) == 3 and len(f[f.model == "fragile"]) == 2
    m = out.metrics.set_index(["model", "horizon"])
    assert m.loc[("broken", 1), "n"] == 0 and np.isnan(m.loc[("broken", 1), "rel_qlike"])
    assert m.loc[("fragile", 1), "n"] == 20 and m.loc[("naive", 1), "n"] == 60
    t = out.timings.set_index("model")
    assert t.loc["fragile", "n_failed"] == 2 and t.loc["broken", "n_fits"] == 3


def test_worker_processes_give_the_serial_results_bit_for_bit(frame):
    closes = frame["Adj Close"].rename("IBMc")
    args = ([frame, closes], ["naive", "garch", "har"])
    kwargs = {"test_size": 40, "refit_every": 20, "reps": 50}
    serial = backtest_volatility(*args, **kwargs)
    with ProcessExecutor(2) as pool:
        parallel = backtest_volatility(*args, **kwargs, executor=pool)
    for name in ("forecasts", "metrics", "var_tests", "verdicts", "failures"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(parallel, name))
    assert set(serial.forecasts["series"]) == {"IBM", "IBMc"}


@pytest.mark.parametrize("name", available_volatility_models())
def test_leakage_canary_through_the_engine(frame, name):
    """Every price from row 670 on changes: no forecast from an origin before it moves."""
    cutoff = 670
    kwargs = {"test_size": 40, "refit_every": 10, "reps": 20}
    a = backtest_volatility(frame, {name: small(name)}, **kwargs).forecasts
    b = backtest_volatility(perturbed(frame, cutoff), {name: small(name)}, **kwargs).forecasts
    cols = ["variance_forecast", "var_1", "var_5", "var_1_t", "var_5_t", "t_dof"]
    for model in a["model"].unique():
        x, y = a[a.model == model], b[b.model == model]
        early = x["origin"] < frame.index[cutoff]
        assert early.sum() > 0 and (~early).sum() > 0
        pd.testing.assert_frame_equal(
            x.loc[early, cols].reset_index(drop=True), y.loc[early, cols].reset_index(drop=True)
        )
        assert not np.array_equal(x.loc[~early, cols], y.loc[~early, cols])  # alive


def test_train_size_limits_every_fit(frame):
    seen = []

    class Spy(NaiveVolatility):
        def _fit(self, data):
            seen.append(len(data))
            super()._fit(data)

    backtest_volatility(frame, {"naive": Spy()}, test_size=30, refit_every=10, train_size=200,
                        reps=10)  # fmt: skip
    assert seen == [200, 200, 200]
    seen.clear()
    backtest_volatility(frame, {"naive": Spy()}, test_size=30, refit_every=10, reps=10)
    assert seen == [len(frame) - 30, len(frame) - 20, len(frame) - 10]


def test_a_close_only_series_uses_squared_returns_and_says_so(frame):
    closes = frame["Adj Close"].rename("closes")
    out = backtest_volatility(closes, ["naive", "har"], test_size=30, reps=10)
    assert (out.forecasts["proxy"] == "squared_returns").all()
    info = out.series_info.iloc[0]
    assert info["proxy"] == "squared_returns" and not info["range"]
    assert info["range_note"] == "close prices only"
    with pytest.raises(ValueError, match=r"series 'closes': proxy 'parkinson' needs Open"):
        backtest_volatility(closes, ["har"], test_size=30, proxy="parkinson")
    # an explicit proxy on a frame with a range is every model's target and model proxy
    sq = backtest_volatility(frame, ["har"], test_size=30, proxy="squared_returns", reps=10)
    assert (sq.forecasts["proxy"] == "squared_returns").all()


def test_bad_arguments_are_named(frame):
    with pytest.raises(ValueError, match="proxy must be one of auto, yang_zhang"):
        backtest_volatility(frame, ["har"], proxy="range")
    with pytest.raises(ValueError, match="test_size must leave at least 2 rows"):
        backtest_volatility(frame, ["har"], test_size=699)
    with pytest.raises(ValueError, match="unknown volatility model 'ar'"):
        backtest_volatility(frame, ["ar"])
    with pytest.raises(TypeError, match="data must be price frames or series; item 0 is int"):
        backtest_volatility([3], ["har"])
    with pytest.raises(ValueError, match="series names must be unique; 'IBM' appears twice"):
        backtest_volatility([frame, frame], ["har"])


def test_run_files_round_trip(run, tmp_path):
    written = write_volatility_run(run, tmp_path / "v", arguments={"x": 1})
    back = read_volatility_run(tmp_path / "v")
    for name in ("forecasts", "metrics", "var_tests", "verdicts"):
        pd.testing.assert_frame_equal(getattr(written, name), getattr(back, name),
                                      check_dtype=False)  # fmt: skip
    assert back.run == written.run and back.run["target"] == "volatility"
    assert run_target(tmp_path / "v") == "volatility" and run_target(tmp_path) == "price"
    (tmp_path / "v" / "metrics.csv").write_text("series,model\nA,b\n")
    with pytest.raises(DataError, match=r"metrics.csv: malformed: missing columns"):
        read_volatility_run(tmp_path / "v")


def test_load_price_frame_keeps_the_range_only_when_every_row_has_it(tmp_path):
    full = pd.read_csv(embedded_dir() / "GOOG.csv").iloc[:50]
    frame = load_price_frame(embedded_dir() / "GOOG.csv")
    assert list(frame.columns) == PRICES and frame.attrs["range"]
    assert frame.attrs["name"] == "GOOG" and frame.attrs["column"] == "Adj Close"
    assert frame.attrs["content_hash"].startswith("sha256:")
    raw_close = load_price_frame(embedded_dir() / "GOOG.csv", "Close")
    assert list(raw_close.columns) == ["Open", "High", "Low", "Close"]
    bad = full.copy()
    bad.loc[7, "Low"] = 0.0
    bad.to_csv(tmp_path / "bad.csv", index=False)
    close_only = load_price_frame(tmp_path / "bad.csv")
    assert list(close_only.columns) == ["Adj Close"] and not close_only.attrs["range"]
    assert "1 of 50 rows lack a positive Open/High/Low/Close" in close_only.attrs["range_note"]
    full[["Date", "Close"]].rename(columns={"Close": "Price"}).to_csv(tmp_path / "p.csv",
                                                                      index=False)  # fmt: skip
    price = load_price_frame(tmp_path / "p.csv", "Price")
    assert (
        list(price.columns) == ["Close"] and "not Close or Adj Close" in price.attrs["range_note"]
    )
    ticker = load_price_frame("GSPC", start="2018-01-01")
    assert ticker.attrs["source"] == "embedded" and ticker.index[0] >= pd.Timestamp("2018-01-01")
    with pytest.raises(DataError, match="no 'Date' column"):
        full.drop(columns="Date").to_csv(tmp_path / "n.csv", index=False)
        load_price_frame(tmp_path / "n.csv")


def test_models_are_cloned_never_fitted_in_place(frame):
    har = get_volatility_model("har")
    backtest_volatility(frame, {"har": har}, test_size=20, reps=10)
    assert not hasattr(har, "n_train_") and clone(har).get_params() == har.get_params()
