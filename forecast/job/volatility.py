"""The evening job's volatility forecasts: plan them (driver), compute and score them (worker).

With a ``[volatility]`` table in the job config (:mod:`forecast.job.volatility_settings`),
each ticker also gets, per configured volatility model (``naive``, the benchmark, always
among them), the forecast variance of the log return from the as-of session to each of the
next ``horizon`` sessions and its Value-at-Risk at 1% and 5% (normal and Student-t), stored in
``volatility_forecasts``; and every stored volatility forecast whose target session has passed
is scored against the realised proxy of the sessions in between (``volatility_scores``).

The same rules as the price models (:mod:`forecast.job.runner`): a model is refit when it has
no usable file, when its file is ``refit_every`` sessions old, or when its file fails its
sha256 check or does not load; otherwise its newest file trained on or before the as-of
forecasts from the new history with its fitted parameters. Files go through the one
versioned model-file machinery (:mod:`forecast.job.modelfiles`), their manifests say
``"target": "volatility"`` and their versions ``target = 'volatility'``. Prices after the
as-of are never read: the driver cuts the frame at the as-of session. A failing model never
stops the others or the price forecasts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.data.ohlc import frame_hash
from forecast.errors import ModelFileError
from forecast.job import modelfiles
from forecast.job.volatility_settings import JobVolatility
from forecast.models.volatility.files import volatility_model_files, volatility_model_from_files
from forecast.models.volatility.realized import choose_proxy, daily_variance, log_ohlc
from forecast.models.volatility.value_at_risk import value_at_risk
from forecast.store.rows import NewVersion, TickerResult, VolatilityForecastRow, VolatilityScoreRow
from forecast.store.volatility import stored_volatility_models, unscored_volatility
from forecast.walkforward.volatility_config import VolatilitySpec

log = logging.getLogger(__name__)

MODEL_FILE = "model.json"
TARGET = "volatility"


@dataclass(frozen=True)
class VolatilityTask:
    """One volatility model of one ticker: refit, or use a checked model file."""

    name: str
    params: dict
    spec_hash: str
    refit_reason: str | None
    version_id: int | None = None
    trained_through: str | None = None
    file: str | None = None
    files: dict[str, bytes] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class VolatilityWork:
    """The volatility part of a ticker's work: plain data, picklable for a worker."""

    frame: pd.DataFrame | None
    proxy: str
    target_dates: tuple[str, ...]
    train_size: int | None
    tasks: tuple[VolatilityTask, ...]
    unscored: tuple[tuple, ...]
    events: tuple[tuple, ...] = ()
    rejected: tuple[int, ...] = ()
    #: why the driver could not plan the volatility forecasts ("": it could)
    error: str = ""


def spec_of(spec: VolatilitySpec, ticker: str, seed: int, proxy: str) -> tuple[dict, str]:
    """A configured volatility model's full parameters and their hash (its version identity).

    An explicit ``proxy`` of the config is set on the models whose own is ``"auto"`` (so the
    model and its target read the same proxy); seeds are derived as the price job's. The
    hash covers the target, so a volatility ``naive`` never shares a version with the price
    model of that name.
    """
    params = spec.build().get_params()
    if proxy != "auto" and params.get("proxy") == "auto" and "proxy" not in spec.params:
        params["proxy"] = proxy
    if "seed" in params and "seed" not in spec.params:
        key = f"{seed}|{ticker}|{TARGET}|{spec.name}".encode()
        params["seed"] = int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % (2**31)
    text = json.dumps({"target": TARGET, "model": spec.name, "params": params}, sort_keys=True)
    return params, "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_volatility(
    settings: JobVolatility, db, cal, ticker: str, as_of: str, frame: pd.DataFrame, config
) -> VolatilityWork:
    """The volatility work of one ticker at ``as_of`` (in the driver: reads the store)."""
    stored = stored_volatility_models(db.conn, ticker, as_of)
    tasks, events, rejected = [], [], []
    for spec in settings.models:
        if spec.name in stored:
            continue
        params, spec_hash = spec_of(spec, ticker, config.seed, settings.proxy)
        version = db.latest_version(ticker, spec.name, spec_hash, as_of)
        if version is None:
            tasks.append(VolatilityTask(spec.name, params, spec_hash, "no model file"))
            continue
        age = cal.sessions_between(version["trained_through"], as_of)
        if age >= settings.refit_every:
            tasks.append(
                VolatilityTask(spec.name, params, spec_hash, f"model is {age} sessions old")
            )
            continue
        try:  # checked here, before anything is deserialised
            files = modelfiles.read_version(db.models_dir, version["file"], version["sha256"])
        except Exception as exc:
            log.warning("%s/%s (volatility): %s; refit", ticker, spec.name, exc)
            events.append((spec.name, "bad_model_file", f"volatility model: {exc}; refit"))
            rejected.append(version["version_id"])
            tasks.append(VolatilityTask(spec.name, params, spec_hash, "model file failed"))
            continue
        tasks.append(
            VolatilityTask(spec.name, params, spec_hash, None, version["version_id"],
                           version["trained_through"], version["file"], files)
        )  # fmt: skip
    targets = tuple(d.isoformat() for d in cal.next_sessions(as_of, settings.horizon))
    return VolatilityWork(
        frame, settings.proxy, targets, config.train_size, tuple(tasks),
        tuple(unscored_volatility(db.conn, ticker, as_of)), tuple(events), tuple(rejected),
    )  # fmt: skip


