"""``run_backtest``: what ``forecast backtest`` does, as one library function.

A frozen :class:`BacktestPlan` says what to run (series, models with their parameters, the
walk-forward settings); :func:`run_backtest` resolves the series, builds the models, runs the
engine on an executor, writes the run folder and the report, and returns everything it
produced, so that no caller reads back what it has just written::

    plan = BacktestPlan(models=model_specs(["naive", "ar"]), series=("GSPC",))
    run = run_backtest(plan, "runs/mine")
    run.result.metrics, run.run_dir, run.report.html

``forecast compare`` is this function on a config file's plan (:mod:`forecast.workflows.compare`).
The random walk, every model's benchmark, is added by the engine's inputs
(:func:`forecast.walkforward.inputs.named_models`) and nowhere else.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from forecast.data.covariates import DEFAULT_MARKET
from forecast.data.loading import load_prices
from forecast.data.series import embedded_tickers, read_price_csv
from forecast.data.universe import default_universe
from forecast.evaluation.comparisons import compare_pairs
from forecast.evaluation.economics import EconomicSettings
from forecast.execution.base import Executor
from forecast.models.base import BaseForecaster
from forecast.models.registry import check_model_name, get_model, is_global
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.configfile import ModelSpec
from forecast.walkforward.cross_section import RankingSettings
from forecast.walkforward.engine import BacktestResult, backtest
from forecast.walkforward.inputs import named_models, with_benchmark
from forecast.walkforward.runfiles import RunFiles, default_run_dir, write_run_files
from forecast.workflows.inputs import series_covariates
from forecast.workflows.sources import check_test_size, series_sources


@dataclass(frozen=True)
class BacktestPlan:
    """What a backtest runs.

    Parameters
    ----------
    models
        One :class:`~forecast.walkforward.configfile.ModelSpec` per model, in report order.
    series
        Tickers and CSV paths; empty: every embedded series.
    column
        The price column (``None``: ``Adj Close``, else ``Close``).
    date_column
        The dates' column of CSV files (``None``: the one named ``Date``).
    backtest
        Horizons, test size, refit cadence, train size, seed and intervals.
    alpha
        Significance level of the verdicts (the claims, StepM, the pooled answer) and of the
        report.
    economics
        How the forecasts are traded and judged (costs, rules); ``None``: no economics.
    embedded_first
        A ticker that names an embedded series loads the embedded file (reproducible, no
        network) instead of the cache and Yahoo Finance.
    source
        Where the plan came from (a config file), to prefix messages.
    command, arguments
        What ``run.json`` records as the command and its arguments.
    covariates, market
        Past covariate groups (``market``, ``volume``, ``range``, ``dow``) for the models
        with ``+x``, and the market index of ``market``.
    ranking
        The cross-sectional setting's scoring (:func:`forecast.workflows.cross_section.
        run_cross_section`); ``None`` for a plain backtest.
    start, end
        Keep only prices on or after ``start`` and on or before ``end`` (ISO dates).
    """

    models: tuple[ModelSpec, ...]
    series: tuple[str, ...] = ()
    column: str | None = None
    date_column: str | None = None
    backtest: BacktestConfig = field(default_factory=lambda: BacktestConfig(seed=0))
    alpha: float = 0.05
    economics: EconomicSettings | None = field(default_factory=EconomicSettings)
    embedded_first: bool = False
    source: str = ""
    command: str = "backtest"
    arguments: Mapping = field(default_factory=lambda: MappingProxyType({}))
    covariates: tuple[str, ...] = ()
    market: str = DEFAULT_MARKET
    ranking: RankingSettings | None = None
    start: str | None = None
    end: str | None = None

    def n_tasks(self) -> int:
        """The tasks the engine will run, the benchmark included: one per (series, model),
        one per global model."""
        default = default_universe() if self.ranking is not None else embedded_tickers()
        n_series = len(self.series) or len(default)
        names = with_benchmark([m.name for m in self.models])
        n_global = sum(is_global(n) for n in names)
        return n_series * (len(names) - n_global) + n_global


@dataclass(frozen=True)
class BacktestRun:
    """What :func:`run_backtest` produced: the result in memory, its folder and report.

    ``stages`` holds the seconds spent loading data, in the engine, writing the run files
    and writing the report.
    """

    result: BacktestResult
    run: RunFiles
    report: object | None
    stages: Mapping[str, float]
    #: ``forecast compare``'s volatility backtest (a
    #: :class:`~forecast.workflows.volatility.VolatilityRun`), if its config asks for one
    volatility: object | None = None

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        return self.run.path


def model_specs(
    names: Sequence[str], overrides: Mapping[str, object] | None = None
) -> tuple[ModelSpec, ...]:
    """Specs for registry ``names``, each ``overrides`` entry set on the models that have it.

    The command line's ``--epochs 5`` sets ``epochs`` on the nets and leaves the baselines
    alone. Unknown names raise ``ValueError`` listing the valid ones.
    """
    specs = []
    for name in dict.fromkeys(names):
        params = get_model(check_model_name(name)).get_params()
        params.pop("covariates", None)  # the name's +x says it
        chosen = {k: v for k, v in (overrides or {}).items() if k in params}
        specs.append(ModelSpec(name, MappingProxyType(chosen)))
    return tuple(specs)


def build_models(plan: BacktestPlan) -> dict[str, BaseForecaster]:
    """The plan's models by name, seeded, the random walk first (every model's benchmark)."""
    seed = plan.backtest.seed
    return named_models({spec.name: spec.build(seed) for spec in plan.models}, None)


def load_series(plan: BacktestPlan) -> list[pd.Series]:
    """The plan's price series (every embedded series when it names none), each long enough.

    Raises
    ------
    ConfigError
        A series too short for the test size; the message names it.
    """
    where, sources = series_sources(plan)
    out = []
    for i, (name, embedded) in enumerate(sources):
        if embedded is not None:
            series = read_price_csv(embedded, plan.column)
            series.attrs["source"] = "embedded"
        else:
            series = load_prices(name, plan.column, date_column=plan.date_column)
        if plan.start or plan.end:
            attrs = dict(series.attrs)
            series = series.loc[plan.start : plan.end]
            series.attrs.update(attrs)
        test_size = plan.backtest.test_size  # else the engine's own check names the series
        check_test_size(plan, where, i, series.name, len(series), test_size)
        out.append(series)
    return out


def run_backtest(
    plan: BacktestPlan,
    out: str | os.PathLike | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = False,
    report: bool = True,
    echo: Callable[[str], None] | None = None,
) -> BacktestRun:
    """Resolve the series, build the models, backtest, write the run folder and the report.

    Parameters
    ----------
    plan
        What to run.
    out
        The run folder (default: a new timestamped folder under ``runs/``).
    executor
        Where the (series, model) tasks run (default: this process).
    progress
        Progress lines on stderr.
    report
        Write ``report.html`` and ``report.md`` (see :func:`forecast.report.write_report`).
    echo
        Called with one line per loaded series (where its prices came from).

    Returns
    -------
    BacktestRun
    """
    t0 = time.perf_counter()
    models = build_models(plan)
    series = load_series(plan)
    covariates = None
    if plan.covariates:
        sources = plan.series or tuple(embedded_tickers())
        covariates = series_covariates(series, sources, plan.covariates, plan.market)
    for s in series if echo is not None else ():
        echo(
            f"{s.name}: {len(s)} prices {s.index[0]:%Y-%m-%d}..{s.index[-1]:%Y-%m-%d} "
            f"(source: {s.attrs.get('source', 'file')})"
        )
    t1 = time.perf_counter()
    bt = plan.backtest
    # seed=None: build_models seeded the models (a model's own table may set another seed);
    # the run's seed still seeds the verdicts' bootstrap
    result = backtest(
        series, models, bt.horizons, bt.test_size, bt.refit_every, bt.train_size,
        seed=None, progress=progress, executor=executor, intervals=bt.intervals,
        alpha=plan.alpha, economics=plan.economics or False, bootstrap_seed=bt.seed or 0,
        covariates=covariates,
    )  # fmt: skip
    result.config["seed"] = bt.seed  # build_models seeded the models that take one
    if plan.covariates:
        result.config["covariate_groups"] = list(plan.covariates)
        result.config["market"] = plan.market if "market" in plan.covariates else None
    t2 = time.perf_counter()
    out = Path(out) if out is not None else default_run_dir()
    run = write_run_files(
        result, out, command=plan.command, arguments=dict(plan.arguments),
        elapsed_seconds=round(t2 - t0, 3),
    )  # fmt: skip
    comparisons = compare_pairs(result.forecasts)
    if len(comparisons):  # the run has pairs: does it help? (its own page)
        comparisons.to_csv(out / "comparisons.csv", index=False)
    t3 = time.perf_counter()
    paths = None
    if report:
        if progress:
            print(f"backtest: writing the report in {run.path}", file=sys.stderr, flush=True)
        from forecast.report import write_report  # matplotlib and jinja2 only when needed

        paths = write_report(run, alpha=plan.alpha)
        if len(comparisons):
            from forecast.report.cross_section_display import write_help_report

            write_help_report(out, alpha=plan.alpha)
    stages = {"data": t1 - t0, "backtest": t2 - t1, "files": t3 - t2}
    stages["report"] = time.perf_counter() - t3
    return BacktestRun(result, run, paths, MappingProxyType(stages))
