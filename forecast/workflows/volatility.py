"""``run_volatility_backtest``: what ``forecast backtest --target volatility`` does.

A frozen :class:`VolatilityPlan` says what to run (series, volatility models, the walk-forward
settings); :func:`run_volatility_backtest` loads each series' open, high, low and close
(:func:`forecast.load_price_frame`; a close-only series works with squared returns), runs
:func:`~forecast.walkforward.volatility.backtest_volatility` on an executor, writes the
volatility run folder and its report::

    plan = VolatilityPlan(models=volatility_specs(["garch", "har"]), series=("GSPC",))
    run = run_volatility_backtest(plan, "runs/vol")
    run.result.metrics, run.run_dir

``forecast compare`` runs the same plan into the ``volatility/`` folder of its run when its
config has a ``[volatility]`` table (:mod:`forecast.workflows.compare`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from forecast.data.ohlc import load_price_frame
from forecast.data.series import embedded_tickers
from forecast.errors import ConfigError
from forecast.execution.base import Executor
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.configfile import check_keys
from forecast.walkforward.runfiles import default_run_dir
from forecast.walkforward.volatility import (
    BENCHMARK,
    VolatilityResult,
    backtest_volatility,
    named_volatility_models,
)
from forecast.walkforward.volatility_config import (
    VolatilitySpec,
    parse_proxy,
    parse_volatility_models,
)
from forecast.walkforward.volatility_files import VolatilityRunFiles, write_volatility_run
from forecast.walkforward.volatility_walk import VolatilityConfig
from forecast.workflows.sources import check_test_size, series_sources


@dataclass(frozen=True)
class VolatilityPlan:
    """What a volatility backtest runs.

    Parameters
    ----------
    models
        One :class:`~forecast.walkforward.volatility_config.VolatilitySpec` per model, in
        report order (``naive``, the benchmark, is added when absent).
    series
        Tickers and CSV paths; empty: every embedded series.
    column
        The close's column (``None``: ``Adj Close``, else ``Close``).
    config
        Horizons, test size, refit cadence, train size, proxy, seed and the bootstrap's
        settings.
    embedded_first, source, command, arguments
        As :class:`forecast.workflows.backtest.BacktestPlan`.
    """

    models: tuple[VolatilitySpec, ...]
    series: tuple[str, ...] = ()
    column: str | None = None
    config: VolatilityConfig = field(default_factory=lambda: VolatilityConfig(seed=0))
    embedded_first: bool = False
    source: str = ""
    command: str = "backtest"
    arguments: Mapping = field(default_factory=lambda: MappingProxyType({}))

    def n_tasks(self) -> int:
        """The (series, model) tasks the engine will run, the benchmark included."""
        names = list(dict.fromkeys(m.name for m in self.models))
        n_models = len(names) + (BENCHMARK not in names)
        return (len(self.series) or len(embedded_tickers())) * n_models


@dataclass(frozen=True)
class VolatilityRun:
    """What :func:`run_volatility_backtest` produced: the result, its folder and report."""

    result: VolatilityResult
    run: VolatilityRunFiles
    report: object | None
    stages: Mapping[str, float]

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        return self.run.path


def load_frames(plan: VolatilityPlan) -> list[pd.DataFrame]:
    """The plan's price frames (every embedded series when it names none), each long enough."""
    where, sources = series_sources(plan)
    out = []
    for i, (name, embedded) in enumerate(sources):
        if embedded is not None:
            frame = load_price_frame(embedded, plan.column)
            frame.attrs.update(source="embedded", name=str(name))
        else:
            frame = load_price_frame(name, plan.column)
        test_size = plan.config.test_size
        check_test_size(plan, where, i, frame.attrs["name"], len(frame), test_size)
        out.append(frame)
    return out


