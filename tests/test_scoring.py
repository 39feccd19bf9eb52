"""The engine's run-level statistics: verdicts, economic value, their run files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.errors import DataError
from forecast.evaluation.conformal import IntervalSettings
from forecast.evaluation.economics import ECONOMIC_COLUMNS, SUMMARY_COLUMNS, EconomicSettings
from forecast.evaluation.metrics import METRIC_COLUMNS, VERDICT_METRIC_COLUMNS
from forecast.evaluation.trading import RULES, trading_returns
from forecast.evaluation.verdicts import (
    POOLED_COLUMNS,
    VERDICT_COLUMNS,
    evaluate_forecasts,
)
from forecast.report import build_content, write_report
from forecast.walkforward.engine import backtest
from forecast.walkforward.resultfiles import SCHEMAS, TABLES
from forecast.walkforward.runfiles import read_run, write_run, write_run_files
from forecast.walkforward.scoring import INTERVAL_SIGMA, volatility_forecast
from tests.helpers import perturb_after, price_series

#: unscaled: these forecasts have no sigma column, so the volatility rule reads the interval
INTERVALS = IntervalSettings("conformal", 0.8, calibration_size=30, scale="none")
MODELS = ["naive", "drift", "ar"]


def _run(series=None, **kw):
    series = series or [price_series(260, seed=1, name="A"), price_series(240, seed=2, name="B")]
    kw = {"horizons": (1, 2), "test_size": 60, "refit_every": 20, "intervals": INTERVALS} | kw
    return backtest(series, MODELS, **kw)


@pytest.fixture(scope="module")
def result():
    return _run(seed=3)


def test_the_engine_returns_the_verdicts_and_the_economics(result):
    assert list(result.metrics.columns) == METRIC_COLUMNS
    assert list(result.verdicts.columns) == VERDICT_COLUMNS
    assert list(result.pooled_verdict.columns) == POOLED_COLUMNS
    assert list(result.economics.columns) == ECONOMIC_COLUMNS
    assert list(result.economics_summary.columns) == SUMMARY_COLUMNS
    assert len(result.verdicts) == 4 and list(result.pooled_verdict["method"]) == [
        "clark_west_holm",
        "spa_holm",
    ]
    # the same numbers as the verdicts core on the same forecasts, with the run's seed
    alone = evaluate_forecasts(result.forecasts, alpha=0.05, seed=3)
    pd.testing.assert_frame_equal(result.verdicts, alone.verdicts)
    pd.testing.assert_frame_equal(result.pooled_verdict, alone.pooled)
    merged = result.metrics.merge(alone.models, on=["series", "model", "horizon"])
    for col in VERDICT_METRIC_COLUMNS:
        pd.testing.assert_series_equal(merged[f"{col}_x"], merged[f"{col}_y"], check_names=False)
    assert result.metrics["in_mcs"].dtype == "boolean"
    rw = result.metrics[result.metrics["model"] == "naive"]
    assert (rw["r2_os"] == 0).all() and rw["cw_pvalue"].isna().all()
    stats = result.statistics
    assert stats["verdicts"] | {"seconds": 0} == {
        "alpha": 0.05, "mcs_size": 0.1, "reps": 1000, "seed": 3, "seconds": 0,
    }  # fmt: skip
    assert stats["economics"]["sigma_source"] == "interval"
    assert stats["economics"]["costs_bps"] == [0.0, 5.0, 10.0]
    assert stats["economics"]["trials"] == "run"


def test_volatility_rule_uses_the_interval_when_there_is_no_sigma(result):
    assert set(result.economics["rule"]) == set(RULES)  # sigma from the 80% interval
    off = _run(intervals=None, economics=EconomicSettings(costs_bps=(5,)))
    assert set(off.economics["rule"]) == {"long_flat", "long_short"}  # no volatility forecast
    assert off.statistics["economics"]["sigma_source"] == "none"
    assert set(off.economics["cost_bps"]) == {5.0}
    fc = result.forecasts.assign(sigma=0.01)  # a volatility model's column wins
    table, column, source = volatility_forecast(fc, "sigma", 0.8)
    assert (column, source) == ("sigma", "column") and table is fc
    table, column, source = volatility_forecast(result.forecasts, "sigma", 0.8)
    assert (column, source) == (INTERVAL_SIGMA, "interval")
    assert INTERVAL_SIGMA not in result.forecasts  # never written to forecasts.csv
    assert volatility_forecast(result.forecasts, None, 0.8)[1:] == (None, "none")


def test_economics_off_and_bad_arguments():
    off = _run(economics=False, horizons=(1,), test_size=35)
    assert off.economics is None and off.economics_summary is None and off.equity_curves is None
    assert off.statistics["economics"] is None and off.verdicts is not None
    with pytest.raises(TypeError, match="economics must be True, False or EconomicSettings"):
        _run(economics="yes")
    with pytest.raises(ValueError, match="alpha must be a number between 0 and 1"):
        _run(alpha=1.5)
    with pytest.raises(ValueError, match="bootstrap_seed must be an integer >= 0; got -1"):
        _run(bootstrap_seed=-1)


def test_equity_curves_are_each_series_best_and_buy_and_hold(result):
    eq, table = result.equity_curves, result.economics
    for (cost, series), part in eq.groupby(["cost_bps", "series"]):
        rows = table[(table["cost_bps"] == cost) & (table["series"] == series)]
        best = rows.loc[rows["sharpe"].idxmax()]
        models = set(part["model"])
        assert models == {best["model"], "buy_and_hold"}
        assert set(part["horizon"]) == {best["horizon"]}
        mine = part[part["model"] == best["model"]]
        # the curve ends at the configuration's total net log return
        assert len(mine) == best["n_days"]


def test_a_run_of_the_random_walk_alone_still_scores(tmp_path):
    series = [price_series(120, seed=1, name="A")]
    res = backtest(series, ["naive"], horizons=(1,), test_size=40, intervals=None)
    assert res.verdicts["claim"].tolist() == [False]
    assert res.economics["sharpe"].isna().all()  # the random walk never holds a position
    assert len(res.equity_curves) == 0
    paths = write_report(write_run_files(res, tmp_path / "r"))
    md = paths.markdown.read_text()
    assert "Nothing to compare: only the random walk was run." in md
    assert "no configuration ever held a position" in md


def test_run_files_round_trip(result, tmp_path):
    run = write_run_files(result, tmp_path / "run")
    again = read_run(tmp_path / "run")
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(again, table), getattr(run, table))
        assert getattr(again, table) is not None
    pd.testing.assert_frame_equal(again.metrics, result.metrics, check_dtype=False)
    assert again.metrics["in_mcs"].dtype == "boolean"
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["statistics"]["verdicts"]["seed"] == 3
    assert (
        (tmp_path / "run" / "verdicts_pooled.csv")
        .read_text()
        .startswith("method,n_tests,pvalue,claim,claims\nclark_west_holm,")
    )
    # rewriting the folder without economics leaves no stale economics file behind
    write_run(_run(economics=False, horizons=(1,), test_size=35), tmp_path / "run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert "economics.csv" not in names and "verdicts.csv" in names
    assert read_run(tmp_path / "run").economics is None


def test_an_old_run_folder_reads_and_reports(result, tmp_path):
    folder = write_run(result, tmp_path / "old")
    for name in SCHEMAS:
        (folder / name).unlink()
    metrics = pd.read_csv(folder / "metrics.csv").drop(columns=VERDICT_METRIC_COLUMNS)
    metrics.to_csv(folder / "metrics.csv", index=False)
    run_json = json.loads((folder / "run.json").read_text())
    del run_json["statistics"]
    (folder / "run.json").write_text(json.dumps(run_json))
    old = read_run(folder)
    assert all(getattr(old, t) is None for t in TABLES)
    assert old.metrics["r2_os"].isna().all() and old.metrics["in_mcs"].isna().all()
    content = build_content(old)
    assert "Diebold-Mariano" in " ".join(content.summary)  # the old headline
    assert content.economics is None and "before the economic evaluation" in content.economics_off
    paths = write_report(folder, figures=False)
    md = paths.markdown.read_text()
    assert "predates the verdict statistics" in md and "R²\\_OS |" not in md


@pytest.mark.parametrize(
    ("file", "edit", "words"),
    [
        ("verdicts.csv", lambda t: t.replace("spa_pvalue", "spa"),
         "missing columns ['spa_pvalue']"),
        ("economics.csv", lambda t: t.replace(",long_flat,0.0,", ",long_flat,abc,", 1),
         "column 'cost_bps' needs a number; got 'abc'"),
        ("verdicts.csv", lambda t: t.replace(",False,", ",maybe,", 1),
         "column 'claim' needs True or False; got 'maybe'"),
        ("metrics.csv", lambda t: t.replace(",True\n", ",yes\n", 1),
         "column 'in_mcs' needs True, False or nothing; got 'yes'"),
    ],
)  # fmt: skip
def test_a_damaged_statistics_file_is_named(result, tmp_path, file, edit, words):
    folder = write_run(result, tmp_path / "run")
    path = folder / file
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError, match=rf"{file}: malformed: .*{__import__('re').escape(words)}"):
        read_run(folder)


@pytest.mark.parametrize("scale, source", [("none", "interval"), ("garch", "column")])
def test_economics_leakage_canary_through_the_engine(scale, source):
    """Change every price after a cutoff: every position decided up to it, by every rule and
    from the very forecasts, intervals and volatility the engine trades on (the interval's
    width, or the GARCH sigma of the scaled intervals), is unchanged."""
    base = price_series(300, seed=5, name="S")
    cut = 260  # a test origin (origins are rows 239..298)
    intervals = IntervalSettings("conformal", 0.8, calibration_size=30, scale=scale)
    runs = [
        _run([s], horizons=(1, 3), intervals=intervals, economics=EconomicSettings(costs_bps=(5,)))
        for s in (base, perturb_after(base, cut + 1))
    ]
    cutoff = base.index[cut]
    positions = []
    for res in runs:
        fc, column, chosen = volatility_forecast(res.forecasts, "sigma", 0.8)
        assert chosen == source
        per_rule = [
            trading_returns(fc, rule, 5.0, sigma_column=column).assign(rule=rule)
            for rule in (*RULES, "buy_and_hold")
        ]
        table = pd.concat(per_rule, ignore_index=True)
        positions.append(table[table["start"] <= cutoff].reset_index(drop=True))
    before, after = positions
    assert len(before) > 100 and set(before["rule"]) == {*RULES, "buy_and_hold"}
    pd.testing.assert_series_equal(before["position"], after["position"])
    # and the prices after the cutoff did change what was decided later
    later = [res.economics.set_index(["model", "horizon", "rule"])["sharpe"] for res in runs]
    assert not np.allclose(later[0].dropna(), later[1].dropna())
