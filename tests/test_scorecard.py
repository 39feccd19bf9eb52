"""The live scorecard: known answers, and a 30-session backfill checked by direct computation
(accuracy and the live coverage of the stored intervals)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from job_helpers import BASELINES, dump, job_config, query, sessions

from forecast.data.loading import load_prices
from forecast.job.runner import run_job
from forecast.job.ticker import score_forecasts
from forecast.store.database import StoreError
from forecast.store.scorecard import (
    SCORECARD_COLUMNS,
    compute_scorecard,
    format_scorecard,
    scorecard,
)


def _rows(model, forecasts, actuals, last=100.0, horizon=1):
    return pd.DataFrame(
        {
            "ticker": "X",
            "model": model,
            "horizon": horizon,
            "as_of": [f"2020-01-{i + 1:02d}" for i in range(len(forecasts))],
            "target_date": [f"2020-02-{i + 1:02d}" for i in range(len(forecasts))],
            "forecast": forecasts,
            "last_price": last,
            "actual": actuals,
            "error": np.asarray(forecasts, float) - np.asarray(actuals, float),
            "naive_error": last - np.asarray(actuals, float),
            "direction_hit": [
                None if a == last else int(np.sign(f - last) == np.sign(a - last))
                for f, a in zip(forecasts, actuals, strict=True)
            ],
            "scored": 1,
        }
    )


def test_known_answers():
    # actual moves: +2, -4, 0, +2; the model says up, up, up, down
    table = compute_scorecard(
        pd.concat(
            [
                _rows("m", [101.0, 101.0, 101.0, 99.0], [102.0, 96.0, 100.0, 102.0]),
                _rows("naive", [100.0] * 4, [102.0, 96.0, 100.0, 102.0]),
            ]
        )
    )
    assert list(table.columns) == SCORECARD_COLUMNS
    m = table.set_index("model").loc["m"]
    assert m["n"] == 4 and m["pending"] == 0
    assert m["mae"] == pytest.approx((1 + 5 + 1 + 3) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 25 + 1 + 9) / 4))
    assert m["rel_mae"] == pytest.approx(10 / 8)  # random walk: 2 + 4 + 0 + 2
    assert m["hit_rate"] == pytest.approx(1 / 3)  # the unmoved target is left out
    naive = table.set_index("model").loc["naive"]
    assert naive["rel_mae"] == 1.0 and math.isnan(naive["hit_rate"])


def test_interval_columns_known_answers():
    rows = _rows("m", [100.0] * 5, [95.0, 99.0, 100.0, 104.0, 108.0])
    rows["lower"] = [96.0, 96.0, None, 90.0, 90.0]  # the third has no interval (NaN)
    rows["upper"] = [104.0, 104.0, None, 110.0, 110.0]
    rows["interval_level"] = [0.8, 0.8, None, 0.9, 0.9]
    (row,) = compute_scorecard(rows).to_dict("records")
    # the newest level is 0.9: only its two intervals count; 104 in, 108 in
    assert (row["n_intervals"], row["level"], row["coverage"]) == (2, 0.9, 1.0)
    assert row["width"] == pytest.approx(0.2)
    rows["interval_level"] = [0.8, 0.8, None, 0.8, 0.8]
    (row,) = compute_scorecard(rows).to_dict("records")
    # 95 out, 99 in, 104 in, 108 in; widths 0.08, 0.08, 0.2, 0.2
    assert (row["n_intervals"], row["level"], row["coverage"]) == (4, 0.8, 0.75)
    assert row["width"] == pytest.approx(0.14)
    rows[["lower", "upper", "interval_level"]] = np.nan
    (row,) = compute_scorecard(rows).to_dict("records")
    assert row["n_intervals"] == 0 and math.isnan(row["coverage"]) and math.isnan(row["level"])


def test_live_coverage_is_split_by_the_volatility_regime():
    rows = _rows("m", [100.0] * 6, [95.0, 99.0, 100.0, 104.0, 108.0, 101.0])
    rows["lower"], rows["upper"], rows["interval_level"] = 96.0, 104.0, 0.8
    # 95 out, 99 in, 100 in, 104 in, 108 out, 101 in; the last predates the regime (NULL)
    rows["vol_regime"] = ["turbulent", "calm", "calm", "calm", "turbulent", None]
    (row,) = compute_scorecard(rows).to_dict("records")
    assert (row["n_intervals"], row["coverage"]) == (6, pytest.approx(4 / 6))
    assert (row["n_calm"], row["coverage_calm"]) == (3, 1.0)
    assert (row["n_turbulent"], row["coverage_turbulent"]) == (2, 0.0)
    rows = rows.drop(columns="vol_regime")  # an older caller: no regime at all
    (row,) = compute_scorecard(rows).to_dict("records")
    assert (row["n_calm"], row["n_turbulent"]) == (0, 0) and math.isnan(row["coverage_calm"])


def test_pending_forecasts_are_counted_not_scored():
    rows = _rows("m", [101.0, 99.0], [102.0, 98.0])
    rows.loc[1, ["actual", "error", "naive_error", "direction_hit", "scored"]] = [
        np.nan, np.nan, np.nan, np.nan, 0
    ]  # fmt: skip
    (row,) = compute_scorecard(rows).to_dict("records")
    assert (row["n"], row["pending"], row["mae"]) == (1, 1, 1.0)
    assert format_scorecard(compute_scorecard(rows.iloc[:0])) == "no forecasts stored yet"


def test_restated_history_is_scored_on_the_forecasts_price_basis():
    prices = pd.Series(
        [50.0, 55.0], index=pd.to_datetime(["2020-01-02", "2020-01-03"]), name="X"
    )  # halved since the forecast saw 100 on 2020-01-02 (a 2:1 split)
    (score,) = score_forecasts(prices, ((7, "2020-01-02", "2020-01-03", 104.0, 100.0),))
    assert score.restated == 1 and score.actual == pytest.approx(110.0)
    assert score.error == pytest.approx(-6.0) and score.direction_hit == 1
    # a target not in the prices yet is left for a later run
    assert score_forecasts(prices, ((8, "2020-01-02", "2020-01-06", 1.0, 100.0),)) == []


def test_backfill_over_30_sessions_matches_a_direct_computation(tmp_path):
    config = job_config(tmp_path, models=BASELINES, tickers=["AAPL", "MSFT"])
    days = sessions(30, end="2013-02-28")
    for day in days:
        assert run_job(config, as_of=day).exit_code == 0
    table = scorecard(config.store)
    assert set(table["ticker"]) == {"AAPL", "MSFT"} and set(table["model"]) == set(BASELINES)
    coverages: list[float] = []
    stored = query(config.store, "SELECT DISTINCT ticker, as_of, vol_regime FROM forecasts")
    regimes = {(t, a): r for t, a, r in stored}
    assert len(regimes) == len(stored) == 2 * 30  # one regime per ticker and as-of

    for ticker in ("AAPL", "MSFT"):
        prices = load_prices(ticker).loc[: days[-1]]
        idx = {d.strftime("%Y-%m-%d"): i for i, d in enumerate(prices.index)}
        p = prices.to_numpy()
        for model in BASELINES:
            bounds = {
                (a, h): (lo, hi)
                for a, h, lo, hi in query(
                    config.store,
                    "SELECT as_of, horizon, lower, upper FROM forecasts WHERE ticker=? AND model=?",
                    (ticker, model),
                )
            }
            stored = dict(
                ((a, h), f)
                for a, h, f in query(
                    config.store,
                    "SELECT as_of, horizon, forecast FROM forecasts WHERE ticker=? AND model=?",
                    (ticker, model),
                )
            )
            for h in (1, 2, 3):
                # the forecasts whose target (h sessions after the as-of) is in the data
                origins = [d for d in days if idx[d] + h < len(p)]
                f = np.array([stored[(d, h)] for d in origins])
                last = np.array([p[idx[d]] for d in origins])
                actual = np.array([p[idx[d] + h] for d in origins])
                row = table[(table.ticker == ticker) & (table.model == model)]
                row = row[row.horizon == h].iloc[0]
                assert row["n"] == len(origins) == 30 - h
                assert row["pending"] == h
                mae = np.mean(np.abs(f - actual))
                assert row["mae"] == pytest.approx(mae, rel=1e-12)
                assert row["rel_mae"] == pytest.approx(
                    mae / np.mean(np.abs(last - actual)), rel=1e-12
                )
                moved = actual != last
                if model == "naive":
                    np.testing.assert_array_equal(f, last)  # the random walk, exactly
                    assert math.isnan(row["hit_rate"])
                else:
                    hits = np.sign(f - last)[moved] == np.sign(actual - last)[moved]
                    assert row["hit_rate"] == pytest.approx(hits.mean(), rel=1e-12)
                assert row["first_target"] == prices.index[idx[origins[0]] + h].strftime("%Y-%m-%d")
                # live coverage and width of the stored intervals against the actual prices
                lower, upper = (
                    np.array([bounds[(d, h)][i] for d in origins], dtype=float) for i in (0, 1)
                )
                assert np.all((lower < f) & (f < upper))
                inside = (lower <= actual) & (actual <= upper)
                assert (row["n_intervals"], row["level"]) == (30 - h, 0.8)
                assert row["coverage"] == pytest.approx(inside.mean(), rel=1e-12)
                assert row["width"] == pytest.approx(np.mean((upper - lower) / f), rel=1e-12)
                coverages.append(row["coverage"])
                # split by the regime stored with each forecast (the same for every model
                # and horizon of an as-of: the ticker's volatility at it)
                regime = np.array([regimes[(ticker, d)] for d in origins])
                for part in ("calm", "turbulent"):
                    mask = regime == part
                    assert row[f"n_{part}"] == mask.sum()
                    expected = inside[mask].mean() if mask.any() else np.nan
                    assert row[f"coverage_{part}"] == pytest.approx(
                        expected, rel=1e-12, nan_ok=True
                    )
    assert set(regimes.values()) == {"calm", "turbulent"}
    assert 0.5 < np.mean(coverages) <= 1.0  # 80% intervals: not wildly off on 18 x ~28 targets
    # scores were written once each, by the run whose as-of reached the target
    assert len(dump(config.store, "scores")) == 2 * 3 * sum(30 - h for h in (1, 2, 3))
    late = query(
        config.store,
        "SELECT COUNT(*) FROM scores s JOIN forecasts f USING (forecast_id) "
        "JOIN runs r ON r.run_id = s.run_id WHERE r.as_of < f.target_date",
    )
    assert late == [(0,)]  # never scored before the target date


def test_filters_and_missing_store(tmp_path):
    with pytest.raises(StoreError, match=r"no store at .*run `forecast run` first"):
        scorecard(tmp_path / "none.db")
    config = job_config(tmp_path, models=BASELINES)
    for day in sessions(3, end="2013-02-28"):
        run_job(config, as_of=day)
    table = scorecard(config.store, ticker="MSFT", model="drift")
    assert set(table["ticker"]) == {"MSFT"} and set(table["model"]) == {"drift"}
    assert list(table["horizon"]) == [1, 2, 3] and list(table["n"]) == [2, 1, 0]


def test_the_scorecard_says_how_many_are_pending_and_when_the_first_mature(tmp_path):
    from forecast.store.scorecard import scorecard, scorecard_summary

    config = job_config(tmp_path, models={"naive": {}, "drift": {}}, tickers=["AAPL"], horizon=2)
    d0, d1, d2 = sessions(3, end="2013-02-28")
    run_job(config, as_of=d0)
    table = scorecard(config.store)
    assert set(table["next_target"]) == {d1, d2}  # horizon 1 and 2
    assert scorecard_summary(table).startswith(
        f"0 of 4 forecasts scored; 4 pending, the first maturing on {d1}"
    )
    assert "No forecast has matured yet" in format_scorecard(table)
    for day in (d1, d2):  # replaying the next sessions scores them
        run_job(config, as_of=day)
    table = scorecard(config.store)
    # d0's two horizons and d1's first: 3 per model
    assert scorecard_summary(table).startswith("6 of 12 forecasts scored; 6 pending")
    assert table["mae"].notna().all()
