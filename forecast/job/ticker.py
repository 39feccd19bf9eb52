"""One ticker's work in the scheduled job, as a pure function of plain inputs.

:func:`compute_ticker` takes a :class:`TickerWork` (the prices up to the as-of date, the
target sessions, and per model either "refit" or the bytes of a model file whose sha256 the
driver has checked, with the model's past errors known at the as-of) and returns a
:class:`~forecast.store.rows.TickerResult`: new model versions with their file contents,
forecast rows with their prediction intervals (and the scaling model's sigma and volatility
regime), scores of matured forecasts, new calibration errors and interval states, events and
failures.
It reads no store, writes no file and uses no clock for results, so that it can run in a
worker process while only the driver writes (see :mod:`forecast.job`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.data.series import series_hash
from forecast.errors import ModelFileError
from forecast.evaluation.conformal import MIN_ERRORS, IntervalSettings
from forecast.job import modelfiles
from forecast.job.intervals import (
    CalibrationError,
    LiveRow,
    PastError,
    bootstrap,
    calibration_errors,
    chosen_scale,
    distribution_bounds,
    live_errors,
    replay_state,
    state_row,
    update_state,
)
from forecast.job.volatility import VolatilityWork, compute_volatility
from forecast.models.loading import model_from_files
from forecast.models.saving import model_files
from forecast.store.rows import (
    CalibrationRow,
    ForecastRow,
    IntervalStateRow,
    NewVersion,
    ScoreRow,
    TickerResult,
)
from forecast.walkforward.configfile import ModelSpec
from forecast.walkforward.scales import volatility_at

log = logging.getLogger(__name__)

_RESTATED_TOLERANCE = 1e-9
#: two days' price ratios closer than this are one adjustment (prices have ~6 digits)
_ADJUSTMENT_TOLERANCE = 1e-5
#: the manifest's name in every version folder (neural weights: ``model.pt`` next to it)
MODEL_FILE = "model.json"


@dataclass(frozen=True)
class ModelTask:
    """What to do for one model of one ticker: refit, or use a checked model file.

    With intervals on, ``states`` are the model's stored interval states usable at the
    as-of (by horizon), ``calibration`` and ``live`` its past errors known at the as-of that
    they have not seen (all of them for a horizon without a state; see
    :mod:`forecast.job.intervals`), and ``calibrate`` asks for a bootstrap.
    """

    name: str
    params: dict
    spec_hash: str
    refit_reason: str | None
    version_id: int | None = None
    trained_through: str | None = None
    file: str | None = None
    files: dict[str, bytes] | None = field(default=None, repr=False)
    calibrate: bool = False
    calibration: tuple[CalibrationError, ...] = field(default=(), repr=False)
    live: tuple[LiveRow, ...] = field(default=(), repr=False)
    states: dict[int, dict] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TickerWork:
    """The inputs of :func:`compute_ticker`: plain data, picklable for a worker process."""

    ticker: str
    as_of: str
    prices: pd.Series
    source: str
    target_dates: tuple[str, ...]
    train_size: int | None
    tasks: tuple[ModelTask, ...]
    n_stored: int
    unscored: tuple[tuple, ...]
    events: tuple[tuple, ...] = ()
    rejected: tuple[int, ...] = ()
    intervals: IntervalSettings | None = None
    #: (as_of, last price the forecasts of that day saw): see :func:`score_forecasts`
    basis: tuple[tuple[str, float], ...] = ()
    #: the volatility forecasts to make (:mod:`forecast.job.volatility`); ``None``: none
    volatility: VolatilityWork | None = None


def spec_of(spec: ModelSpec, ticker: str, seed: int) -> tuple[dict, str]:
    """The full parameters of a configured model and their hash (the version identity).

    Models with a ``seed`` parameter get one derived from the job seed, the ticker and the
    model, unless the config sets it: refits are reproducible, and tickers do not share
    initial weights.
    """
    model = spec.build()
    params = model.get_params()
    if "seed" in params and "seed" not in spec.params:
        key = f"{seed}|{ticker}|{spec.name}".encode()
        params["seed"] = int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % (2**31)
    text = json.dumps({"model": spec.name, "params": params}, sort_keys=True, default=str)
    return params, "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def compute_ticker(work: TickerWork, progress: object | None = None) -> TickerResult:
    """Fit or load each model, forecast with intervals, score matured forecasts. Writes nothing.

    Returns
    -------
    TickerResult
        New versions (with their file contents), forecast, score and calibration rows,
        events and per-model failures; ``status`` is stored, partial, failed or up_to_date.
    """
    prices = work.prices
    result = TickerResult(
        ticker=work.ticker,
        as_of=work.as_of,
        status="stored",
        source=work.source,
        data_hash=series_hash(prices),  # of the prices used, not of the whole cache file
        last_price=float(prices.iloc[-1]),
        events=list(work.events),
        rejected=list(work.rejected),
    )
    train = prices if work.train_size is None else prices.iloc[-work.train_size :]
    horizon = len(work.target_dates)
    # scored first: a forecast whose target is the as-of lends its error to today's intervals
    result.scores = score_forecasts(prices, work.unscored, dict(work.basis))
    actuals = {s.forecast_id: s.actual for s in result.scores}
    sigma, regime = _volatility(work, result) if work.tasks else (None, None)
    for task in work.tasks:
        stage = ["load"]
        if progress is not None:  # a Progress here, a WorkerReporter in a worker
            progress.set_description(f"{work.ticker} {task.name}")
        try:
            model, trained_through = _model_for(work, task, train, result, stage)
            stage[0] = "predict"
            values = model.predict(horizon, history=prices).to_numpy(dtype=float)
            if values.shape != (horizon,) or not np.all(np.isfinite(values) & (values > 0)):
                raise FloatingPointError(f"forecasts are not positive finite numbers: {values}")
        except Exception as exc:  # a failing model never stops the others
            result.failures.append(
                {"ticker": work.ticker, "model": task.name, "stage": stage[0],
                 "error": f"{type(exc).__name__}: {exc}"}
            )  # fmt: skip
            if progress is not None:
                progress.update(1)
            continue
        lower, upper, method, scale = _intervals(work, task, model, values, actuals, result, sigma)
        level = None if method is None else work.intervals.level
        sigmas = [None] * horizon if sigma is None else [float(v) for v in sigma]
        result.forecasts += [
            ForecastRow(task.name, task.spec_hash, trained_through, h, target, float(v),
                        lower[h - 1], upper[h - 1], method, level, scale, sigmas[h - 1], regime)
            for h, (target, v) in enumerate(zip(work.target_dates, values, strict=True), 1)
        ]  # fmt: skip
        if progress is not None:
            progress.update(1)
    if work.volatility is not None:
        compute_volatility(work.ticker, work.as_of, work.volatility, result)
    if any(s.restated for s in result.scores):
        result.events.append(
            (None, "restated", "prices changed since some forecasts were made; actuals rescaled")
        )
    n_ok = work.n_stored + len({f.model for f in result.forecasts})
    if result.failures:
        result.status = "partial" if n_ok else "failed"
    elif not work.tasks and not result.volatility_forecasts:
        result.status = "up_to_date"
    return result


def _model_for(
    work: TickerWork, task: ModelTask, train: pd.Series, result: TickerResult, stage: list[str]
) -> tuple[object, str | None]:
    """The task's model and its last training date: its checked file, else a new fit.

    A file that fails to deserialise is rejected (an event) and the model refit; a new fit's
    version (with its files) goes to ``result``. ``stage[0]`` follows the work (load, fit,
    save) so that a failure is reported at the step that failed.
    """
    if task.files is not None:
        try:
            return _load(task), task.trained_through
        except Exception as exc:  # any failure to deserialise means: do not use it
            msg = f"{exc}; refit"
            log.warning("%s/%s: %s", work.ticker, task.name, msg)
            result.events.append((task.name, "bad_model_file", msg))
            result.rejected.append(task.version_id)
    stage[0] = "fit"
    model = ModelSpec(task.name, task.params).build()
    t0 = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - t0
    stage[0] = "save"
    files = model_files(model, MODEL_FILE)
    result.versions.append(
        NewVersion(
            model=task.name,
            spec_hash=task.spec_hash,
            params=json.dumps(task.params, sort_keys=True, default=str),
            trained_through=work.as_of,
            n_train=len(train),
            data_hash=series_hash(train),
            file=modelfiles.version_dir(work.ticker, task.name, work.as_of, task.spec_hash),
            sha256=modelfiles.digest(files),
            fit_seconds=round(fit_seconds, 4),
            files=files,
        )
    )
    return model, work.as_of


def _volatility(work: TickerWork, result: TickerResult) -> tuple[np.ndarray | None, str | None]:
    """``sigma(as-of, h)`` of the scaling model and the volatility regime (see
    :func:`forecast.walkforward.scales.volatility_at`); ``(None, None)`` with intervals off.

    A failure costs the scaled intervals and the regime (an event), never the forecasts.
    """
    if work.intervals is None:
        return None, None
    scale = chosen_scale(work.intervals)
    try:
        return volatility_at(work.prices, len(work.target_dates), scale, work.train_size)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}; scaled intervals and regime left out"
        log.warning("%s: volatility %s failed: %s", work.ticker, scale or "ewma", msg)
        result.events.append((None, "scale_failed", msg))
        return None, None


def _intervals(
    work: TickerWork,
    task: ModelTask,
    model,
    values: np.ndarray,
    actuals: dict[int, float],
    result: TickerResult,
    sigma: np.ndarray | None,
) -> tuple[list, list, str | None, str | None]:
    """One model's interval bounds, method and scale; its new interval states (and a
    bootstrap's rows) go to ``result``.

    A failure here costs the intervals (NULL bounds and an event), never the forecasts.
    """
    none = [None] * len(values)
    settings = work.intervals
    if settings is None:
        return none, none, None, None
    method = "conformal" if settings.method == "model" else settings.method
    scale = chosen_scale(settings)
    try:
        if settings.method == "model":
            bounds = distribution_bounds(model, work.prices, values, settings.level)
            if bounds is not None:
                return bounds[0], bounds[1], "model", None
        if scale is not None and sigma is None:
            raise ValueError(f"no {scale} volatility forecast for the scaled interval")
        lower, upper, states = _conformal(work, task, values, actuals, result, sigma, method)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}; stored without intervals"
        log.warning("%s/%s: %s", work.ticker, task.name, msg)
        result.events.append((task.name, "interval_failed", msg))
        return none, none, method, scale
    result.states += states
    return lower, upper, method, scale


def _conformal(
    work: TickerWork,
    task: ModelTask,
    values: np.ndarray,
    actuals: dict[int, float],
    result: TickerResult,
    sigma: np.ndarray | None,
    method: str,
) -> tuple[list, list, list[IntervalStateRow]]:
    """Conformal bounds per horizon: a stored state updated with the errors matured since,
    or (none usable) a replay of every error known at the as-of; and the new states."""
    settings = work.intervals
    scale = chosen_scale(settings)
    live = live_errors(task.live, actuals, settings, method)
    calibration: dict[int, list[PastError]] | None = None
    lower: list[float | None] = []
    upper: list[float | None] = []
    states = []
    for h, (target, value) in enumerate(zip(work.target_dates, values, strict=True), 1):
        s = None if sigma is None else float(sigma[h - 1])
        stored = task.states.get(h)
        if stored is not None:
            state, last = update_state(stored, live.get(h, []), work.as_of)
            bounds = state.log_bounds(s)
        else:
            if calibration is None:
                calibration = _calibration(work, task, result)
            errors = calibration.get(h, []) + live.get(h, [])
            bounds, state, last = replay_state(errors, work.as_of, target, s, settings, method)
        if len(state.scores) >= MIN_ERRORS:  # else a later run tries a bootstrap again
            states.append(state_row(task.name, task.spec_hash, h, state, last, scale))
        lower.append(None if bounds is None else float(value * np.exp(bounds[0])))
        upper.append(None if bounds is None else float(value * np.exp(bounds[1])))
    return lower, upper, states


def _calibration(
    work: TickerWork, task: ModelTask, result: TickerResult
) -> dict[int, list[PastError]]:
    """The bootstrap errors by horizon: a new bootstrap when asked for, else the stored one."""
    calibration: tuple[CalibrationError, ...] = task.calibration
    if task.calibrate:
        rows = _bootstrap(work, task, result)
        if rows:
            calibration = tuple(
                (r.horizon, r.origin, r.target_date, r.log_error, r.scale, r.sigma) for r in rows
            )
    return calibration_errors(calibration, work.intervals)


def _bootstrap(work: TickerWork, task: ModelTask, result: TickerResult) -> list[CalibrationRow]:
    """The model's calibration errors (see :func:`forecast.job.intervals.bootstrap`)."""
    try:
        rows = bootstrap(
            ModelSpec(task.name, task.params).build(),
            task.spec_hash,
            work.prices,
            len(work.target_dates),
            work.intervals.calibration_size,
            work.train_size,
            chosen_scale(work.intervals),
        )
    except Exception as exc:  # the intervals wait for live errors; a later run tries again
        msg = f"{type(exc).__name__}: {exc}; intervals wait for live errors"
        log.warning("%s/%s: calibration failed: %s", work.ticker, task.name, msg)
        result.events.append((task.name, "calibration_failed", msg))
        return []
    result.calibration += rows
    return rows


