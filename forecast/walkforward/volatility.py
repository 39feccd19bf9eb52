"""The walk-forward backtest of volatility models: ``backtest_volatility``.

The same engine semantics as price backtests (:mod:`forecast.walkforward.engine`): origins are
rows ``n-test_size-1 .. n-2``; at origin ``o`` a model sees rows ``0..o`` only; it is refit at
the first origin and every ``refit_every`` origins after (on the last ``train_size`` rows when
set) and forecasts in between with its fitted parameters; one task per (series, model) runs
on any executor with bit-identical results; a failing fold is a row of ``failures``, never a
crash. What a row holds is in :mod:`forecast.walkforward.volatility_walk`.

The scores (:mod:`forecast.evaluation.volatility`, :mod:`forecast.evaluation.volatility_verdicts`):
per series, model and horizon, QLIKE and MSE of the variance and their ratios to the naive
model's (the mean proxy of the last 20 days, the benchmark, added when absent), Diebold-Mariano
tests against it, the model confidence set on QLIKE, and the Kupiec and Christoffersen tests
of each Value-at-Risk column; per series and horizon, the SPA p-value and StepM's models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import pandas as pd

from forecast.evaluation.volatility import SCORE_COLUMNS, var_backtests, volatility_scores
from forecast.evaluation.volatility_verdicts import (
    MCS_COLUMNS,
    VAR_METRIC_COLUMNS,
    var_wide,
    volatility_verdicts,
)
from forecast.execution.base import Executor
from forecast.execution.sizing import resolve_executor
from forecast.models.registry import get_volatility_model
from forecast.models.volatility.base import BaseVolatilityModel
from forecast.models.volatility.realized import choose_proxy, log_ohlc
from forecast.walkforward.inputs import unique_models
from forecast.walkforward.tasks import (
    count_task,
    failed_task,
    fold_progress,
    stack_parts,
    task_reporter,
)
from forecast.walkforward.volatility_walk import (
    VOLATILITY_COLUMNS,
    VolatilityConfig,
    run_volatility_series,
    series_facts,
)
from forecast.walkforward.walk import SeriesPart

__all__ = [
    "METRIC_COLUMNS",
    "VolatilityConfig",
    "VolatilityResult",
    "backtest_volatility",
    "named_frames",
    "named_volatility_models",
]

BENCHMARK = "naive"
#: the econometric models (the default; the nets take minutes per series)
DEFAULT_MODELS = ("naive", "ewma", "garch", "gjr", "har", "msrv")
METRIC_COLUMNS = [*SCORE_COLUMNS, "mcs_pvalue", "in_mcs", *VAR_METRIC_COLUMNS]
#: models whose fits take longest, scheduled first on workers (the rest keep config order)
_SLOW_FIRST = ("lstm", "gru", "msrv", "garch", "gjr")


@dataclass
class VolatilityResult:
    """The outcome of :func:`backtest_volatility`.

    Attributes
    ----------
    forecasts
        One row per (series, model, origin, horizon); columns
        :data:`~forecast.walkforward.volatility_walk.VOLATILITY_COLUMNS`.
    metrics
        One row per (series, model, horizon); columns :data:`METRIC_COLUMNS`.
    var_tests
        Kupiec and Christoffersen tests per series, model, horizon, VaR level and quantile
        (:data:`forecast.evaluation.volatility.VAR_TEST_COLUMNS`).
    verdicts
        Per series and horizon: common origins, MCS members, SPA p-value, StepM's models
        (:data:`forecast.evaluation.volatility_verdicts.VERDICT_COLUMNS`).
    failures, timings
        As a price backtest's.
    series_info
        Per series: dates, rows, content hash, source, test start, proxy, whether the range
        (open, high, low) was there and why not.
    config
        The :class:`VolatilityConfig` used, as a dict (with ``"target": "volatility"``).
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    var_tests: pd.DataFrame
    verdicts: pd.DataFrame
    failures: pd.DataFrame
    timings: pd.DataFrame
    series_info: pd.DataFrame
    config: dict = field(default_factory=dict)