def compute_volatility(ticker: str, as_of: str, work: VolatilityWork, result: TickerResult) -> None:
    """Score matured volatility forecasts, then fit or load and forecast each model.

    Everything goes into ``result`` (rows, versions with their files, events, failures);
    nothing is written. A failure costs that model (or the scores), never the others.
    """
    result.events += list(work.events)
    result.rejected += list(work.rejected)
    frame = work.frame
    if work.error or frame is None:
        result.failures.append(
            {"ticker": ticker, "model": None, "stage": "volatility", "error": work.error}
        )
        return
    result.volatility_data_hash = frame_hash(frame)
    try:
        data = log_ohlc(frame, ticker)
        result.volatility_scores = score_volatility(frame, work.unscored)
        proxy = choose_proxy(data, work.proxy)
    except Exception as exc:
        result.failures.append({"ticker": ticker, "model": None, "stage": "volatility",
                                "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        return
    train = frame if work.train_size is None else frame.iloc[-work.train_size :]
    horizon = len(work.target_dates)
    for task in work.tasks:
        stage = ["volatility load"]
        try:
            model, trained_through = _model_for(ticker, as_of, work, task, train, result, stage)
            stage[0] = "volatility predict"
            daily = model.predict_variance(horizon, history=frame).to_numpy(dtype=float)
            if daily.shape != (horizon,) or not np.all(np.isfinite(daily) & (daily > 0)):
                raise FloatingPointError(f"variances are not positive finite numbers: {daily}")
            dof = float(model.t_dof())
        except Exception as exc:  # a failing model never stops the others
            result.failures.append({"ticker": ticker, "model": task.name, "stage": stage[0],
                                    "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
            continue
        summed = np.cumsum(daily)
        for h, (target, v) in enumerate(zip(work.target_dates, summed, strict=True), 1):
            var = [
                float(value_at_risk(v, a, d, dof)) for a in (0.01, 0.05) for d in ("normal", "t")
            ]
            result.volatility_forecasts.append(
                VolatilityForecastRow(task.name, task.spec_hash, trained_through, h, target,
                                      float(v), proxy, var[0], var[2], var[1], var[3], dof)
            )  # fmt: skip


def _model_for(ticker, as_of, work, task, train, result, stage):
    """The task's model and its last training date: its checked file, else a new fit."""
    if task.files is not None:
        try:
            model = volatility_model_from_files(task.files, MODEL_FILE, f"models/{task.file}")
            if model.name != task.name or _canonical(model.get_params()) != _canonical(task.params):
                raise ModelFileError(
                    f"models/{task.file} holds {model.name} with {model.get_params()}, not "
                    f"the configured {task.name} with {task.params}"
                )
            return model, task.trained_through
        except Exception as exc:  # any failure to deserialise means: do not use it
            msg = f"volatility model: {exc}; refit"
            log.warning("%s/%s: %s", ticker, task.name, msg)
            result.events.append((task.name, "bad_model_file", msg))
            result.rejected.append(task.version_id)
    stage[0] = "volatility fit"
    model = VolatilitySpec(task.name).build().set_params(**task.params)
    t0 = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - t0
    stage[0] = "volatility save"
    files = volatility_model_files(model, MODEL_FILE)
    result.versions.append(
        NewVersion(
            model=task.name,
            spec_hash=task.spec_hash,
            params=json.dumps(task.params, sort_keys=True, default=str),
            trained_through=as_of,
            n_train=len(train),
            data_hash=frame_hash(train),
            file=modelfiles.version_dir(ticker, f"{TARGET}-{task.name}", as_of, task.spec_hash),
            sha256=modelfiles.digest(files),
            fit_seconds=round(fit_seconds, 4),
            files=files,
            target=TARGET,
        )
    )
    return model, as_of


def score_volatility(frame: pd.DataFrame, unscored: tuple[tuple, ...]) -> list[VolatilityScoreRow]:
    """Scores of stored volatility forecasts whose target session is in ``frame``.

    ``unscored`` rows are ``(vforecast_id, as_of, target_date, variance, proxy, var_1, var_5,
    var_1_t, var_5_t)``. The realised value is the forecast's proxy summed over the sessions
    after its as-of up to its target; the return is the log change of the (adjusted) close.
    A forecast whose as-of or target is not in the frame, or whose range proxy the frame can
    no longer give, waits for a later run.
    """
    if not unscored:
        return []
    data = log_ohlc(frame, "prices")
    where = {d.strftime("%Y-%m-%d"): i for i, d in enumerate(frame.index)}
    daily = {}
    out = []
    for vid, as_of, target, variance, proxy, *vars_ in unscored:
        i, j = where.get(as_of), where.get(target)
        if i is None or j is None or j <= i or (proxy != "squared_returns" and not data.has_range):
            continue
        if proxy not in daily:
            daily[proxy] = daily_variance(data, proxy)
        realized = float(np.sum(daily[proxy][i:j]))  # the proxies of days i+1 .. j
        ret = float(data.close[j] - data.close[i])
        qlike = None
        if realized > 0:
            ratio = realized / variance
            qlike = float(ratio - np.log(ratio) - 1.0)
        hits = [int(ret < -v) for v in vars_]
        out.append(VolatilityScoreRow(vid, realized, ret, qlike, (realized - variance) ** 2, *hits))
    return out


def _canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)
