"""One walk through the origins of one series: fits, batched forecasts and intervals.

:func:`run_series` is the unit of work the engine hands to an executor. For each model it
refits at the first origin and every ``refit_every`` origins after, forecasts every origin of
the fold in one batched call on ``y[:last origin of the fold + 1]`` (nothing later exists for
the model), and turns the log-price paths into rows of the long forecasts table.

With intervals on, a separate copy of the model first walks the ``calibration_size`` origins
just before the test period, on the same refit cadence, so that the conformal intervals have
past errors at the first test origin; the copy keeps the test-period fits (warm starts
included) exactly as they are without intervals. Calibration rows serve the intervals only
and never reach the forecasts table or the metrics. The scaled conformal variants read the
series' volatility forecasts ``sigma(origin, h)`` (:mod:`forecast.walkforward.scales`),
computed once per series by the engine and handed to each of its tasks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecast.data.series import series_hash
from forecast.evaluation.conformal import finish_intervals, sigma_column
from forecast.evaluation.metrics import mase_scale
from forecast.models.base import BaseForecaster
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.scales import SeriesScales, series_scales

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


def walk_forward_origins(n: int, test_size: int) -> np.ndarray:
    """Row positions of the forecast origins: ``n-test_size-1 .. n-2``."""
    if test_size > n - 2:
        raise ValueError(
            f"test_size must leave at least 2 rows before the first origin: "
            f"the series has {n} rows; got test_size={test_size}"
        )
    return np.arange(n - test_size - 1, n - 1)


@dataclass
class SeriesPart:
    """Everything one series (or one series and model) contributes to a backtest result."""

    forecasts: pd.DataFrame
    failures: list[dict]
    timings: list[dict]
    info: dict


@dataclass
class _Walk:
    """What walking one model over a run of origins produced."""

    frames: list[pd.DataFrame]
    failures: list[dict]
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    n_fits: int = 0
    n_failed: int = 0


def run_series(
    name: str,
    series: pd.Series,
    templates: Mapping[str, BaseForecaster],
    config: BacktestConfig,
    bar: object | None = None,
    scales: SeriesScales | None = None,
    exog: pd.DataFrame | None = None,
) -> SeriesPart:
    """Backtest every model on one series (the unit of work a parallel run distributes).

    ``scales``: the series' volatility forecasts for the scaled intervals
    (:func:`~forecast.walkforward.scales.series_scales`); computed here when not given.
    ``exog``: the series' past covariates, one row per price; the models that read them
    (``uses_exog``) get the rows up to each fit and each origin, the others never see them.
    """
    prices = series.to_numpy(dtype=float)
    origins = walk_forward_origins(len(prices), config.test_size)
    info = series_info(name, series, config)
    frames, failures, timings = [], [], []
    settings = config.intervals
    if settings is not None and scales is None:
        scales = series_scales(name, series, config)
        failures += scales.failures
    for model_name, template in templates.items():
        x = exog.to_numpy(float) if exog is not None and template.uses_exog else None
        test = _walk(clone(template), model_name, name, series, origins, config, bar, "", x)
        walks = [test]
        rows = _concat(test.frames)
        if settings is not None:
            # origins where the model can be fitted at all: o + 1 training prices
            first = origins[0]
            earliest = max(1, first - settings.calibration_size, template.min_train_size() - 1)
            cal_origins = np.arange(earliest, first)
            if bar is not None:  # the calibration walk's fits show too: they are as slow
                bar.add_total(-(-len(cal_origins) // config.refit_every))
            cal = _walk(clone(template), model_name, name, series, cal_origins, config, bar,
                        "calibration ", x)  # fmt: skip
            walks.append(cal)
            cal_rows = with_sigma(_concat(cal.frames), scales)
            rows = with_sigma(rows, scales)
            rows = finish_intervals(rows, cal_rows, settings) if len(rows) else rows
        frames.append(rows)
        failures += [f for w in walks for f in w.failures]
        timings.append(
            {
                "series": name,
                "model": model_name,
                "fit_seconds": sum(w.fit_seconds for w in walks),
                "predict_seconds": sum(w.predict_seconds for w in walks),
                "n_fits": sum(w.n_fits for w in walks),
                "n_failed": test.n_failed,
            }
        )
    fc = pd.concat(frames, ignore_index=True) if frames else empty_table(FORECAST_COLUMNS)
    return SeriesPart(fc.drop(columns=["_pos"], errors="ignore"), failures, timings, info)


def with_sigma(rows: pd.DataFrame, scales: SeriesScales) -> pd.DataFrame:
    """``rows`` with ``sigma_<scale>`` at each row's origin and horizon, for every scale."""
    rows = rows.copy()
    for scale in scales.sigma:
        rows[sigma_column(scale)] = (
            scales.lookup(scale, rows["_pos"].to_numpy(int), rows["horizon"].to_numpy(int))
            if len(rows)
            else pd.Series(dtype=float)
        )
    return rows