def backtest_volatility(
    data: pd.DataFrame | pd.Series | Mapping[str, pd.DataFrame | pd.Series] | Sequence,
    models: str | BaseVolatilityModel | Iterable | Mapping[str, BaseVolatilityModel] = (
        DEFAULT_MODELS
    ),
    horizons: int | Sequence[int] = (1, 5),
    test_size: int = 250,
    refit_every: int = 20,
    train_size: int | None = None,
    *,
    proxy: str = "auto",
    seed: int | None = None,
    progress: bool = False,
    jobs: int | None = None,
    executor: Executor | None = None,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    reps: int = 1000,
) -> VolatilityResult:
    """Walk-forward backtest of volatility models on each price frame.

    Parameters
    ----------
    data
        One price frame (open, high, low, close; see :func:`forecast.load_price_frame`) or a
        close-only price series, or several as a mapping name -> frame or a sequence (a
        frame is named by ``attrs["name"]``, a series by its name).
    models
        Volatility registry names (:func:`forecast.models.volatility.available_volatility_models`),
        instances, or a mapping display name -> instance. ``naive`` (the last 20 days' mean
        proxy) is the benchmark and is added when absent.
    horizons, test_size, refit_every, train_size
        As :func:`forecast.backtest`.
    proxy
        The target's variance proxy: ``"auto"`` (Yang-Zhang with open, high and low, squared
        returns for a close-only series) or one of
        :data:`forecast.models.volatility.realized.PROXIES`.
    seed
        Set on every model with a ``seed`` parameter (the nets); also the bootstrap's base seed.
    progress, jobs, executor
        As :func:`forecast.backtest`.
    alpha, mcs_size, reps
        StepM's level, the model confidence set's size, bootstrap replications.

    Returns
    -------
    VolatilityResult
    """
    config = VolatilityConfig(
        tuple(horizons) if isinstance(horizons, Iterable) else horizons,
        test_size,
        refit_every,
        train_size,
        proxy,
        seed,
        alpha,
        mcs_size,
        reps,
    )
    named = named_frames(data)
    templates = named_volatility_models(models, seed)
    for name, frame in named.items():
        rows = len(frame)
        if rows < config.test_size + 2:
            raise ValueError(
                f"test_size must leave at least 2 rows before the first origin: series "
                f"{name!r} has {rows} rows; got test_size={config.test_size}"
            )
        try:
            choose_proxy(log_ohlc(frame, name), config.proxy)
        except (ValueError, TypeError) as exc:  # DataError is a ValueError: bad input
            raise ValueError(f"series {name!r}: {exc}") from None
    parts = _run_tasks(named, templates, config, resolve_executor(jobs, executor), progress)
    return combine_volatility(parts, config)


def named_frames(data: object) -> dict[str, pd.DataFrame | pd.Series]:
    """Price frames (or close series) by unique name."""
    if isinstance(data, pd.DataFrame | pd.Series):
        items = [(None, data)]
    elif isinstance(data, Mapping):
        items = list(data.items())
    else:
        items = [(None, d) for d in data]
    named: dict[str, pd.DataFrame | pd.Series] = {}
    for i, (key, frame) in enumerate(items):
        if not isinstance(frame, pd.DataFrame | pd.Series):
            raise TypeError(
                f"data must be price frames or series; item {i} is {type(frame).__name__}"
            )
        if key is None:
            label = frame.attrs.get("name") if isinstance(frame, pd.DataFrame) else frame.name
            key = str(label) if label is not None else f"series{i}"
        key = str(key)
        if key in named:
            raise ValueError(f"series names must be unique; {key!r} appears twice")
        named[key] = frame
    if not named:
        raise ValueError("data must hold at least one price frame; got none")
    return named


def named_volatility_models(models: object, seed: int | None) -> dict[str, BaseVolatilityModel]:
    """Volatility models by unique name, ``seed`` set where they have one, ``naive`` first."""
    if isinstance(models, str | BaseVolatilityModel):
        models = [models]
    if isinstance(models, Mapping):
        pairs = list(models.items())
    else:
        pairs = [
            (m, get_volatility_model(m)) if isinstance(m, str) else (getattr(m, "name", ""), m)
            for m in models
        ]
    kinds = "volatility model names or instances"
    return unique_models(
        pairs, BaseVolatilityModel, seed, get_volatility_model, kinds, "volatility model"
    )


