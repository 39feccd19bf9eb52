"""The ``forecast compare`` pipeline: every configured model on every configured series.

A frozen :class:`CompareConfig`, read once from TOML (``pipelines/compare.toml``), says what to
run; :func:`run_compare` runs the walk-forward backtest, writes the run folder and its report::

    config = CompareConfig.from_toml("pipelines/compare.toml")
    run_dir = run_compare(config, "runs/compare")

The config file (every key optional except the model tables; the defaults are shown)::

    series = []          # embedded tickers ("GSPC") or CSV paths; [] = every embedded series
    column = "Adj Close" # price column of CSV files (default: Adj Close, else Close)
    horizons = [1, 5]
    test_size = 250
    refit_every = 20
    train_size = 2500    # fit on the last N prices (omit: all of them)
    seed = 0             # seeds the models that have a seed parameter (unless their table does)
    jobs = 0             # worker processes; 0 = one per available core
    alpha = 0.05         # level of the verdicts (claims, StepM, pooled answer) and the report
    economics = true     # trade on the forecasts: net Sharpe ratios, DSR, PBO (false: skip)
    costs_bps = [0, 5, 10]  # cost levels, basis points per unit of turnover
    covariates = []      # past covariates of the [models."NAME+x"] models: market, volume,
                         # range, dow (forecast.data.covariates)
    market = "GSPC"      # the market index of the market covariate
    intervals = "aci"    # prediction intervals: aci, conformal, model or none
    scale = "garch"      # volatility scale of the conformal scores: garch, ewma or none
    level = 0.8          # their nominal coverage
    calibration_size = 100  # origins walked before the test period for conformal errors
    interval_window = 250   # the conformal quantiles use the last N errors

    [models.naive]       # one table per model, in report order; keys are its parameters
    [models.lstm]
    epochs = 20

    [volatility]         # optional: volatility models too (forecast backtest --target volatility)
    proxy = "auto"       # the target's variance proxy; horizons, test_size, refit_every and
    mcs_size = 0.10      # train_size default to the values above; reps: bootstrap replications
    [volatility.models.garch]   # one table per volatility model (naive, the benchmark, is added)
    [volatility.models.har]

The volatility run goes to the ``volatility/`` folder of the run, and the report gains its
section (:mod:`forecast.workflows.volatility`).

A relative CSV path is resolved against the folder of the config file (not the working
directory), so a config and its data move together. A ticker that names an embedded series
loads the embedded file (reproducible: no network); any other ticker goes through
:func:`forecast.load_prices` (cache, then Yahoo Finance).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from forecast.checks import check_int, check_number
from forecast.data.covariates import DEFAULT_MARKET, parse_covariates
from forecast.data.series import embedded_tickers
from forecast.data.tickers import validate_ticker
from forecast.errors import ConfigError
from forecast.evaluation.economics import DEFAULT_COSTS_BPS, EconomicSettings
from forecast.execution.base import Executor
from forecast.execution.sizing import make_executor
from forecast.models.base import BaseForecaster
from forecast.models.registry import COVARIATE_SUFFIX
from forecast.walkforward import configfile
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.configfile import (
    INTERVAL_KEYS,
    ModelSpec,
    check_keys,
    parse_intervals,
    parse_models,
    read_toml,
)
from forecast.walkforward.inputs import with_benchmark
from forecast.walkforward.volatility_files import SUBFOLDER
from forecast.workflows import backtest as workflow
from forecast.workflows import volatility as volatility_workflow

#: the keys :func:`parse_economics` reads
ECONOMIC_KEYS = ("economics", "costs_bps")
#: the default config, relative to the working directory (else the shipped copy)
DEFAULT_CONFIG = Path("pipelines") / "compare.toml"

_KEYS = {
    "series",
    "column",
    "horizons",
    "test_size",
    "refit_every",
    "train_size",
    "seed",
    "jobs",
    "alpha",
    "models",
    "volatility",
    "covariates",
    "market",
    *INTERVAL_KEYS,
    *ECONOMIC_KEYS,
}


@dataclass(frozen=True)
class CompareConfig:
    """Everything ``forecast compare`` runs, validated on construction.

    Parameters
    ----------
    models
        One :class:`ModelSpec` per model, in report order. The random walk (``naive``) is
        the benchmark and runs even when absent.
    series
        Upper-case tickers and absolute CSV paths; empty: every embedded series.
    column
        The price column of CSV files (``None``: ``Adj Close``, else ``Close``).
    backtest
        Horizons, test size, refit cadence, train size and seed of the walk-forward run.
    jobs
        Worker processes (``0``: one per available core; ``1``: in this process).
    alpha
        Level of the verdicts and of the report, in ``(0, 1)``.
    economics
        How the forecasts are traded and judged; ``None``: no economics.
    source
        The file the config came from (for messages).
    covariates, market
        Past covariate groups for the models named ``NAME+x``, and the market index.
    """

    models: tuple[ModelSpec, ...]
    series: tuple[str, ...] = ()
    column: str | None = None
    backtest: BacktestConfig = field(default_factory=lambda: BacktestConfig(seed=0))
    jobs: int = 0
    alpha: float = 0.05
    economics: EconomicSettings | None = field(default_factory=EconomicSettings)
    source: str = "<memory>"
    #: the ``[volatility]`` table: volatility models backtested too (``None``: none)
    volatility: volatility_workflow.VolatilitySettings | None = None
    covariates: tuple[str, ...] = ()
    market: str = DEFAULT_MARKET

    def __post_init__(self) -> None:
        where = self.source
        if not self.models:
            raise ConfigError(f"{where}: models must hold at least one [models.NAME] table")
        readers = [m.name for m in self.models if m.name.endswith(COVARIATE_SUFFIX)]
        if readers and not self.covariates:
            raise ConfigError(f"{where}: models.{readers[0]} reads covariates; set covariates")
        if self.covariates and not readers:
            raise ConfigError(
                f'{where}: covariates has no effect without a [models."NAME+x"] table'
            )
        try:
            check_int(self.jobs, "jobs", 0)
            check_number(self.alpha, "alpha", 0, 1)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def plan(self) -> workflow.BacktestPlan:
        """The backtest this config asks for (an embedded ticker loads the embedded file)."""
        return workflow.BacktestPlan(
            models=self.models,
            series=self.series,
            column=self.column,
            backtest=self.backtest,
            alpha=self.alpha,
            economics=self.economics,
            embedded_first=True,
            source=self.source,
            command="compare",
            covariates=self.covariates,
            market=self.market,
        )

    def volatility_plan(self) -> volatility_workflow.VolatilityPlan | None:
        """The volatility backtest the ``[volatility]`` table asks for, on the same series."""
        if self.volatility is None:
            return None
        return volatility_workflow.VolatilityPlan(
            models=self.volatility.models,
            series=self.series,
            column=self.column,
            config=self.volatility.config,
            embedded_first=True,
            source=self.source,
            command="compare",
        )

    @classmethod
    def from_toml(cls, path: str | os.PathLike | None = None) -> CompareConfig:
        """Read and check a config file (default: :func:`default_config_path`).

        Raises
        ------
        ConfigError
            Missing or unreadable file, bad TOML, unknown key, model or parameter, a value
            of the wrong type or range, a CSV path that does not exist; the message names
            the file and the key.
        """
        path = Path(path) if path is not None else default_config_path()
        raw = read_toml(path)
        return cls.from_dict(raw, source=str(path), base_dir=path.resolve().parent)

    @classmethod
    def from_dict(
        cls, raw: dict[str, Any], source: str = "<memory>", base_dir: Path | None = None
    ) -> CompareConfig:
        """Build a config from parsed TOML, checking every key; see :meth:`from_toml`."""
        check_keys(raw, _KEYS, source)
        if "models" not in raw:
            raise ConfigError(f"{source}: missing the model tables, e.g. [models.naive]")
        column = raw.get("column")
        if column is not None and (not isinstance(column, str) or not column.strip()):
            raise ConfigError(f"{source}: column must be a column name; got {column!r}")
        settings = {}
        for key in ("horizons", "test_size", "refit_every", "train_size", "seed"):
            if key in raw:
                settings[key] = raw[key]
        if isinstance(settings.get("horizons"), list):
            settings["horizons"] = tuple(settings["horizons"])
        settings.setdefault("seed", 0)
        settings["intervals"] = parse_intervals(raw, source)
        try:
            backtest_config = BacktestConfig(**settings)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from None
        alpha = raw.get("alpha", 0.05)
        volatility = None
        if "volatility" in raw:
            check_number_in(alpha, "alpha", source)
            volatility = volatility_workflow.parse_compare_volatility(
                raw["volatility"], source, backtest_config, alpha
            )
        return cls(
            models=parse_models(raw["models"], source),
            series=_series(raw.get("series", []), source, base_dir or Path.cwd()),
            column=column,
            backtest=backtest_config,
            jobs=raw.get("jobs", 0),
            alpha=alpha,
            economics=parse_economics(raw, source),
            source=source,
            volatility=volatility,
            covariates=_covariates(raw.get("covariates", []), source),
            market=_market(raw.get("market", DEFAULT_MARKET), source),
        )


def check_number_in(value: object, key: str, source: str) -> None:
    """``value`` must be a number in (0, 1); a ``ConfigError`` naming the file and key."""
    try:
        check_number(value, key, 0, 1)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def parse_economics(raw: dict[str, Any], source: str) -> EconomicSettings | None:
    """``economics`` (true or false) and ``costs_bps`` (a list of basis points), checked;
    ``None`` for ``economics = false``."""
    on = raw.get("economics", True)
    if not isinstance(on, bool):
        raise ConfigError(f"{source}: economics must be true or false; got {on!r}")
    if not on:
        if "costs_bps" in raw:
            raise ConfigError(
                f"{source}: costs_bps has no effect with economics = false; remove one of them"
            )
        return None
    costs = raw.get("costs_bps", list(DEFAULT_COSTS_BPS))
    if not isinstance(costs, list) or not costs:
        raise ConfigError(
            f"{source}: costs_bps must be a non-empty list of numbers >= 0 (basis points per "
            f"unit of turnover); got {costs!r}"
        )
    for i, cost in enumerate(costs):
        try:
            check_number(cost, f"costs_bps[{i}]", 0, include_low=True)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc} (basis points per unit of turnover)") from None
    try:
        return EconomicSettings(costs_bps=tuple(costs))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def default_config_path() -> Path:
    """``pipelines/compare.toml`` in the working directory, else the shipped copy."""
    return configfile.default_config_path(DEFAULT_CONFIG.name)


def _series(value: object, source: str, base_dir: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{source}: series must be a list of tickers or CSV paths; got {value!r}")
    out: list[str] = []
    for i, item in enumerate(value):
        key = f"series[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{source}: {key} must be a ticker or a CSV path; got {item!r}")
        if _is_path(item):
            path = Path(item).expanduser()
            path = (path if path.is_absolute() else base_dir / path).resolve()
            if not path.is_file():
                raise ConfigError(
                    f"{source}: {key}: CSV file not found: {path} (a relative path is "
                    f"resolved against the config file's folder {base_dir})"
                )
            entry = str(path)
        else:
            try:
                entry = validate_ticker(item)
            except ValueError as exc:
                raise ConfigError(f"{source}: {key}: {exc}") from None
        if entry in out:
            raise ConfigError(f"{source}: {key}: {item!r} is listed twice")
        out.append(entry)
    return tuple(out)


def _covariates(value: object, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{source}: covariates must be a list such as ["market"]; got {value!r}')
    try:
        return parse_covariates(value)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _market(value: object, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: market must be a ticker or a CSV path; got {value!r}")
    return value


def _is_path(item: str) -> bool:
    return item.lower().endswith((".csv", ".csv.gz")) or "/" in item or "\\" in item


def load_series(config: CompareConfig) -> list[pd.Series]:
    """The configured price series (every embedded series when none is configured)."""
    return workflow.load_series(config.plan())


def build_models(config: CompareConfig) -> dict[str, BaseForecaster]:
    """The configured models by name, the random walk first (it is every model's benchmark)."""
    return workflow.build_models(config.plan())


def run_compare(
    config: CompareConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    report: bool = True,
    executor: Executor | None = None,
) -> Path:
    """:func:`compare`, returning the run folder only."""
    return compare(config, out, progress=progress, report=report, executor=executor).run_dir


def compare(
    config: CompareConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    report: bool = True,
    executor: Executor | None = None,
) -> workflow.BacktestRun:
    """Backtest every model on every series, write the run folder and its report.

    Parameters
    ----------
    config
        What to run (see :class:`CompareConfig`).
    out
        The run folder (created if needed).
    progress
        Show progress on stderr.
    report
        Write ``report.html`` and ``report.md`` (see :func:`forecast.report.write_report`).
    executor
        Where the (series, model) tasks run (see :mod:`forecast.execution`); default: the
        config's ``jobs`` local worker processes (in this process when that is 1).

    Returns
    -------
    BacktestRun
        The result in memory, the run folder (``.run_dir``) and the report's paths.
    """
    plan = config.plan()
    vplan = config.volatility_plan()
    n_tasks = plan.n_tasks() + (vplan.n_tasks() if vplan is not None else 0)
    if executor is None:
        executor = make_executor(config.jobs or None, n_tasks=n_tasks)
    if progress:
        extra = ""
        if vplan is not None:
            names = {m.name for m in vplan.models} | {"naive"}
            extra = f", then {len(names)} volatility models"
        print(
            f"compare: {len(with_benchmark([m.name for m in config.models]))} models "
            f"x {len(config.series) or len(embedded_tickers())} series{extra}, test size "
            f"{config.backtest.test_size}, on {executor.describe()}",
            file=sys.stderr,
        )
    arguments = {
        "config": config.source,
        "series": list(config.series) or "all embedded",
        "column": config.column,
        "models": {m.name: dict(m.params) for m in config.models},
        "jobs": executor.workers,
        "executor": repr(executor),
        "alpha": config.alpha,
        "economics": list(config.economics.costs_bps) if config.economics else False,
    }
    if vplan is not None:
        arguments["volatility_models"] = {m.name: dict(m.params) for m in vplan.models}
    plan = replace(plan, arguments=MappingProxyType(arguments))
    if vplan is None:
        return workflow.run_backtest(plan, out, executor=executor, progress=progress, report=report)
    with executor:  # local workers start once and serve both backtests
        done = workflow.run_backtest(plan, out, executor=executor, progress=progress, report=False)
        vplan = replace(vplan, arguments=MappingProxyType(arguments))
        vol = volatility_workflow.run_volatility_backtest(
            vplan, done.run_dir / SUBFOLDER, executor=executor, progress=progress, report=False
        )
    paths = None
    if report:
        from forecast.report import write_report  # matplotlib and jinja2 only when needed

        paths = write_report(done.run, alpha=config.alpha)
    return replace(done, report=paths, volatility=vol)
