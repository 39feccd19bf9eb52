"""The live scorecard: known answers, and a 30-session backfill checked by direct computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from job_helpers import BASELINES, dump, job_config, query, sessions

from forecast.data import load_prices
from forecast.job import run_job
from forecast.scorecard import SCORECARD_COLUMNS, compute_scorecard, format_scorecard, scorecard
from forecast.store import StoreError
from forecast.tickerwork import score_forecasts


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

    for ticker in ("AAPL", "MSFT"):
        prices = load_prices(ticker).loc[: days[-1]]
        idx = {d.strftime("%Y-%m-%d"): i for i, d in enumerate(prices.index)}
        p = prices.to_numpy()
        for model in BASELINES:
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