def _walk(
    model: BaseForecaster,
    model_name: str,
    name: str,
    series: pd.Series,
    origins: np.ndarray,
    config: BacktestConfig,
    bar: object | None,
    stage_prefix: str,
    exog: np.ndarray | None = None,
) -> _Walk:
    """Fit and forecast one model over ``origins`` in folds of ``refit_every``."""
    prices = series.to_numpy(dtype=float)
    y = np.log(prices)
    horizon = max(config.horizons)
    settings = config.intervals
    out = _Walk([], [])
    for start in range(0, len(origins), config.refit_every):
        fold = origins[start : start + config.refit_every]
        if bar is not None:
            what = f"{stage_prefix}fold" if stage_prefix else "fold"
            bar.set_description(f"{name} {model_name} {what} {start // config.refit_every + 1}")
        first = fold[0]
        train_lo = 0 if config.train_size is None else max(0, first + 1 - config.train_size)
        stage = "fit"
        try:
            t0 = time.perf_counter()
            x = {} if exog is None else {"exog": exog[train_lo : first + 1]}
            model.fit(series.iloc[train_lo : first + 1], **x)
            out.fit_seconds += time.perf_counter() - t0
            out.n_fits += 1
            stage = "predict"
            t0 = time.perf_counter()
            history = y[: fold[-1] + 1]
            x = {} if exog is None else {"exog": exog[: fold[-1] + 1]}
            paths = model.forecast_log_paths(history, fold + 1, horizon, **x)
            _check_paths(paths, len(fold), horizon)
            bounds = None
            if settings is not None:
                bounds = model.forecast_log_intervals(
                    history, fold + 1, horizon, settings.level, paths=paths
                )
            out.predict_seconds += time.perf_counter() - t0
        except Exception as exc:  # a failing model never stops the others
            out.n_failed += 1
            out.failures.append(
                {
                    "series": name,
                    "model": model_name,
                    "origin": _date(series.index[first]),
                    "stage": stage_prefix + stage,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
        else:
            out.frames.append(_rows(name, model_name, series, prices, fold, paths, bounds, config))
        if bar is not None:
            bar.update(1)
    return out


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


def _rows(
    name: str,
    model_name: str,
    series: pd.Series,
    prices: np.ndarray,
    fold: np.ndarray,
    paths: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None,
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
        base = prices[origins]
        # anchored on the observed price, so a zero change is exactly zero
        rel = log_origin[keep]
        frame = pd.DataFrame(
            {
                "series": name,
                "model": model_name,
                "origin": dates[origins],
                "horizon": h,
                "target_date": dates[origins + h],
                "forecast": base * np.exp(paths[keep, h - 1] - rel),
                "actual": prices[origins + h],
                "origin_price": base,
                "_pos": origins,
            }
        )
        if config.intervals is not None:
            lo, hi = (np.nan, np.nan) if bounds is None else (b[keep, h - 1] for b in bounds)
            frame["lower_model"] = base * np.exp(lo - rel)
            frame["upper_model"] = base * np.exp(hi - rel)
        parts.append(frame)
    return _concat(parts)


def _check_paths(paths: np.ndarray, n_origins: int, horizon: int) -> None:
    paths = np.asarray(paths)
    if paths.shape != (n_origins, horizon):
        raise ValueError(
            f"forecast_log_paths returned shape {paths.shape}; expected {(n_origins, horizon)}"
        )
    if not np.all(np.isfinite(paths)):
        raise FloatingPointError(f"{int((~np.isfinite(paths)).sum())} forecasts are not finite")


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else empty_table(FORECAST_COLUMNS)


def _date(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)


def empty_table(columns: list[str]) -> pd.DataFrame:
    """An empty table with these columns (object dtype), for runs that produced no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
