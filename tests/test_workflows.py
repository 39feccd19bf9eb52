"""``run_backtest`` and its plan: what ``forecast backtest`` and ``forecast compare`` run."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.errors import ConfigError
from forecast.report import write_report
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.resultfiles import TABLES
from forecast.walkforward.runfiles import read_run
from forecast.workflows.backtest import (
    BacktestPlan,
    build_models,
    load_series,
    model_specs,
    run_backtest,
)


def _plan(**kw) -> BacktestPlan:
    settings = BacktestConfig(horizons=(1, 2), test_size=15, refit_every=5, seed=0)
    return BacktestPlan(models=model_specs(["drift", "ar"]), series=("IBM",), backtest=settings,
                        embedded_first=True, **kw)  # fmt: skip


def test_overrides_reach_only_the_models_that_have_the_parameter():
    specs = model_specs(["ar", "lstm", "ar"], {"epochs": 3, "max_lags": 2})
    assert [s.name for s in specs] == ["ar", "lstm"]
    assert dict(specs[0].params) == {"max_lags": 2} and dict(specs[1].params) == {"epochs": 3}
    with pytest.raises(ValueError, match="unknown model 'nope'; valid models: naive"):
        model_specs(["nope"])


def test_the_benchmark_is_added_once_and_first():
    plan = _plan()
    assert list(build_models(plan)) == ["naive", "drift", "ar"]
    assert plan.n_tasks() == 3


def test_a_series_too_short_names_itself():
    plan = _plan(source="my.toml")
    plan = BacktestPlan(plan.models, ("IBM",), backtest=BacktestConfig(test_size=10**5),
                        embedded_first=True, source="my.toml")  # fmt: skip
    with pytest.raises(ConfigError, match=r"my.toml: test_size must leave .* series\[0\] 'IBM'"):
        load_series(plan)


def test_run_backtest_returns_what_it_wrote_and_the_report_equals_a_rebuilt_one(tmp_path):
    done = run_backtest(_plan(), tmp_path / "run", report=True)
    assert done.run_dir == tmp_path / "run"
    assert set(done.stages) == {"data", "backtest", "files", "report"}
    again = read_run(done.run_dir)
    pd.testing.assert_frame_equal(again.metrics, done.result.metrics, check_dtype=False)
    assert again.run == done.run.run
    for table in TABLES:  # what the report reads, in memory and from the files: identical
        pd.testing.assert_frame_equal(getattr(again, table), getattr(done.run, table))
    assert again.economics is not None and len(again.verdicts) == 2
    assert done.result.statistics["verdicts"]["seed"] == 0
    markdown = done.report.markdown.read_text()
    rebuilt = write_report(done.run_dir)  # what `forecast report` does, from the files alone
    assert rebuilt.markdown.read_text() == markdown
    assert set(done.result.metrics["model"]) == {"naive", "drift", "ar"}
