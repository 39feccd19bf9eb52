"""``run_cross_section``: what ``forecast backtest --cross-section`` does, as one function.

Load a universe on one calendar (the 14 shipped S&P 500 stocks and IBM by default, or the
plan's tickers and files), build the covariates the plan asks for, forecast every stock one
session ahead at each origin with every model (global models refit on all stocks up to each
refit date), score the ranking and the pairs, and write the run folder: the usual
``forecasts.csv``, ``metrics.csv``, ``run.json`` (and ``report.html``), the cross-sectional
files of :mod:`forecast.walkforward.cross_section`, the random-walk verdicts
(``verdicts.csv``, ``pooled.csv``) and the answer page ``does_it_help.md`` / ``.html``::

    plan = BacktestPlan(models=model_specs(["reversal", "global_lstm"]),
                        covariates=("market",), ranking=RankingSettings(top_k=3))
    run = run_cross_section(plan, "runs/xs")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from forecast.data.universe import SURVIVORSHIP_NOTE, universe_tickers
from forecast.execution.base import Executor
from forecast.walkforward.cross_section import (
    CrossSection,
    RankingSettings,
    check_aligned,
    cross_section_backtest,
    random_walk_verdicts,
    write_cross_section,
)
from forecast.walkforward.engine import BacktestResult
from forecast.walkforward.runfiles import RunFiles, default_run_dir, write_run_files
from forecast.workflows.backtest import BacktestPlan, build_models
from forecast.workflows.inputs import universe_inputs


@dataclass(frozen=True)
class CrossSectionRun:
    """What :func:`run_cross_section` produced (``stages``: seconds per stage)."""

    result: BacktestResult
    scores: CrossSection
    run: RunFiles
    help_page: Path | None
    stages: MappingProxyType

    @property
    def run_dir(self) -> Path:
        return self.run.path


def run_cross_section(
    plan: BacktestPlan,
    out: str | os.PathLike | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = False,
    report: bool = True,
    echo: Callable[[str], None] | None = None,
) -> CrossSectionRun:
    """Run the cross-sectional backtest of ``plan`` (see the module docstring)."""
    t0 = time.perf_counter()
    settings = plan.ranking or RankingSettings()
    models = build_models(plan)
    universe, series, covariates = universe_inputs(
        plan.series or None, plan.covariates, market=plan.market, column=plan.column,
        start=plan.start, end=plan.end,
    )  # fmt: skip
    check_aligned({s.name: s for s in series}, settings.top_k)  # before any line is shown
    shipped = set(universe_tickers()) & set(universe.tickers)
    for line in universe.describe() if echo is not None else ():
        echo(line)
    if echo is not None and shipped:
        echo(f"note: {SURVIVORSHIP_NOTE}")
    t1 = time.perf_counter()
    bt = plan.backtest
    result, scores = cross_section_backtest(
        series, models, test_size=bt.test_size, refit_every=bt.refit_every,
        train_size=bt.train_size, covariates=covariates, settings=settings, seed=None,
        progress=progress, executor=executor,
    )  # fmt: skip
    result.config["seed"] = bt.seed
    result.config["universe"] = {
        "tickers": universe.tickers,
        "calendar": universe.calendar,
        "align": universe.align,
        "filled_sessions": {k: len(v) for k, v in universe.filled.items() if v},
        "dropped_rows": {k: len(v) for k, v in universe.dropped.items() if v},
        "survivorship": SURVIVORSHIP_NOTE if shipped else None,
    }
    if plan.covariates:
        result.config["covariate_groups"] = list(plan.covariates)
        result.config["market"] = plan.market if "market" in plan.covariates else None
    t2 = time.perf_counter()
    out = Path(out) if out is not None else default_run_dir()
    run = write_run_files(
        result, out, command=plan.command, arguments=dict(plan.arguments),
        elapsed_seconds=round(t2 - t0, 3),
    )  # fmt: skip
    write_cross_section(scores, out)
    for name, table in random_walk_verdicts(result.forecasts, seed=bt.seed or 0).items():
        table.to_csv(out / name, index=False)
    t3 = time.perf_counter()
    page = None
    if report:
        from forecast.report import write_report
        from forecast.report.cross_section_display import write_help_report

        page = write_help_report(out, alpha=plan.alpha).html
        write_report(run, alpha=plan.alpha)
    stages = {"data": t1 - t0, "backtest": t2 - t1, "scores": t3 - t2}
    stages["report"] = time.perf_counter() - t3
    return CrossSectionRun(result, scores, run, page, MappingProxyType(stages))


def cross_section_plan(plan: BacktestPlan, settings: RankingSettings) -> BacktestPlan:
    """``plan`` as a cross-sectional one: horizon 1, no intervals, ``settings``."""
    bt = replace(plan.backtest, horizons=(1,), intervals=None)
    return replace(plan, backtest=bt, ranking=settings, command="backtest --cross-section")
