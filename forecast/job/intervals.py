"""Prediction intervals in the scheduled job: the interval state, the bootstrap, the bounds.

At an as-of session ``D`` the interval of a (ticker, model, horizon) forecast comes from that
model's own past errors ``log(actual / forecast)`` **known at D**, as in the backtest
(:mod:`forecast.evaluation.conformal`), and with a volatility scale from ``sigma(D, h)``,
the scaling model's forecast standard deviation of the ``h``-day log return made from the
prices up to ``D`` (:func:`forecast.walkforward.scales.volatility_at`).

The job keeps each (ticker, model, spec, horizon) interval as a **state** in the store
(:class:`~forecast.evaluation.conformal.ConformalState`: the last ``window`` scores and
adaptive conformal's working level, with the newest origin they include). An evening takes
the newest state at or before ``D`` made with the same interval settings and adds the
errors that matured since (stored forecasts of the same model and spec whose origin is
after the state's and whose target is at or before ``D``), in target order, each moving
the working level by whether the stored interval of that forecast missed; the new
forecast's bounds come from the updated state, which is stored for the next evening. That
is the same arithmetic the backtest's walk does, one evening at a time.

Without a usable state (the first run, new settings, a replay older than the states kept,
a store migrated from schema 2) the state is rebuilt once by **replaying** the errors known
at ``D`` in origin order: the *calibration errors* first, then the *live* ones:

* **live errors**: the stored forecasts of the same model and spec whose target date is at
  or before ``D``, scored by an earlier run or by this one (scaled: those with a ``sigma``);
* **calibration errors**: while a model has too few live errors, a *bootstrap*: an honest
  walk-forward over the ``calibration_size`` sessions before ``D``, on the prices up to ``D``
  only, with one fit at its first origin (and for a scaled interval, one fit of the scaling
  model there too). It is computed once per (ticker, model, spec), stored, and reused by
  later runs; a run at ``D`` uses the newest bootstrap computed at or before ``D`` (of the
  run's scale), never a later one.

With ``method="model"`` a model with a predictive distribution uses it, and the others (the
nets) use conformal.

Why one fit for the bootstrap: the job refits every few sessions, and a walk with that
cadence would cost ``calibration_size / refit_every`` fits (20 on the default config, about
20 s per neural model and ticker); one fit costs what the job's own fit costs. Its errors
come from parameters up to ``calibration_size`` sessions old, a little wider than the
job's, which errs on the side of coverage; adaptive conformal corrects the level as live
errors arrive.

Everything here is a pure function of its arguments: no store, no clock, no files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.errors import ModelFitError
from forecast.evaluation.conformal import (
    MIN_ERRORS,
    ConformalState,
    IntervalSettings,
    conformal_walk,
)
from forecast.models.base import BaseForecaster
from forecast.store.rows import CalibrationRow, IntervalStateRow
from forecast.walkforward.engine import BacktestConfig
from forecast.walkforward.scales import sigma_path
from forecast.walkforward.walk import run_series

#: ``(forecast_id, horizon, as_of, target_date, forecast, actual or None, lower, upper,
#: interval_method, interval_scale, interval_level, sigma)``: a stored forecast
LiveRow = tuple
#: ``(horizon, origin, target_date, log_error, scale, sigma)``: a stored bootstrap error
CalibrationError = tuple


@dataclass(frozen=True)
class PastError:
    """One error known at the as-of: its origin and target, the log error, the ``sigma`` of
    its origin (``None``: unscaled or unknown) and whether its own stored interval missed
    (``None``: it had none, or one of other settings)."""

    origin: str
    target: str
    log_error: float
    sigma: float | None = None
    miss: bool | None = None


def chosen_scale(settings: IntervalSettings) -> str | None:
    """The scale of the job's conformal intervals, ``None`` when unscaled."""
    return None if settings.scale == "none" else settings.scale


def state_matches(state: dict, settings: IntervalSettings, method: str) -> bool:
    """Whether a stored state belongs to these settings (else the interval starts afresh)."""
    return (
        state["method"] == method
        and state["scale"] == chosen_scale(settings)
        and state["level"] == settings.level
        and state["gamma"] == settings.gamma
        and state["window_size"] == settings.window
    )


