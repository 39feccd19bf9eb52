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
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecast.data import series_hash
from forecast.executors import Executor, resolve_executor
from forecast.inputs import named_models, named_series
from forecast.metrics import compute_metrics, mase_scale
from forecast.models.base import BaseForecaster, check_horizon
from forecast.progress import TaskProgress, fold_progress

FORECAST_COLUMNS = [
    "series",
    "model",
    "origin",
    "horizon",
    "target_date",
    "forecast",
    "actual",
    "origin_price",
]
FAILURE_COLUMNS = ["series", "model", "origin", "stage", "error"]
TIMING_COLUMNS = ["series", "model", "fit_seconds", "predict_seconds", "n_fits", "n_failed"]


@dataclass(frozen=True)
class BacktestConfig:
    """Walk-forward settings (validated on construction)."""

    horizons: tuple[int, ...] = (1, 5)
    test_size: int = 250
    refit_every: int = 20
    train_size: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.horizons, numbers.Integral):
            object.__setattr__(self, "horizons", (self.horizons,))
        hs = tuple(check_horizon(h, "horizons") for h in self.horizons)
        if not hs:
            raise ValueError("horizons must hold at least one integer >= 1; got none")
        object.__setattr__(self, "horizons", tuple(sorted(set(hs))))
        _check_int(self.test_size, "test_size", 1)
        _check_int(self.refit_every, "refit_every", 1)
        if self.train_size is not None:
            _check_int(self.train_size, "train_size", 2)
        if self.seed is not None:
            _check_int(self.seed, "seed", 0)