def _load(task: ModelTask):
    """Deserialise a checked version and make sure it is the model the config asks for."""
    model = model_from_files(task.files, MODEL_FILE, location=f"models/{task.file}")
    if model.name != task.name or _canonical(model.get_params()) != _canonical(task.params):
        raise ModelFileError(
            f"models/{task.file} holds {model.name} with {model.get_params()}, not the "
            f"configured {task.name} with {task.params}"
        )
    return model


def _adjusted(
    index: Mapping[str, float], basis: Mapping[str, float], as_of: str, ratio: float
) -> bool:
    """Whether the price history up to ``as_of`` was scaled by ``ratio`` as a whole (an
    adjustment), judged on the nearest earlier as-of whose price the store saw."""
    earlier = sorted(d for d in basis if d < as_of and d in index)
    if not earlier:
        return True  # nothing to compare with: assume the adjustment (see score_forecasts)
    day = earlier[-1]
    return abs(index[day] / basis[day] / ratio - 1) <= _ADJUSTMENT_TOLERANCE


def _canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def score_forecasts(
    prices: pd.Series, unscored: tuple[tuple, ...], basis: Mapping[str, float] | None = None
) -> list[ScoreRow]:
    """Scores of stored forecasts whose target date is in ``prices``.

    ``unscored`` rows are ``(forecast_id, as_of, target_date, forecast, last_price)``. When
    the price at the forecast's as-of date is no longer the one the forecast saw, either the
    history was adjusted (a split or dividend scales every earlier price by one ratio) or
    some days were corrected. ``basis`` (as-of -> the last price the forecasts of that day
    saw) tells them apart: when the nearest earlier stored as-of shows the same ratio, it is
    an adjustment and the actual is rescaled to the forecast's price basis,
    ``last_price * p[target] / p[as_of]`` (``restated``); when it does not, a correction,
    and the actual stands as it is. With no earlier as-of to compare, an adjustment is
    assumed (a split left unscaled would make a large false error).
    """
    index = {d.strftime("%Y-%m-%d"): float(v) for d, v in prices.items()}
    out = []
    for forecast_id, as_of, target, forecast, last_price in unscored:
        if target not in index:  # not traded or not loaded yet: scored by a later run
            continue
        actual, base = index[target], index.get(as_of)
        restated = base is not None and abs(base / last_price - 1) > _RESTATED_TOLERANCE
        if restated and _adjusted(index, basis or {}, as_of, base / last_price):
            actual = last_price * actual / base
        else:
            restated = False
        moved = actual - last_price
        hit = None if moved == 0 else int(np.sign(forecast - last_price) == np.sign(moved))
        out.append(
            ScoreRow(
                forecast_id, actual, forecast - actual, last_price - actual, hit, int(restated)
            )
        )
    return out
