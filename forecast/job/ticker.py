"""One ticker's work in the scheduled job, as a pure function of plain inputs.

:func:`compute_ticker` takes a :class:`TickerWork` (the prices up to the as-of date, the
target sessions, and per model either "refit" or the bytes of a model file whose sha256 the
driver has checked, with the model's past errors known at the as-of) and returns a
:class:`~forecast.store.rows.TickerResult`: new model versions with their file contents,
forecast rows with their prediction intervals, scores of matured forecasts, new calibration errors,
events and failures.
It reads no store, writes no file and uses no clock for results, so that it can run in a
worker process while only the driver writes (see :mod:`forecast.job`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.data.series import series_hash
from forecast.errors import ModelFileError
from forecast.evaluation.conformal import IntervalSettings
from forecast.job import modelfiles
from forecast.job.intervals import (
    CalibrationError,
    LiveRow,
    bootstrap,
    conformal_intervals,
    distribution_bounds,
    past_errors,
)
from forecast.job.volatility import VolatilityWork, compute_volatility
from forecast.models.loading import model_from_files
from forecast.models.saving import model_files
from forecast.store.rows import CalibrationRow, ForecastRow, NewVersion, ScoreRow, TickerResult
from forecast.walkforward.configfile import ModelSpec

log = logging.getLogger(__name__)

_RESTATED_TOLERANCE = 1e-9
#: the manifest's name in every version folder (neural weights: ``model.pt`` next to it)
MODEL_FILE = "model.json"


@dataclass(frozen=True)
class ModelTask:
    """What to do for one model of one ticker: refit, or use a checked model file.

    With intervals on, ``calibration`` and ``live`` are the model's past errors known at the
    as-of (see :mod:`forecast.job.intervals`), and ``calibrate`` asks for a bootstrap.
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


def compute_ticker(work: TickerWork) -> TickerResult:
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
    result.scores = score_forecasts(prices, work.unscored)
    actuals = {s.forecast_id: s.actual for s in result.scores}
    for task in work.tasks:
        stage = ["load"]
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
            continue
        lower, upper, method = _intervals(work, task, model, values, actuals, result)
        level = None if method is None else work.intervals.level
        result.forecasts += [
            ForecastRow(task.name, task.spec_hash, trained_through, h, target, float(v),
                        lower[h - 1], upper[h - 1], method, level)
            for h, (target, v) in enumerate(zip(work.target_dates, values, strict=True), 1)
        ]  # fmt: skip
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


def _intervals(
    work: TickerWork,
    task: ModelTask,
    model,
    values: np.ndarray,
    actuals: dict[int, float],
    result: TickerResult,
) -> tuple[list, list, str | None]:
    """One model's interval bounds and method; a bootstrap's rows go to ``result``.

    A failure here costs the intervals (NULL bounds and an event), never the forecasts.
    """
    none = [None] * len(values)
    settings = work.intervals
    if settings is None:
        return none, none, None
    method = "conformal" if settings.method == "model" else settings.method
    try:
        if settings.method == "model":
            bounds = distribution_bounds(model, work.prices, values, settings.level)
            if bounds is not None:
                return bounds[0], bounds[1], "model"
        calibration = task.calibration
        if task.calibrate:
            rows = _bootstrap(work, task, result)
            if rows:
                calibration = tuple((r.horizon, r.origin, r.target_date, r.log_error) for r in rows)
        errors = past_errors(calibration, task.live, actuals)
        lower, upper = conformal_intervals(
            values, work.target_dates, work.as_of, errors, settings, method
        )
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}; stored without intervals"
        log.warning("%s/%s: %s", work.ticker, task.name, msg)
        result.events.append((task.name, "interval_failed", msg))
        return none, none, method
    return lower, upper, method


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


def _canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def score_forecasts(prices: pd.Series, unscored: tuple[tuple, ...]) -> list[ScoreRow]:
    """Scores of stored forecasts whose target date is in ``prices``.

    ``unscored`` rows are ``(forecast_id, as_of, target_date, forecast, last_price)``. When
    the price at the forecast's as-of date is no longer the one the forecast saw (the history
    was restated, e.g. adjusted for a later dividend), the actual is rescaled to the
    forecast's price basis: ``last_price * p[target] / p[as_of]``.
    """
    index = {d.strftime("%Y-%m-%d"): float(v) for d, v in prices.items()}
    out = []
    for forecast_id, as_of, target, forecast, last_price in unscored:
        if target not in index:  # not traded or not loaded yet: scored by a later run
            continue
        actual, base = index[target], index.get(as_of)
        restated = base is not None and abs(base / last_price - 1) > _RESTATED_TOLERANCE
        if restated:
            actual = last_price * actual / base
        moved = actual - last_price
        hit = None if moved == 0 else int(np.sign(forecast - last_price) == np.sign(moved))
        out.append(
            ScoreRow(
                forecast_id, actual, forecast - actual, last_price - actual, hit, int(restated)
            )
        )
    return out
