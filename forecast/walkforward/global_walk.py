"""The walk of a global model: refit on every series' data up to each refit date.

A global model (:mod:`forecast.models.panel`) learns from all series of a run at once, so it
cannot be walked one series at a time. Each series keeps the origins and folds the
per-series engine gives it (:mod:`~forecast.walkforward.walk`: its last ``test_size`` rows,
refit every ``refit_every`` origins); a fold's refit happens on the **date** of its first
origin. At each refit date ``d`` (ascending; series that share a calendar share their dates,
so one fit serves all of them) the model is fitted on every series' rows dated ``d`` or
earlier (the last ``train_size`` of them, if set), then forecasts the folds that start on
``d``, each series from its own history up to each origin.

No look-ahead, across series too, by construction: nothing dated after ``d`` enters the fit,
whichever series it belongs to, and a forecast at origin ``o`` reads its own series up to
``o`` only. The leakage canary of ``tests/test_global_walk.py`` changes one series (prices
and covariates) after a cutoff and checks that no forecast of any series made before the
cutoff moves.

Intervals, as for the per-series walk: a separate copy of the model walks each series'
``calibration_size`` origins before its test period (its own refit dates), and the conformal
intervals of each series are finished from its own errors.

The fit time of a global model is one figure for all series; the timings table shares it
equally among the series it forecast.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecast.evaluation.conformal import finish_intervals
from forecast.models.base import BaseForecaster
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.scales import SeriesScales, series_scales
from forecast.walkforward.walk import (
    FORECAST_COLUMNS,
    SeriesPart,
    _check_paths,
    _concat,
    _date,
    _rows,
    empty_table,
    series_info,
    walk_forward_origins,
    with_sigma,
)


def run_global(
    named: Mapping[str, pd.Series],
    model_name: str,
    template: BaseForecaster,
    config: BacktestConfig,
    exog: Mapping[str, pd.DataFrame] | None = None,
    bar: object | None = None,
    scales: Mapping[str, SeriesScales | None] | None = None,
) -> list[SeriesPart]:
    """Walk one global model over every series; one :class:`SeriesPart` per series.

    ``scales``: each series' volatility forecasts for the scaled intervals (computed here for
    a series that has none), as :func:`~forecast.walkforward.walk.run_series` takes them.
    """
    x = None
    if template.uses_exog:
        x = {n: exog[n].to_numpy(float) for n in named}  # type: ignore[index]
    tests = {n: walk_forward_origins(len(s), config.test_size) for n, s in named.items()}
    test = _walk(clone(template), model_name, named, tests, config, x, bar, "")
    cal = None
    settings = config.intervals
    if settings is not None:
        need = template.min_train_size() - 1
        cals = {
            n: np.arange(max(1, o[0] - settings.calibration_size, need), o[0])
            for n, o in tests.items()
        }
        cal = _walk(clone(template), model_name, named, cals, config, x, None, "calibration ")
    parts = []
    for name, series in named.items():
        rows = _concat(test.frames[name])
        failures = test.failures[name] + (cal.failures[name] if cal is not None else [])
        if settings is not None and len(rows):
            scale = (scales or {}).get(name)
            if scale is None:
                scale = series_scales(name, series, config)
                failures = scale.failures + failures
            cal_rows = with_sigma(_concat(cal.frames[name]), scale)
            rows = finish_intervals(with_sigma(rows, scale), cal_rows, settings)
        share = len(named)
        fit = (test.fit_seconds + (cal.fit_seconds if cal else 0.0)) / share
        timing = {
            "series": name,
            "model": model_name,
            "fit_seconds": fit,
            "predict_seconds": test.predict_seconds[name]
            + (cal.predict_seconds[name] if cal else 0.0),
            "n_fits": test.n_fits + (cal.n_fits if cal else 0),
            "n_failed": len(test.failures[name]),
        }
        fc = rows.drop(columns=["_pos"], errors="ignore") if len(rows) else rows
        parts.append(SeriesPart(fc, failures, [timing], series_info(name, series, config)))
    return parts


class _GlobalWalk:
    """What walking a global model produced, per series."""

    def __init__(self, names):
        self.frames: dict[str, list[pd.DataFrame]] = {n: [] for n in names}
        self.failures: dict[str, list[dict]] = {n: [] for n in names}
        self.predict_seconds: dict[str, float] = dict.fromkeys(names, 0.0)
        self.fit_seconds = 0.0
        self.n_fits = 0


def _walk(
    model: BaseForecaster,
    model_name: str,
    named: Mapping[str, pd.Series],
    origins: Mapping[str, np.ndarray],
    config: BacktestConfig,
    exog: Mapping[str, np.ndarray] | None,
    bar: object | None,
    stage_prefix: str,
) -> _GlobalWalk:
    """Refit at every fold's first date on all series up to it; forecast the folds."""
    out = _GlobalWalk(named)
    by_date: dict[pd.Timestamp, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for name, o in origins.items():
        for start in range(0, len(o), config.refit_every):
            fold = o[start : start + config.refit_every]
            by_date[named[name].index[fold[0]]].append((name, fold))
    horizon = max(config.horizons)
    for date in sorted(by_date):
        folds = by_date[date]
        try:
            t0 = time.perf_counter()
            panel, panel_x = _panel_until(named, exog, date, config.train_size)
            model.fit(panel, **({} if exog is None else {"exog": panel_x}))
            out.fit_seconds += time.perf_counter() - t0
            out.n_fits += 1
        except Exception as exc:  # a failing fit fails its folds, never the walk
            for name, fold in folds:
                out.failures[name].append(_failure(named, name, model_name, fold, "fit", exc,
                                                   stage_prefix))  # fmt: skip
            _advance(bar, len(folds))
            continue
        for name, fold in folds:
            _forecast_fold(model, model_name, named[name], name, fold, config, exog, horizon,
                           out, stage_prefix)  # fmt: skip
        _advance(bar, len(folds))
    return out


def _forecast_fold(
    model: BaseForecaster,
    model_name: str,
    series: pd.Series,
    name: str,
    fold: np.ndarray,
    config: BacktestConfig,
    exog: Mapping[str, np.ndarray] | None,
    horizon: int,
    out: _GlobalWalk,
    stage_prefix: str,
) -> None:
    prices = series.to_numpy(dtype=float)
    history = np.log(prices[: fold[-1] + 1])
    x = None if exog is None else exog[name][: fold[-1] + 1]
    try:
        t0 = time.perf_counter()
        paths = model.forecast_log_paths(history, fold + 1, horizon, exog=x, series=name)
        _check_paths(paths, len(fold), horizon)
        bounds = None
        if config.intervals is not None:
            bounds = model.forecast_log_intervals(
                history, fold + 1, horizon, config.intervals.level, paths=paths
            )
        out.predict_seconds[name] += time.perf_counter() - t0
    except Exception as exc:
        out.failures[name].append(
            _failure({name: series}, name, model_name, fold, "predict", exc, stage_prefix)
        )
        return
    out.frames[name].append(_rows(name, model_name, series, prices, fold, paths, bounds, config))


def _panel_until(
    named: Mapping[str, pd.Series],
    exog: Mapping[str, np.ndarray] | None,
    date: pd.Timestamp,
    train_size: int | None,
) -> tuple[dict[str, pd.Series], dict[str, np.ndarray] | None]:
    """Every series' rows dated ``date`` or earlier (the last ``train_size``), and their
    covariates: the only data a fit on ``date`` may see."""
    panel, panel_x = {}, ({} if exog is not None else None)
    for name, series in named.items():
        end = int(series.index.searchsorted(date, side="right"))  # rows 0..end-1 are <= date
        if end < 2:
            continue
        lo = 0 if train_size is None else max(0, end - train_size)
        panel[name] = series.iloc[lo:end]
        if panel_x is not None:
            panel_x[name] = exog[name][lo:end]  # type: ignore[index]
    return panel, panel_x


def _failure(named, name, model_name, fold, stage, exc, prefix) -> dict:
    return {
        "series": name,
        "model": model_name,
        "origin": _date(named[name].index[fold[0]]),
        "stage": prefix + stage,
        "error": f"{type(exc).__name__}: {exc}",
    }


def _advance(bar: object | None, n: int) -> None:
    if bar is not None:
        bar.update(n)


def failed_global(
    named: Mapping[str, pd.Series], model_name: str, error: str, config: BacktestConfig
) -> list[SeriesPart]:
    """The parts of a global task that failed as a whole (e.g. its worker died)."""
    folds = -(-config.test_size // config.refit_every)
    parts = []
    for name, series in named.items():
        failure = {"series": name, "model": model_name, "origin": None, "stage": "task",
                   "error": error}  # fmt: skip
        timing = {"series": name, "model": model_name, "fit_seconds": 0.0,
                  "predict_seconds": 0.0, "n_fits": 0, "n_failed": folds}  # fmt: skip
        parts.append(SeriesPart(empty_table(FORECAST_COLUMNS), [failure], [timing],
                                series_info(name, series, config)))  # fmt: skip
    return parts