def _run_tasks(named, templates, config: VolatilityConfig, executor: Executor, progress: bool):
    """One task per (series, model); the parts in series, then model order."""
    tasks = [(name, model) for name in named for model in templates]
    folds = -(-config.test_size // config.refit_every)
    if executor.in_process:  # the bar follows the folds inside run_volatility_series
        order = tasks
    else:  # slow models and long series first, so that no worker ends on a long task
        rank = {m: i for i, m in enumerate(_SLOW_FIRST)}
        order = sorted(tasks, key=lambda t: (rank.get(t[1], len(rank)), -len(named[t[0]])))
    parts: dict[tuple[str, str], SeriesPart] = {}
    show = fold_progress(executor, len(tasks) * folds, "volatility backtest", progress)
    with show as bar, executor.start() as batch:
        for name, model in order:  # the prices go with each task: workers read no files
            one = {model: templates[model]}
            reporter = task_reporter(bar, executor, (name, model))
            batch.submit(
                (name, model), run_volatility_series, name, named[name], one, config, reporter
            )
        for done in batch.completed():
            name, model = done.key
            parts[done.key] = done.value if done.ok else _failed(named, done, folds, config)
            count_task(bar, executor, done, folds, f"{name} {model} (volatility)")
    return [parts[task] for task in tasks]


def _failed(named, done, folds: int, config: VolatilityConfig) -> SeriesPart:
    """A task that failed as a whole (e.g. its worker died): every fold of it failed."""
    name = done.key[0]
    return failed_task(done, folds, VOLATILITY_COLUMNS, series_facts(name, named[name], config))


def combine_volatility(parts: Sequence[SeriesPart], config: VolatilityConfig) -> VolatilityResult:
    """Assemble per (series, model) parts into one result and score it."""
    forecasts, info, timings, failures = stack_parts(parts, VOLATILITY_COLUMNS)
    for col in ("origin", "target_date"):
        forecasts[col] = pd.to_datetime(forecasts[col])
    var_tests = var_backtests(forecasts)
    judged = volatility_verdicts(
        forecasts,
        alpha=config.alpha,
        mcs_size=config.mcs_size,
        reps=config.reps,
        seed=config.seed or 0,
    )
    metrics = score_table(forecasts, timings, config, judged.models, var_tests)
    settings = asdict(config)
    return VolatilityResult(
        forecasts,
        metrics,
        var_tests,
        judged.verdicts,
        failures,
        timings,
        info,
        {"target": "volatility", **settings},
    )


def score_table(forecasts, timings, config, mcs: pd.DataFrame, var_tests) -> pd.DataFrame:
    """``metrics``: scores, MCS and VaR tests, a row for every (series, model, horizon) run."""
    keys = ["series", "model", "horizon"]
    expected = pd.DataFrame(
        [(t["series"], t["model"], h) for t in timings.to_dict("records") for h in config.horizons],
        columns=keys,
    )
    scores = volatility_scores(forecasts) if len(forecasts) else pd.DataFrame(columns=SCORE_COLUMNS)
    metrics = expected.merge(scores, on=keys, how="left")
    metrics = metrics.merge(mcs[MCS_COLUMNS], on=keys, how="left")
    if len(var_tests):
        metrics = metrics.merge(var_wide(var_tests), on=keys, how="left")
    metrics = metrics.reindex(columns=METRIC_COLUMNS)
    metrics["n"] = metrics["n"].fillna(0).astype(int)
    metrics["in_mcs"] = metrics["in_mcs"].astype("boolean")
    order = {m: i for i, m in enumerate(dict.fromkeys(timings["model"]))}
    return metrics.sort_values(
        ["series", "horizon", "model"],
        key=lambda c: c.map(order) if c.name == "model" else c,
        kind="stable",
    ).reset_index(drop=True)