def usable_calibration(
    calibration: Sequence[CalibrationError], settings: IntervalSettings
) -> list[CalibrationError]:
    """The bootstrap errors a run with ``settings`` can use: of its scale, with a sigma."""
    scale = chosen_scale(settings)
    if scale is None:
        return list(calibration)
    return [c for c in calibration if len(c) > 5 and c[4] == scale and c[5] is not None]


def needs_bootstrap(
    calibration: Sequence[CalibrationError],
    live: Sequence[LiveRow],
    horizon: int,
    settings: IntervalSettings,
    warm: set[int] = frozenset(),
) -> bool:
    """Whether some horizon has no usable state (``warm``: the horizons that have one), no
    usable calibration errors and fewer than ``MIN_ERRORS`` usable live ones.

    ``live`` holds the forecasts whose targets are known at the as-of (scored or not yet).
    """
    if settings.calibration_size == 0:
        return False
    calibrated = {row[0] for row in usable_calibration(calibration, settings)}
    scaled = chosen_scale(settings) is not None
    counts = Counter(row[1] for row in live if not scaled or _sigma_of(row) is not None)
    return any(
        h not in warm and h not in calibrated and counts[h] < MIN_ERRORS
        for h in range(1, horizon + 1)
    )


def bootstrap(
    model: BaseForecaster,
    spec_hash: str,
    prices: pd.Series,
    horizon: int,
    size: int,
    train_size: int | None,
    scale: str | None = None,
) -> list[CalibrationRow]:
    """The calibration errors of ``model`` (unfitted) from the sessions before the last price.

    A walk-forward (:func:`forecast.walkforward.walk.run_series`) over the last ``size`` origins of
    ``prices`` (fewer when the series is shorter) with one fit at its first origin on the
    prices up to it (the last ``train_size`` of them), horizons ``1..horizon``; every target
    lies in ``prices``. With a ``scale``, each error carries ``sigma(origin, h)`` from the
    scaling model fitted once at the first origin. Raises ``ModelFitError`` when the walk
    fails.
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
    sigma = np.full(len(fc), np.nan)
    if scale is not None and len(fc):
        origins = np.arange(len(prices) - size - 1, len(prices) - 1)
        path, failed = sigma_path(scale, prices, origins, horizon, size, train_size)
        if failed:
            raise ModelFitError(f"calibration scale {scale}: {failed[0][1]}")
        rows = prices.index.get_indexer(pd.DatetimeIndex(fc["origin"])) - origins[0]
        sigma = path[rows, fc["horizon"].to_numpy(int) - 1]
    return [
        CalibrationRow(model.name, spec_hash, int(h), _day(o), _day(t), float(e),
                       scale if scale is not None else None,
                       float(s) if np.isfinite(s) else None)
        for h, o, t, e, s in zip(fc["horizon"], fc["origin"], fc["target_date"], errors, sigma,
                                 strict=True)
    ]  # fmt: skip


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


def live_errors(
    live: Sequence[LiveRow],
    actuals: dict[int, float],
    settings: IntervalSettings,
    method: str,
) -> dict[int, list[PastError]]:
    """The live errors by horizon, in origin order.

    A live forecast not scored before this run takes its actual from ``actuals`` (forecast
    id -> actual, the scores of this run); one whose target has no price yet is left out, and
    so is, for a scaled interval, one without a ``sigma``. ``miss`` is set from the stored
    interval when it was made by the same method, scale and level.
    """
    scale = chosen_scale(settings)
    out: dict[int, list[PastError]] = {}
    for row in sorted(live, key=lambda r: (r[1], r[2])):
        forecast_id, h, as_of, target, forecast, actual = row[:6]
        if actual is None:
            actual = actuals.get(forecast_id)
        sigma = _sigma_of(row)
        if actual is None or (scale is not None and sigma is None):
            continue
        miss = None
        lower, upper, stored_method, stored_scale, level = (*row[6:11], *(None,) * 5)[:5]
        same = (stored_method, stored_scale, level) == (method, scale, settings.level)
        if same and lower is not None and upper is not None:
            miss = not (lower <= actual <= upper)
        error = float(np.log(actual / forecast))
        out.setdefault(int(h), []).append(PastError(as_of, target, error, sigma, miss))
    return out


def calibration_errors(
    calibration: Sequence[CalibrationError], settings: IntervalSettings
) -> dict[int, list[PastError]]:
    """The usable bootstrap errors by horizon (no stored interval: ``miss`` is ``None``)."""
    out: dict[int, list[PastError]] = {}
    for h, origin, target, error, _, sigma in (
        (*c, None, None)[:6] for c in usable_calibration(calibration, settings)
    ):
        out.setdefault(int(h), []).append(PastError(origin, target, float(error), sigma))
    return out


def replay_state(
    errors: Sequence[PastError],
    as_of: str,
    target: str,
    sigma: float | None,
    settings: IntervalSettings,
    method: str,
) -> tuple[tuple[float, float] | None, ConformalState, str | None]:
    """Rebuild the interval from past errors: bounds at ``as_of``, the state, its last origin.

    The errors are replayed in origin order (stable: the calibration's before live ones of
    the same origin) with the new forecast last, through the backtest's
    :func:`~forecast.evaluation.conformal.conformal_walk`, so that adaptive conformal's
    level has moved after every earlier miss or hit exactly as it would have day by day.
    Only errors whose target is at or before ``as_of`` count (the caller passes no others;
    this checks again). The bounds are ``None`` when fewer than ``MIN_ERRORS`` are known.
    """
    scaled = chosen_scale(settings) is not None
    errors = [e for e in errors if e.target <= as_of and (not scaled or e.sigma is not None)]
    origins = _ordinals([e.origin for e in errors] + [as_of])
    known_at = _ordinals([e.target for e in errors] + [target])
    log_errors = np.array([e.log_error for e in errors] + [np.nan])
    scale = None
    if scaled:
        scale = np.array([e.sigma for e in errors] + [np.nan if sigma is None else sigma])
    order = np.argsort(origins, kind="stable")
    lower, upper, state = conformal_walk(
        log_errors[order], known_at[order], origins[order], settings.level,
        window=settings.window, method=method, gamma=settings.gamma,
        scale=None if scale is None else scale[order],
    )  # fmt: skip
    last = int(np.flatnonzero(order == len(errors))[0])
    bounds = None if not np.isfinite(lower[last]) else (float(lower[last]), float(upper[last]))
    return bounds, state, max((e.origin for e in errors), default=None)


def update_state(
    state: dict, errors: Sequence[PastError], as_of: str
) -> tuple[ConformalState, str | None]:
    """A stored state with the errors matured since: those whose origin is after its last
    origin and whose target is at or before ``as_of``, in target order."""
    current = ConformalState(
        state["level"], state["method"], state["scale"] is not None, state["window_size"],
        state["gamma"], float(state["alpha"]), [float(x) for x in json.loads(state["scores"])],
    )  # fmt: skip
    last = state["last_origin"]
    new = [e for e in errors if (last is None or e.origin > last) and e.target <= as_of]
    for e in sorted(new, key=lambda e: (e.target, e.origin)):
        score = abs(e.log_error) / e.sigma if current.scaled else e.log_error
        if np.isfinite(score):
            current.observe(score, e.miss)
        last = e.origin if last is None or e.origin > last else last
    return current, last


def state_row(
    model: str, spec_hash: str, horizon: int, state: ConformalState, last_origin: str | None,
    scale: str | None,
) -> IntervalStateRow:  # fmt: skip
    """The store row of a state (scores as JSON, exactly round-tripped)."""
    return IntervalStateRow(
        model, spec_hash, horizon, state.method, scale, state.level, state.gamma,
        state.window, float(state.alpha), json.dumps(state.scores), last_origin,
    )  # fmt: skip


def _sigma_of(row: LiveRow) -> float | None:
    return row[11] if len(row) > 11 else None


def _ordinals(days: list[str]) -> np.ndarray:
    return np.array(days, dtype="datetime64[D]").astype(np.int64)


def _day(value: object) -> str:
    return value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)
