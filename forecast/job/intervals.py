"""Prediction intervals in the scheduled job: the bootstrap and the bounds at one as-of.

At an as-of session ``D`` the interval of a (ticker, model, horizon) forecast comes from that
model's own past errors ``log(actual / forecast)`` **known at D**, as in the backtest
(:mod:`forecast.evaluation.conformal`):

* **live errors**: the stored forecasts of the same model and spec (same parameters) whose
  target date is at or before ``D``, scored by an earlier run or by this one;
* **calibration errors**: while a model has too few live errors, a *bootstrap*: an honest
  walk-forward over the ``calibration_size`` sessions before ``D``, on the prices up to ``D``
  only, with one fit at its first origin. It is computed once per (ticker, model, spec),
  stored, and reused by later runs; a run at ``D`` uses the newest bootstrap computed at or
  before ``D``, never a later one.

The errors are replayed in origin order, the calibration's first, through
:func:`~forecast.evaluation.conformal.conformal_bounds` (split conformal, or adaptive conformal
whose working level moves after each replayed miss or hit) and the bounds of the new origin are
kept. The quantiles use the last ``window`` errors, so the live errors push the bootstrap out as
they accumulate (after ``window`` sessions it no longer counts). With ``method="model"`` a model
with a predictive distribution uses it, and the others (the nets) use conformal.

Why one fit for the bootstrap: the job refits every few sessions, and a walk with that
cadence would cost ``calibration_size / refit_every`` fits (20 on the default config, about
20 s per neural model and ticker); one fit costs what the job's own fit costs. Its errors
come from parameters up to ``calibration_size`` sessions old, a little wider than the
job's, which errs on the side of coverage; adaptive conformal corrects the level as live
errors arrive.

Everything here is a pure function of its arguments: no store, no clock, no files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast.errors import ModelFitError
from forecast.evaluation.conformal import MIN_ERRORS, IntervalSettings, conformal_bounds
from forecast.models.base import BaseForecaster
from forecast.store.rows import CalibrationRow
from forecast.walkforward.engine import BacktestConfig
from forecast.walkforward.walk import run_series

#: ``(forecast_id, horizon, as_of, target_date, forecast, actual or None)``: a stored forecast
LiveRow = tuple[int, int, str, str, float, float | None]
#: ``(horizon, origin, target_date, log_error)``: a stored bootstrap error
CalibrationError = tuple[int, str, str, float]


def needs_bootstrap(
    calibration: Sequence[CalibrationError],
    live: Sequence[LiveRow],
    horizon: int,
    settings: IntervalSettings,
) -> bool:
    """Whether some horizon has neither calibration errors nor ``MIN_ERRORS`` live ones.

    ``live`` holds the forecasts whose targets are known at the as-of (scored or not yet).
    """
    if settings.calibration_size == 0:
        return False
    calibrated = {row[0] for row in calibration}
    counts = Counter(row[1] for row in live)
    return any(h not in calibrated and counts[h] < MIN_ERRORS for h in range(1, horizon + 1))


def bootstrap(
    model: BaseForecaster,
    spec_hash: str,
    prices: pd.Series,
    horizon: int,
    size: int,
    train_size: int | None,
) -> list[CalibrationRow]:
    """The calibration errors of ``model`` (unfitted) from the sessions before the last price.

    A walk-forward (:func:`forecast.walkforward.walk.run_series`) over the last ``size`` origins of
    ``prices`` (fewer when the series is shorter) with one fit at its first origin on the
    prices up to it (the last ``train_size`` of them), horizons ``1..horizon``; every target
    lies in ``prices``. Raises ``ModelFitError`` when the walk fails.
    """
    size = min(size, len(prices) - 2)
    if size < 1:
        raise ModelFitError(f"calibration needs at least 3 prices; got {len(prices)}")
    config = BacktestConfig(
        horizons=tuple(range(1, horizon + 1)),
        test_size=size,
        refit_every=size,
        train_size=train_size,
        intervals=None,
    )
    part = run_series(str(prices.name or "series"), prices, {model.name: model}, config)
    if part.failures:
        raise ModelFitError(f"calibration walk: {part.failures[0]['error']}")
    fc = part.forecasts
    errors = np.log(fc["actual"].to_numpy(float) / fc["forecast"].to_numpy(float))
    return [
        CalibrationRow(model.name, spec_hash, int(h), _day(o), _day(t), float(e))
        for h, o, t, e in zip(fc["horizon"], fc["origin"], fc["target_date"], errors, strict=True)
    ]


def distribution_bounds(
    model: BaseForecaster, prices: pd.Series, values: np.ndarray, level: float
) -> tuple[list[float], list[float]] | None:
    """The ``level`` interval from ``model``'s predictive distribution, or ``None``.

    ``model`` is fitted and forecast ``values`` from the last of ``prices``. Anchored on the
    last price as :meth:`~forecast.models.base.BaseForecaster.predict_interval` is, and
    widened if needed to hold the forecast (a mixture's central interval need not hold its
    median path).
    """
    y = np.log(prices.to_numpy(float))
    bounds = model.forecast_log_intervals(y, np.array([len(y)]), len(values), level)
    if bounds is None:
        return None
    anchor = float(prices.iloc[-1]) / np.exp(y[-1])
    lower = np.minimum(anchor * np.exp(bounds[0][0]), values)
    upper = np.maximum(anchor * np.exp(bounds[1][0]), values)
    return [float(v) for v in lower], [float(v) for v in upper]


def past_errors(
    calibration: Sequence[CalibrationError],
    live: Sequence[LiveRow],
    actuals: dict[int, float],
) -> dict[int, list[tuple[str, str, float]]]:
    """``(origin, target_date, log_error)`` by horizon: the calibration's, then the live ones.

    A live forecast not scored before this run takes its actual from ``actuals`` (forecast
    id -> actual, the scores of this run); one whose target has no price yet is left out.
    """
    out: dict[int, list[tuple[str, str, float]]] = {}
    for h, origin, target, error in calibration:
        out.setdefault(int(h), []).append((origin, target, float(error)))
    for forecast_id, h, as_of, target, forecast, actual in live:
        if actual is None:
            actual = actuals.get(forecast_id)
        if actual is not None:
            out.setdefault(int(h), []).append((as_of, target, float(np.log(actual / forecast))))
    return out


def conformal_intervals(
    values: np.ndarray,
    target_dates: Sequence[str],
    as_of: str,
    errors: dict[int, list[tuple[str, str, float]]],
    settings: IntervalSettings,
    method: str,
) -> tuple[list[float | None], list[float | None]]:
    """Price bounds of the forecasts ``values`` (horizons 1, 2, ...) made at ``as_of``.

    ``None`` where fewer than :data:`~forecast.evaluation.conformal.MIN_ERRORS` errors are known.
    """
    lower: list[float | None] = []
    upper: list[float | None] = []
    for h, (target, value) in enumerate(zip(target_dates, values, strict=True), 1):
        bounds = replayed_bounds(errors.get(h, []), as_of, target, settings, method)
        lower.append(None if bounds is None else float(value * np.exp(bounds[0])))
        upper.append(None if bounds is None else float(value * np.exp(bounds[1])))
    return lower, upper


def replayed_bounds(
    errors: Sequence[tuple[str, str, float]],
    as_of: str,
    target: str,
    settings: IntervalSettings,
    method: str,
) -> tuple[float, float] | None:
    """Conformal log bounds at ``as_of`` from past ``(origin, target_date, log_error)``.

    The errors are replayed in origin order (stable: the calibration's before live ones of
    the same origin) with the new forecast last, so that adaptive conformal's level has moved
    after every earlier miss or hit exactly as it would have day by day. Only errors whose
    target is at or before ``as_of`` count (the caller passes no others; this checks again).
    ``None`` when fewer than ``MIN_ERRORS`` are known.
    """
    errors = [e for e in errors if e[1] <= as_of]
    origins = _ordinals([e[0] for e in errors] + [as_of])
    known_at = _ordinals([e[1] for e in errors] + [target])
    log_errors = np.array([e[2] for e in errors] + [np.nan])
    order = np.argsort(origins, kind="stable")
    lower, upper = conformal_bounds(
        log_errors[order],
        known_at[order],
        origins[order],
        settings.level,
        window=settings.window,
        method=method,
        gamma=settings.gamma,
    )
    last = int(np.flatnonzero(order == len(errors))[0])
    if not np.isfinite(lower[last]):
        return None
    return float(lower[last]), float(upper[last])


def _ordinals(days: list[str]) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]").astype(np.int64)


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)
