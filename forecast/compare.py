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
    alpha = 0.05         # significance level of the report
    intervals = "aci"    # prediction intervals: aci, conformal, model or none
    level = 0.8          # their nominal coverage
    calibration_size = 100  # origins walked before the test period for conformal errors
    interval_window = 250   # the conformal quantiles use the last N errors

    [models.naive]       # one table per model, in report order; keys are its parameters
    [models.lstm]
    epochs = 20

A relative CSV path is resolved against the folder of the config file (not the working
directory), so a config and its data move together. A ticker that names an embedded series
loads the embedded file (reproducible: no network); any other ticker goes through
:func:`forecast.load_prices` (cache, then Yahoo Finance).
"""

from __future__ import annotations

import numbers
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from forecast import configfile
from forecast.backtest import BacktestConfig, backtest
from forecast.configfile import (
    INTERVAL_KEYS,
    ModelSpec,
    check_keys,
    parse_intervals,
    parse_models,
    read_toml,
)
from forecast.data import (
    embedded_dir,
    embedded_tickers,
    load_prices,
    read_price_csv,
    validate_ticker,
)
from forecast.errors import ConfigError
from forecast.executors import Executor, available_cores, resolve_executor
from forecast.metrics import BENCHMARK
from forecast.models import get_model
from forecast.models.base import BaseForecaster
from forecast.runfiles import write_run

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
    *INTERVAL_KEYS,
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
        Significance level of the report's verdicts, in ``(0, 1)``.
    source
        The file the config came from (for messages).
    """

    models: tuple[ModelSpec, ...]
    series: tuple[str, ...] = ()
    column: str | None = None
    backtest: BacktestConfig = field(default_factory=lambda: BacktestConfig(seed=0))
    jobs: int = 0
    alpha: float = 0.05
    source: str = "<memory>"

    def __post_init__(self) -> None:
        where = self.source
        if not self.models:
            raise ConfigError(f"{where}: models must hold at least one [models.NAME] table")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, numbers.Integral):
            raise ConfigError(f"{where}: jobs must be an integer >= 0; got {self.jobs!r}")
        if self.jobs < 0:
            raise ConfigError(f"{where}: jobs must be an integer >= 0; got {self.jobs}")
        if (
            isinstance(self.alpha, bool)
            or not isinstance(self.alpha, numbers.Real)
            or not 0 < self.alpha < 1
        ):
            raise ConfigError(
                f"{where}: alpha must be a number between 0 and 1 (exclusive); got {self.alpha!r}"
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
        return cls(
            models=parse_models(raw["models"], source),
            series=_series(raw.get("series", []), source, base_dir or Path.cwd()),
            column=column,
            backtest=backtest_config,
            jobs=raw.get("jobs", 0),
            alpha=raw.get("alpha", 0.05),
            source=source,
        )


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


def _is_path(item: str) -> bool:
    return item.lower().endswith((".csv", ".csv.gz")) or "/" in item or "\\" in item


def load_series(config: CompareConfig) -> list[pd.Series]:
    """The configured price series (every embedded series when none is configured)."""
    names = config.series or tuple(embedded_tickers())
    if not names:
        raise ConfigError(
            f"{config.source}: series is empty and no embedded data was found in {embedded_dir()}"
        )
    out = []
    for i, name in enumerate(names):
        embedded = embedded_dir() / f"{name}.csv"
        if not Path(name).is_absolute() and embedded.is_file():
            series = read_price_csv(embedded, config.column)
            series.attrs["source"] = "embedded"
        else:
            series = load_prices(name, config.column)
        need = config.backtest.test_size + 2
        if len(series) < need:
            where = f"series[{i}]" if config.series else "the embedded series"
            raise ConfigError(
                f"{config.source}: test_size must leave at least 2 rows before the first "
                f"origin: {where} {series.name!r} has {len(series)} prices; got "
                f"test_size={config.backtest.test_size}"
            )
        out.append(series)
    return out


def build_models(config: CompareConfig) -> dict[str, BaseForecaster]:
    """The configured models by name, the random walk first (it is every model's benchmark)."""
    seed = config.backtest.seed
    models = {spec.name: spec.build(seed) for spec in config.models}
    if BENCHMARK not in models:
        models = {BENCHMARK: get_model(BENCHMARK), **models}
    return models


def run_compare(
    config: CompareConfig,
    out: str | os.PathLike,
    *,
    progress: bool = True,
    report: bool = True,
    executor: Executor | None = None,
) -> Path:
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
        Where the (series, model) tasks run (see :mod:`forecast.executors`); default: the
        config's ``jobs`` local worker processes (in this process when that is 1).

    Returns
    -------
    Path
        The run folder.
    """
    t0 = time.perf_counter()
    series = load_series(config)
    models = build_models(config)
    if executor is None:
        jobs = min(config.jobs or available_cores(), len(series) * len(models))
        executor = resolve_executor(jobs)
    if progress:
        print(
            f"compare: {len(models)} models x {len(series)} series, test size "
            f"{config.backtest.test_size}, on {executor.describe()}",
            file=sys.stderr,
        )
    bt = config.backtest
    result = backtest(
        series,
        models,
        bt.horizons,
        bt.test_size,
        bt.refit_every,
        bt.train_size,
        seed=None,  # build_models set it, except on models whose table sets their own
        progress=progress,
        executor=executor,
        intervals=bt.intervals,
    )
    result.config["seed"] = bt.seed
    arguments = {
        "config": config.source,
        "series": list(config.series) or "all embedded",
        "column": config.column,
        "models": {m.name: dict(m.params) for m in config.models},
        "jobs": executor.workers,
        "executor": repr(executor),
        "alpha": config.alpha,
    }
    write_run(
        result,
        out,
        command="compare",
        arguments=arguments,
        elapsed_seconds=round(time.perf_counter() - t0, 3),
    )
    if report:
        from forecast.report import write_report  # matplotlib and jinja2 only when needed

        write_report(out, alpha=config.alpha)
    return Path(out)