def run_volatility_backtest(
    plan: VolatilityPlan,
    out: str | os.PathLike | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = False,
    report: bool = True,
    echo: Callable[[str], None] | None = None,
) -> VolatilityRun:
    """Load the frames, build the models, backtest, write the run folder and the report.

    Parameters are those of :func:`forecast.workflows.backtest.run_backtest`; ``echo`` gets
    one line per series saying where its prices came from and which proxy it has.
    """
    t0 = time.perf_counter()
    c = plan.config
    models = named_volatility_models({s.name: s.build(c.seed) for s in plan.models}, None)
    frames = load_frames(plan)
    for f in frames if echo is not None else ():
        echo(describe_frame(f))
    t1 = time.perf_counter()
    result = backtest_volatility(
        frames, models, c.horizons, c.test_size, c.refit_every, c.train_size, proxy=c.proxy,
        seed=None, progress=progress, executor=executor, alpha=c.alpha, mcs_size=c.mcs_size,
        reps=c.reps,
    )  # fmt: skip
    result.config["seed"] = c.seed  # the models were seeded when built
    t2 = time.perf_counter()
    out = Path(out) if out is not None else default_run_dir()
    run = write_volatility_run(
        result, out, command=plan.command, arguments=dict(plan.arguments),
        elapsed_seconds=round(t2 - t0, 3),
    )  # fmt: skip
    t3 = time.perf_counter()
    paths = None
    if report:
        from forecast.report import write_report  # matplotlib and jinja2 only when needed

        paths = write_report(run.path)
    stages = {"data": t1 - t0, "backtest": t2 - t1, "files": t3 - t2}
    stages["report"] = time.perf_counter() - t3
    return VolatilityRun(result, run, paths, MappingProxyType(stages))


def describe_frame(frame: pd.DataFrame) -> str:
    """``GSPC: 5031 prices 1999-01-04..2018-12-31, open/high/low/close (source: embedded)``."""
    a = frame.attrs
    kind = "open/high/low/close" if a.get("range") else f"close only ({a.get('range_note')})"
    return (
        f"{a.get('name')}: {len(frame)} prices {frame.index[0]:%Y-%m-%d}.."
        f"{frame.index[-1]:%Y-%m-%d}, {kind} (source: {a.get('source', 'file')})"
    )


#: the keys of the ``[volatility]`` table of ``compare.toml``
COMPARE_KEYS = frozenset(
    {"models", "horizons", "test_size", "refit_every", "train_size", "proxy", "mcs_size", "reps"}
)


@dataclass(frozen=True)
class VolatilitySettings:
    """The ``[volatility]`` table of ``compare.toml``: the models and the walk's settings."""

    models: tuple[VolatilitySpec, ...]
    config: VolatilityConfig


def parse_compare_volatility(
    raw: object, source: str, price: BacktestConfig, alpha: float = 0.05
) -> VolatilitySettings:
    """The ``[volatility]`` table, checked; unset walk settings come from the price run.

    Raises ``ConfigError`` naming the file and the key (``volatility.proxy``, ...).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: volatility must be a table ([volatility]); got {raw!r}")
    check_keys(raw, COMPARE_KEYS, f"{source}: volatility")
    if "models" not in raw:
        raise ConfigError(
            f"{source}: volatility needs model tables, e.g. [volatility.models.garch]"
        )
    models = parse_volatility_models(raw["models"], source)
    if not isinstance(raw.get("horizons", []), list):
        raise ConfigError(f"{source}: volatility.horizons must be a list of integers")
    settings = {
        "horizons": tuple(raw.get("horizons", price.horizons)),
        "test_size": raw.get("test_size", price.test_size),
        "refit_every": raw.get("refit_every", price.refit_every),
        "train_size": raw.get("train_size", price.train_size),
        "proxy": parse_proxy(raw.get("proxy", "auto"), source),
        "seed": price.seed,
        "alpha": alpha,
        "mcs_size": raw.get("mcs_size", 0.10),
        "reps": raw.get("reps", 1000),
    }
    try:
        config = VolatilityConfig(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: volatility.{exc}") from None
    return VolatilitySettings(models, config)
