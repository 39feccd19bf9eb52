"""The walk-forward backtest engine.

Semantics, exactly (``n`` rows, 0-based): the origins are rows ``n-test_size-1 .. n-2``. At
origin ``o`` a model sees rows ``0..o`` only (or the last ``train_size`` of them when fitting).
It is refit at the first origin and every ``refit_every`` origins after; in between it
forecasts from each origin with its fitted parameters. The forecast for horizon ``h``
targets row ``o+h`` and is kept only if ``o+h <= n-1``.

No look-ahead by construction: for each fold the model is handed ``y[:last_origin+1]`` and
nothing after; inside a fold each origin's forecast may only use its own prefix (the
default :meth:`~forecast.models.base.BaseForecaster.forecast_log_paths` slices, and the
leakage tests hold every model to it).

The engine knows nothing about model internals: it calls the same protocol on every model.
A global model (``model.global_model``) is one task over every series, refit on each refit
date on all series' data up to that date (:mod:`~forecast.walkforward.global_walk`); a model
that reads covariates (``model.uses_exog``) gets each series' covariate rows up to each fit
and origin, and no other model sees them.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from forecast.checks import DEFAULT_LEVEL, check_int, check_number
from forecast.evaluation.conformal import DEFAULT_METHOD, IntervalSettings
from forecast.evaluation.economics import EconomicSettings
from forecast.evaluation.metrics import compute_metrics
from forecast.execution.base import Executor
from forecast.execution.sizing import resolve_executor
from forecast.models.base import BaseForecaster
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.global_walk import failed_global, run_global
from forecast.walkforward.inputs import named_covariates, named_models, named_series
from forecast.walkforward.scales import SeriesScales, scale_origins, series_scales
from forecast.walkforward.scoring import score_run
from forecast.walkforward.tasks import (
    count_task,
    failed_task,
    fold_progress,
    stack_parts,
    task_reporter,
)
from forecast.walkforward.walk import (
    FORECAST_COLUMNS,
    SeriesPart,
    run_series,
    series_info,
    walk_forward_origins,
)

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "EconomicSettings",
    "add_scores",
    "backtest",
    "walk_forward_origins",
]


@dataclass
class BacktestResult:
    """The outcome of :func:`backtest`.

    Attributes
    ----------
    forecasts
        The long table: one row per (series, model, origin, horizon) with ``target_date``,
        ``forecast``, ``actual`` and ``origin_price``.
    metrics
        One row per (series, model, horizon); see :mod:`forecast.evaluation.metrics`.
    failures
        One row per failed fold: series, model, origin (of the fold's refit), stage, error.
    timings
        Per series and model: fit and predict seconds, number of fits and failed folds.
    series_info
        Per series: first and last date, rows, content hash, source, MASE scale.
    config
        The :class:`BacktestConfig` used, as a dict.
    verdicts
        One row per (series, horizon): the SPA p-value of "no model beats the random walk",
        StepM's models, the model confidence set's members, and the headline claim under the
        rule that survives testing many models (Clark-West, Holm over the models, R²_OS > 0)
        with its adjusted p-value; see :mod:`forecast.evaluation.verdicts`.
    pooled_verdict
        The answer for the whole run, accounting for every (series, model, horizon) tried:
        first row Holm over every Clark-West test (the headline), second row Holm over the
        per-(series, horizon) SPA p-values.
    economics
        One row per (series, model, horizon, rule, cost): net Sharpe ratio, return,
        volatility, turnover, drawdown, hit rate, buy-and-hold's, the deflated Sharpe ratio;
        ``None`` when the economics were off. See :mod:`forecast.evaluation.economics`.
    economics_summary
        One row per cost level: the best configuration, its DSR, the PBO.
    equity_curves
        Per cost level and series, the cumulative net log return of the best configuration
        and of buy-and-hold on the same days.
    statistics
        The settings of the verdicts and the economics and the seconds they took.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    failures: pd.DataFrame
    timings: pd.DataFrame
    series_info: pd.DataFrame
    config: dict = field(default_factory=dict)
    verdicts: pd.DataFrame | None = None
    pooled_verdict: pd.DataFrame | None = None
    economics: pd.DataFrame | None = None
    economics_summary: pd.DataFrame | None = None
    equity_curves: pd.DataFrame | None = None
    statistics: dict = field(default_factory=dict)


def backtest(
    series: pd.Series | Mapping[str, pd.Series] | Sequence[pd.Series],
    models: str | BaseForecaster | Iterable[str | BaseForecaster] | Mapping[str, BaseForecaster],
    horizons: int | Sequence[int] = (1, 5),
    test_size: int = 250,
    refit_every: int = 20,
    train_size: int | None = None,
    *,
    seed: int | None = None,
    progress: bool = False,
    jobs: int | None = None,
    executor: Executor | None = None,
    intervals: str | IntervalSettings | None = DEFAULT_METHOD,
    level: float = DEFAULT_LEVEL,
    alpha: float = 0.05,
    economics: bool | EconomicSettings = True,
    bootstrap_seed: int | None = None,
    covariates: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
) -> BacktestResult:
    """Walk-forward backtest of ``models`` on each price series.

    Parameters
    ----------
    series
        One price series (named) or several, as a mapping name -> series or a sequence of
        named series. See :func:`forecast.load_prices`.
    models
        Registry names, model instances, or a mapping display name -> instance. The random
        walk (``naive``) is the benchmark of every relative metric and is added when absent.
    horizons, test_size, refit_every, train_size
        See the module docstring for the exact semantics.
    seed
        Set on every model that has a ``seed`` parameter.
    progress
        Show progress on stderr (fold by fold in this process, else task by task).
    jobs, executor
        Where the work runs, one task per (series, model): ``jobs=None`` or ``1`` in this
        process, ``jobs=N`` on ``N`` local worker processes, or any executor of
        :mod:`forecast.execution` (e.g. a :class:`~forecast.execution.dask_cluster.DaskExecutor`).
        The forecasts are bit-identical whichever is used. A task that fails outside the
        folds (e.g. its worker process died twice) is reported in ``failures`` with stage
        ``task``; the other tasks go on.
    intervals, level
        Prediction intervals at nominal coverage ``level``: ``"aci"`` (adaptive conformal on
        each model's past walk-forward errors, the default), ``"conformal"``, ``"model"``
        (each model's own predictive distribution; conformal for the nets), an
        :class:`~forecast.evaluation.conformal.IntervalSettings` for the finer settings, or
        ``None``.
        The forecasts gain ``lower, upper`` and every variant's bounds; the metrics gain
        ``coverage``, ``width`` and ``winkler``.
    alpha
        Level of the verdicts (:attr:`BacktestResult.verdicts`): the claims, StepM and the
        pooled answer.
    economics
        Trade on the forecasts and judge the result (:attr:`BacktestResult.economics`):
        ``True`` with the default :class:`~forecast.evaluation.economics.EconomicSettings`
        (costs 0, 5 and 10 bp), an ``EconomicSettings``, or ``False``.
    bootstrap_seed
        Seed of the verdicts' bootstrap; ``None``: ``seed``, or 0 when that is ``None`` too.
    covariates
        Past covariates (:mod:`forecast.data.covariates`): one frame per series (a mapping
        by series name, or one frame for one series) on exactly the series' dates, the same
        columns for every series. Only the models built with ``covariates=True`` (``ar+x``,
        ``lstm+x``...) read them; such a model without covariates is an error.

    Returns
    -------
    BacktestResult
    """
    if not isinstance(horizons, numbers.Integral):
        horizons = tuple(horizons)
    if isinstance(intervals, str):
        intervals = IntervalSettings(method=intervals, level=level)
    config = BacktestConfig(horizons, test_size, refit_every, train_size, seed, intervals)
    check_number(alpha, "alpha", 0, 1)
    settings = economic_settings(economics)
    if bootstrap_seed is not None:
        check_int(bootstrap_seed, "bootstrap_seed", 0)
    named = named_series(series)
    templates = named_models(models, seed)
    for name, s in named.items():
        if len(s) < config.test_size + 2:
            raise ValueError(
                f"test_size must leave at least 2 rows before the first origin: series "
                f"{name!r} has {len(s)} rows; got test_size={config.test_size}"
            )
    exog = named_covariates(covariates, named, templates)
    parts = _run_tasks(named, templates, config, resolve_executor(jobs, executor), progress, exog)
    result = combine_parts(parts, config)
    if exog is not None:
        result.config["covariates"] = list(next(iter(exog.values())).columns)
    stats_seed = bootstrap_seed if bootstrap_seed is not None else (config.seed or 0)
    return add_scores(result, alpha=alpha, seed=stats_seed, economics=settings)


def economic_settings(economics: bool | EconomicSettings | None) -> EconomicSettings | None:
    """``economics`` as settings: ``True`` the defaults, ``False`` or ``None`` off."""
    if economics is None or economics is False:
        return None
    if economics is True:
        return EconomicSettings()
    if not isinstance(economics, EconomicSettings):
        raise TypeError(
            f"economics must be True, False or EconomicSettings; got {type(economics).__name__}"
        )
    return economics


def add_scores(
    result: BacktestResult,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    economics: EconomicSettings | None = None,
) -> BacktestResult:
    """``result`` with the verdicts and the economic value of its forecasts filled in.

    Once per run, after the metrics (see :mod:`forecast.walkforward.scoring`); the metrics
    gain ``r2_os, cw_stat, cw_pvalue, mcs_pvalue, in_mcs``.
    """
    intervals = result.config.get("intervals")
    level = intervals.get("level") if isinstance(intervals, dict) else None
    scores = score_run(
        result.forecasts, result.metrics, alpha=alpha, seed=seed, economics=economics, level=level
    )
    return replace(
        result,
        metrics=scores.metrics,
        verdicts=scores.verdicts,
        pooled_verdict=scores.pooled_verdict,
        economics=scores.economics,
        economics_summary=scores.economics_summary,
        equity_curves=scores.equity_curves,
        statistics=scores.statistics,
    )


def _run_tasks(
    named: dict[str, pd.Series],
    templates: dict[str, BaseForecaster],
    config: BacktestConfig,
    executor: Executor,
    progress: bool,
    exog: dict[str, pd.DataFrame] | None = None,
) -> list[SeriesPart]:
    """One task per (series, model), one per global model; the parts in series, then model
    order.

    Models are independent (each task clones its own), so the split changes no number.
    """
    local = [m for m, t in templates.items() if not t.global_model]
    tasks = [(name, model) for name in named for model in local]
    tasks += [(None, m) for m, t in templates.items() if t.global_model]
    folds = -(-config.test_size // config.refit_every)
    if executor.in_process:  # the bar follows the folds inside run_series
        order = tasks
    else:  # likely-slowest first, so that no worker is left with a long task at the end:
        # global models first, heavy models are listed last by convention, and long series
        # take longest
        rank = {m: i for i, m in enumerate(templates)}
        order = sorted(
            tasks,
            key=lambda t: (t[0] is not None, -rank[t[1]], -len(named.get(t[0], ()))),
        )
    parts: dict[tuple[str | None, str], SeriesPart] = {}
    scaled = config.intervals is not None and bool(config.intervals.scales)
    scales: dict[str, SeriesScales | None] = {} if scaled else dict.fromkeys(named)
    with fold_progress(executor, len(tasks) * folds, "backtest", progress) as bar:
        submit = partial(_submit_models, order=order, named=named, templates=templates,
                         config=config, bar=bar, exog=exog, executor=executor)  # fmt: skip
        with executor.start() as batch:
            # the volatility scales first, one task per series, longest first (every model of
            # the series reads them); the model tasks go in once all are known, in the order
            # above
            for name in sorted(named, key=lambda k: -len(named[k])) if scaled else ():
                batch.submit(("scales", name), series_scales, name, named[name], config)
            if len(scales) == len(named):
                submit(batch, scales=scales)
            for done in batch.completed():
                if done.key[0] == "scales":
                    name = done.key[1]
                    scales[name] = done.value if done.ok else _failed_scales(named, done, config)
                    if len(scales) == len(named):
                        submit(batch, scales=scales)
                    continue
                _collect(parts, done, named, folds, config)
                label = f"{done.key[0] or 'all series'} {done.key[1]}"
                count_task(bar, executor, done, folds, label)
    first = next(iter(templates))
    return [_with_scales(parts[(name, model)], scales[name], model == first)
            for name in named for model in templates]  # fmt: skip


def _submit_models(batch, *, order, named, templates, config, bar, exog, executor, scales):
    """Submit every model task: a (series, model) walk, or a global model's walk over all
    series; the prices (and covariates) go with each task: workers read no files."""
    for name, model in order:
        template = templates[model]
        reporter = task_reporter(bar, executor, (name, model))
        if name is None:
            batch.submit((None, model), run_global, named, model, template, config, exog,
                         reporter, scales)  # fmt: skip
            continue
        x = exog[name] if exog is not None and template.uses_exog else None
        batch.submit((name, model), run_series, name, named[name], {model: template}, config,
                     reporter, scales[name], x)  # fmt: skip


def _collect(parts, done, named, folds: int, config: BacktestConfig) -> None:
    """The parts of a finished task (a global model's: one per series)."""
    name, model = done.key
    if name is None:
        got = done.value if done.ok else failed_global(named, model, done.error, config)
        parts.update({(p.info["series"], model): p for p in got})
    else:
        parts[done.key] = done.value if done.ok else _failed(named, done, folds, config)


def _failed_scales(named, done, config: BacktestConfig) -> SeriesScales:
    """A scale task that failed as a whole: no sigma anywhere (the scaled intervals are
    empty), one failure row."""
    name = done.key[1]
    n = len(named[name])
    first = int(scale_origins(n, config)[0])
    rows = n - 1 - first
    out = SeriesScales(first)
    out.sigma = {s: np.full((rows, max(config.horizons)), np.nan) for s in config.intervals.scales}
    out.failures = [{"series": name, "model": "interval scales", "origin": None,
                     "stage": "volatility", "error": done.error}]  # fmt: skip
    return out


def _with_scales(part: SeriesPart, scales: SeriesScales | None, first: bool) -> SeriesPart:
    """The part with, once per series (its first model's), the scale task's failures."""
    if scales is None or not first or not scales.failures:
        return part
    return SeriesPart(part.forecasts, scales.failures + part.failures, part.timings, part.info)


def _failed(named, done, folds: int, config: BacktestConfig) -> SeriesPart:
    """A task that failed as a whole (e.g. its worker died): every fold of it failed."""
    name = done.key[0]
    return failed_task(done, folds, FORECAST_COLUMNS, series_info(name, named[name], config))


def combine_parts(parts: Sequence[SeriesPart], config: BacktestConfig) -> BacktestResult:
    """Assemble per-series (or per series and model) parts into one result and the metrics."""
    forecasts, info, timings, failures = stack_parts(parts, FORECAST_COLUMNS)
    expected = pd.DataFrame(
        [(t["series"], t["model"], h) for t in timings.to_dict("records") for h in config.horizons],
        columns=["series", "model", "horizon"],
    )
    scales = dict(zip(info["series"], info["mase_scale"], strict=True)) if len(info) else {}
    level = config.intervals.level if config.intervals is not None else None
    metrics = compute_metrics(forecasts, scales, expected, level=level)
    order = {m: i for i, m in enumerate(dict.fromkeys(timings["model"]))}
    metrics = metrics.sort_values(
        ["series", "horizon", "model"],
        key=lambda c: c.map(order) if c.name == "model" else c,
        kind="stable",
    ).reset_index(drop=True)
    return BacktestResult(forecasts, metrics, failures, timings, info, asdict(config))