def _check_int(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def walk_forward_origins(n: int, test_size: int) -> np.ndarray:
    """Row positions of the forecast origins: ``n-test_size-1 .. n-2``."""
    if test_size > n - 2:
        raise ValueError(
            f"test_size must leave at least 2 rows before the first origin: "
            f"the series has {n} rows; got test_size={test_size}"
        )
    return np.arange(n - test_size - 1, n - 1)


@dataclass
class BacktestResult:
    """The outcome of :func:`backtest`.

    Attributes
    ----------
    forecasts
        The long table: one row per (series, model, origin, horizon) with ``target_date``,
        ``forecast``, ``actual`` and ``origin_price``.
    metrics
        One row per (series, model, horizon); see :mod:`forecast.metrics`.
    failures
        One row per failed fold: series, model, origin (of the fold's refit), stage, error.
    timings
        Per series and model: fit and predict seconds, number of fits and failed folds.
    series_info
        Per series: first and last date, rows, content hash, source, MASE scale.
    config
        The :class:`BacktestConfig` used, as a dict.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    failures: pd.DataFrame
    timings: pd.DataFrame
    series_info: pd.DataFrame
    config: dict = field(default_factory=dict)


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
        :mod:`forecast.executors` (e.g. a :class:`~forecast.dask_executor.DaskExecutor`).
        The forecasts are bit-identical whichever is used. A task that fails outside the
        folds (e.g. its worker process died twice) is reported in ``failures`` with stage
        ``task``; the other tasks go on.

    Returns
    -------
    BacktestResult
    """
    if not isinstance(horizons, numbers.Integral):
        horizons = tuple(horizons)
    config = BacktestConfig(horizons, test_size, refit_every, train_size, seed)
    named = named_series(series)
    templates = named_models(models, seed)
    for name, s in named.items():
        if len(s) < config.test_size + 2:
            raise ValueError(
                f"test_size must leave at least 2 rows before the first origin: series "
                f"{name!r} has {len(s)} rows; got test_size={config.test_size}"
            )
    parts = _run_tasks(named, templates, config, resolve_executor(jobs, executor), progress)
    return combine_parts(parts, config)


def _run_tasks(
    named: dict[str, pd.Series],
    templates: dict[str, BaseForecaster],
    config: BacktestConfig,
    executor: Executor,
    progress: bool,
) -> list[SeriesPart]:
    """One task per (series, model); the parts in series, then model order.

    Models are independent (each task clones its own), so the split changes no number.
    """
    tasks = [(name, model) for name in named for model in templates]
    folds = -(-config.test_size // config.refit_every)
    bar = done_bar = None
    if executor.in_process:  # the bar follows the folds inside run_series
        bar = fold_progress(len(tasks) * folds, folds, progress)
        order = tasks
    else:  # likely-slowest first, so that no worker is left with a long task at the end:
        # heavy models are listed last by convention, and long series take longest
        rank = {m: i for i, m in enumerate(templates)}
        order = sorted(tasks, key=lambda t: (-rank[t[1]], -len(named[t[0]])))
        done_bar = TaskProgress(len(tasks)) if progress else None
    parts: dict[tuple[str, str], SeriesPart] = {}
    with executor.start() as batch:
        for name, model in order:  # the prices go with each task: workers read no files
            one = {model: templates[model]}
            batch.submit((name, model), run_series, name, named[name], one, config, bar)
        for done in batch.completed():
            name, model = done.key
            parts[done.key] = done.value if done.ok else _failed(named, done, folds, config)
            if done_bar is not None:
                done_bar.done(f"{name} {model}", done.error)
    for shown in (bar, done_bar):
        if shown is not None:
            shown.close()
    return [parts[task] for task in tasks]


def _failed(named, done, folds: int, config: BacktestConfig) -> SeriesPart:
    """A task that failed as a whole (e.g. its worker died): every fold of it failed."""
    name, model = done.key
    failure = {"series": name, "model": model, "origin": None, "stage": "task"}
    timing = {"series": name, "model": model, "fit_seconds": 0.0, "predict_seconds": 0.0}
    return SeriesPart(
        _empty(FORECAST_COLUMNS),
        [failure | {"error": done.error}],
        [timing | {"n_fits": 0, "n_failed": folds}],
        series_info(name, named[name], config),
    )


@dataclass
class SeriesPart:
    """Everything one series contributes to a :class:`BacktestResult`."""

    forecasts: pd.DataFrame
    failures: list[dict]
    timings: list[dict]
    info: dict


def run_series(
    name: str,
    series: pd.Series,
    templates: Mapping[str, BaseForecaster],
    config: BacktestConfig,
    bar: object | None = None,
) -> SeriesPart:
    """Backtest every model on one series (the unit of work a parallel run distributes)."""
    prices = series.to_numpy(dtype=float)
    y = np.log(prices)
    origins = walk_forward_origins(len(y), config.test_size)
    info = series_info(name, series, config)
    frames, failures, timings = [], [], []
    for model_name, template in templates.items():
        model = clone(template)
        fit_s = pred_s = 0.0
        n_fits = n_failed = 0
        for start in range(0, len(origins), config.refit_every):
            fold = origins[start : start + config.refit_every]
            if bar is not None:
                bar.set_description(f"{name} {model_name} fold {start // config.refit_every + 1}")
            first = fold[0]
            train_lo = 0 if config.train_size is None else max(0, first + 1 - config.train_size)
            stage = "fit"
            try:
                t0 = time.perf_counter()
                model.fit(series.iloc[train_lo : first + 1])
                fit_s += time.perf_counter() - t0
                n_fits += 1
                stage = "predict"
                t0 = time.perf_counter()
                paths = model.forecast_log_paths(y[: fold[-1] + 1], fold + 1, max(config.horizons))
                pred_s += time.perf_counter() - t0
                _check_paths(paths, len(fold), max(config.horizons))
            except Exception as exc:  # a failing model never stops the others
                n_failed += 1
                failures.append(
                    {
                        "series": name,
                        "model": model_name,
                        "origin": _date(series.index[first]),
                        "stage": stage,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
            else:
                frames.append(_rows(name, model_name, series, prices, fold, paths, config))
            if bar is not None:
                bar.update(1)
        timings.append(
            {
                "series": name,
                "model": model_name,
                "fit_seconds": fit_s,
                "predict_seconds": pred_s,
                "n_fits": n_fits,
                "n_failed": n_failed,
            }
        )
    fc = pd.concat(frames, ignore_index=True) if frames else _empty(FORECAST_COLUMNS)
    return SeriesPart(fc, failures, timings, info)


def series_info(name: str, series: pd.Series, config: BacktestConfig) -> dict:
    """One row of ``series_info``: dates, rows, content hash, source and MASE scale."""
    prices = series.to_numpy(dtype=float)
    origins = walk_forward_origins(len(prices), config.test_size)
    lo = 0 if config.train_size is None else max(0, origins[0] + 1 - config.train_size)
    return {
        "series": name,
        "first_date": _date(series.index[0]),
        "last_date": _date(series.index[-1]),
        "n": len(prices),
        "content_hash": series.attrs.get("content_hash") or series_hash(series),
        "source": series.attrs.get("source", "memory"),
        "test_start": _date(series.index[origins[0] + 1]),
        "mase_scale": mase_scale(prices[lo : origins[0] + 1]),
    }


def combine_parts(parts: Sequence[SeriesPart], config: BacktestConfig) -> BacktestResult:
    """Assemble per-series (or per series and model) parts into one result and the metrics."""
    frames = [p.forecasts for p in parts if len(p.forecasts)]
    forecasts = pd.concat(frames, ignore_index=True) if frames else _empty(FORECAST_COLUMNS)
    info = pd.DataFrame(list({p.info["series"]: p.info for p in parts}.values()))
    timings = pd.DataFrame([t for p in parts for t in p.timings], columns=TIMING_COLUMNS)
    failures = pd.DataFrame([f for p in parts for f in p.failures], columns=FAILURE_COLUMNS)
    expected = pd.DataFrame(
        [(t["series"], t["model"], h) for t in timings.to_dict("records") for h in config.horizons],
        columns=["series", "model", "horizon"],
    )
    scales = dict(zip(info["series"], info["mase_scale"], strict=True)) if len(info) else {}
    metrics = compute_metrics(forecasts, scales, expected)
    order = {m: i for i, m in enumerate(dict.fromkeys(timings["model"]))}
    metrics = metrics.sort_values(
        ["series", "horizon", "model"],
        key=lambda c: c.map(order) if c.name == "model" else c,
        kind="stable",
    ).reset_index(drop=True)
    return BacktestResult(forecasts, metrics, failures, timings, info, asdict(config))


def _rows(
    name: str,
    model_name: str,
    series: pd.Series,
    prices: np.ndarray,
    fold: np.ndarray,
    paths: np.ndarray,
    config: BacktestConfig,
) -> pd.DataFrame:
    n = len(prices)
    dates = series.index
    log_origin = np.log(prices[fold])
    parts = []
    for h in config.horizons:
        keep = fold + h <= n - 1
        origins = fold[keep]
        if not len(origins):
            continue
        parts.append(
            pd.DataFrame(
                {
                    "series": name,
                    "model": model_name,
                    "origin": dates[origins],
                    "horizon": h,
                    "target_date": dates[origins + h],
                    # anchored on the observed price, so a zero change is exactly zero
                    "forecast": prices[origins] * np.exp(paths[keep, h - 1] - log_origin[keep]),
                    "actual": prices[origins + h],
                    "origin_price": prices[origins],
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else _empty(FORECAST_COLUMNS)


def _check_paths(paths: np.ndarray, n_origins: int, horizon: int) -> None:
    paths = np.asarray(paths)
    if paths.shape != (n_origins, horizon):
        raise ValueError(
            f"forecast_log_paths returned shape {paths.shape}; expected {(n_origins, horizon)}"
        )
    if not np.all(np.isfinite(paths)):
        raise FloatingPointError(f"{int((~np.isfinite(paths)).sum())} forecasts are not finite")


def _date(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
