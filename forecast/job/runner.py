"""The scheduled forecast job behind ``forecast run``.

For each configured ticker, at one as-of session:

1. **load** the prices up to and including the as-of date, never later ones (a replay of a
   past date reads what was known then). With ``--as-of`` the ticker must have a price on
   that session. Without it the as-of is the ticker's latest price, up to the last closed
   session of the calendar when online: a ticker whose prices stop earlier (Yahoo down,
   cache behind) is *stale*, forecast from what there is and reported; the embedded series
   of a machine with no network and no cache are used as they are, so a new user sees the
   job work at once;
2. **plan** each model: skip it if its forecasts for this as-of are stored already (a rerun is
   a no-op), else load its newest model file trained on or before the as-of date, or refit
   it when there is none, when that file is ``refit_every`` sessions old, or when the file
   fails its sha256 check;
3. **compute** (:func:`forecast.job.ticker.compute_ticker`, pure: it writes nothing): fit
   or deserialise, forecast the next ``horizon`` sessions of the exchange calendar, score
   the stored forecasts whose target dates have now passed, and give each new forecast its
   prediction interval from the model's stored interval state updated with the errors
   known at the as-of (rebuilt from its stored forecasts whose targets are at or before it,
   and while those are few a one-off bootstrap walk on the prices up to the as-of, when
   there is no state; see :mod:`forecast.job.intervals`), scaled by the scaling model's
   volatility forecast made from the prices up to the as-of;
4. **write**: new model files atomically, then the ticker's versions, forecasts, scores,
   calibration errors, interval states and status in one transaction, then retention of old
   model files.

After the last ticker the live scorecard with its confidence sequences is recomputed over
every scored forecast of the store and replaced in one transaction
(:func:`forecast.store.live_compute.refresh_live_scorecard`), unless nothing was stored since.

A failing model or ticker never stops the others. Nothing here reads the clock except to
choose the last closed session when no as-of is given online, and for bookkeeping timestamps.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from forecast.checks import parse_date
from forecast.data.cache import PriceCache
from forecast.data.calendar import TradingCalendar, get_calendar
from forecast.data.loading import load_prices
from forecast.data.ohlc import load_price_frame
from forecast.data.sources import is_offline
from forecast.data.yahoo import RetryPolicy, YahooClient
from forecast.execution.base import Executor, Outcome
from forecast.execution.progress import Progress, WorkerReporter
from forecast.execution.sizing import resolve_executor
from forecast.job import modelfiles
from forecast.job.config import JobConfig
from forecast.job.intervals import needs_bootstrap, state_matches
from forecast.job.lock import JobLock
from forecast.job.summary import (
    EXIT_OK,
    AsOf,
    RunSummary,
    run_outcome,
    ticker_summary,
)
from forecast.job.ticker import ModelTask, TickerWork, compute_ticker, spec_of
from forecast.job.volatility import VolatilityWork, plan_volatility
from forecast.store.database import Store, StoreError, check_store_folder, open_store
from forecast.store.live_compute import refresh_live_scorecard
from forecast.store.rows import TickerResult

log = logging.getLogger(__name__)


# ---- the driver ---------------------------------------------------------------------------
def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_job(
    config: JobConfig,
    *,
    as_of: date | str | None = None,
    offline: bool | None = None,
    wait: float = 0.0,
    now: Callable[[], datetime] = _utc_now,
    on_ticker: Callable[[dict], None] | None = None,
    client: YahooClient | None = None,
    jobs: int | None = None,
    executor: Executor | None = None,
    progress: bool = False,
) -> RunSummary:
    """Run the job once; see the module docstring.

    Parameters
    ----------
    config
        The job config (:func:`forecast.job.config.load_config`).
    as_of
        The session to forecast from; every ticker needs a price on it. ``None``: each
        ticker's latest price, up to the calendar's last closed session when online (see
        the module docstring on stale tickers).
    offline
        Never use the network (default: the ``FORECAST_OFFLINE`` environment variable).
    wait
        Seconds to wait for another run's lock before giving up.
    now
        The clock, for the default as-of online and for bookkeeping times.
    on_ticker
        Called with each ticker's summary dict as soon as it is done.
    client
        The Yahoo client of this run (tests inject a fake). Default: one with the batch
        retry policy (:class:`forecast.data.yahoo.RetryPolicy`), whose breaker spans the run.
    jobs, executor
        Where the tickers are computed (:mod:`forecast.execution`): ``jobs=None`` or ``1`` in
        this process, ``jobs=N`` on ``N`` local worker processes, or an executor. Prices are
        loaded and the store is read and written by this process only; each ticker is
        written once, in config order, as soon as it and the tickers before it are done.
    progress
        Show progress on stderr, model by model (:class:`forecast.execution.progress.Progress`).

    Returns
    -------
    RunSummary
        ``exit_code``: 0 all stored (or nothing new), 3 partial, 1 nothing could be done.
    """
    t_start = time.perf_counter()
    executor = resolve_executor(jobs, executor)
    offline = is_offline(offline)
    if client is None and not offline:
        client = YahooClient(cache_dir=PriceCache().root, policy=RetryPolicy())
    calendar = get_calendar(config.calendar)
    rule = _resolve_as_of(calendar, as_of, offline, now)
    if isinstance(rule, str):  # not a session: nothing to do
        return RunSummary("nothing_to_do", EXIT_OK, rule, as_of=str(as_of))
    store_path = check_store_folder(Path(config.store))
    lock = JobLock(store_path)
    label = rule.text if rule.strict else "latest"
    lock.acquire(wait=wait, info={"started_at": _iso(now()), "as_of": label})
    try:
        db = open_store(store_path)
        try:
            modelfiles.clean_temporary(db.models_dir)
            source = (offline, client)
            bar = None
            if progress:
                bar = Progress(len(config.tickers) * len(config.models), "model fit", "run")
            try:
                summary = _run(config, db, calendar, rule, source, now, on_ticker, executor, bar)
            finally:
                if bar is not None:
                    bar.close()
        except sqlite3.Error as exc:  # locked beyond the busy timeout, disk full, I/O error
            raise StoreError(f"store {store_path}: {exc}; the open ticker was rolled back") from exc
        finally:
            db.close()
    finally:
        lock.release()
    summary.store, summary.seconds = str(store_path), round(time.perf_counter() - t_start, 3)
    return summary


def _resolve_as_of(cal: TradingCalendar, as_of, offline: bool, now) -> AsOf | str:
    if as_of is None:
        return AsOf(None if offline else cal.last_closed_session(now()), strict=False)
    day = parse_date(as_of, "as_of")
    last = cal.last_closed_session(now())  # the clock only refuses a date, never shapes results
    if day > last:  # a future holiday too: no date to come is "nothing to do"
        raise ValueError(
            f"as_of must be a session that has closed; {day} is after the last closed "
            f"{cal.name} session {last}"
        )
    if not cal.is_session(day):
        return f"{day} is not a trading session on {cal.name} (weekend or holiday): nothing to do"
    return AsOf(day, strict=True)


def _run(
    config, db: Store, cal, rule: AsOf, source, now, on_ticker, executor, bar=None
) -> RunSummary:
    run_id = db.begin_run(
        as_of=rule.text if rule.strict else None,
        config_hash=config.digest(),
        started_at=_iso(now()),
        pid=os.getpid(),
        host=socket.gethostname(),
        version=_version(),
    )
    tickers, errors = [], []
    notes: dict[str, tuple[str | None, str, float]] = {}  # ticker: as-of, stale, seconds

    def write(done: Outcome) -> None:
        if bar is not None:
            bar.task_done(done.key, len(config.models), f"{done.key} done")
        t0 = time.perf_counter()
        as_of, stale, seconds = notes.pop(done.key)
        result = _finish(db, done, as_of, stale)
        try:
            db.write_ticker(run_id, result)
        except sqlite3.Error as exc:  # the store itself is failing: stop, do not spin on
            stored = ", ".join(t["ticker"] for t in tickers) or "none"
            raise StoreError(
                f"writing {done.key} to the store {db.path} failed ({exc}); nothing of "
                f"{done.key} was stored; tickers stored before it: {stored}"
            ) from exc
        _retain(db, run_id, result, config.keep_versions)
        errors.extend(result.failures)
        seconds += done.seconds + time.perf_counter() - t0
        tickers.append(ticker_summary(result, seconds))
        if on_ticker is not None:
            if bar is None:
                on_ticker(tickers[-1])
            else:
                with bar.aside():
                    on_ticker(tickers[-1])

    if bar is not None and executor.reports_progress:
        executor.on_event = bar.event
    try:
        # the driver loads and plans each ticker, a worker computes it, and the driver writes
        # the results in config order, one transaction per ticker (workers never write)
        with executor.start(ordered=True) as batch:
            for ticker in config.tickers:
                t0 = time.perf_counter()
                work, stale = _prepare(config, db, cal, rule, source, ticker)
                # timed before submitting: a serial batch computes inside submit, and the
                # outcome's own seconds already count that
                notes[ticker] = (work.as_of, stale, time.perf_counter() - t0)
                if isinstance(work, TickerResult):
                    batch.add_result(ticker, work)
                else:
                    reporter = None
                    if bar is not None:
                        in_here = executor.in_process
                        reporter = bar if in_here else WorkerReporter(ticker)
                    batch.submit(ticker, compute_ticker, work, reporter)
                for done in batch.completed(wait=False):
                    write(done)
            for done in batch.completed():
                write(done)
    except BaseException:  # Ctrl-C, SIGTERM, a failing store: the current ticker rolled back
        executor.on_event = None
        try:
            db.finish_run(run_id, status="aborted", errors=errors, finished_at=_iso(now()))
        except sqlite3.Error as exc:
            log.error("could not mark run %s aborted: %s", run_id, exc)
        raise
    executor.on_event = None
    status, code, message = run_outcome(tickers, rule)
    live = _refresh_scorecard(db, run_id, now, errors)
    db.finish_run(run_id, status=status, errors=errors, finished_at=_iso(now()))
    return RunSummary(status, code, message, as_of=rule.text, run_id=run_id, tickers=tickers,
                      scorecard=live)  # fmt: skip


def _refresh_scorecard(db: Store, run_id: int, now, errors: list[dict]) -> dict | None:
    """Store the live scorecard and its confidence sequences over every scored forecast.

    After the tickers, in its own transaction: a run killed before it leaves the previous
    table, which readers then see is stale and compute afresh. A failure here is logged and
    recorded with the run's errors; the forecasts and scores stay stored.
    """
    try:
        return refresh_live_scorecard(db.conn, run_id, now())
    except Exception as exc:  # readers fall back to computing it
        log.warning("live scorecard not stored: %s: %s", type(exc).__name__, exc)
        errors.append({"ticker": None, "model": None, "stage": "scorecard",
                       "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        return None


def _prepare(config, db: Store, cal, rule: AsOf, source, ticker) -> tuple[object, str]:
    """Load and plan one ticker (in the driver): its work and stale note, or its failure."""
    as_of = rule.text
    try:
        prices = _prices(ticker, rule, *source)
        as_of = prices.index[-1].strftime("%Y-%m-%d")
        work = _plan(config, db, cal, ticker, as_of, prices)
        if config.volatility is not None:
            work = replace(
                work, volatility=_plan_volatility(config, db, cal, ticker, as_of, source)
            )
        return work, _stale(cal, rule, prices)
    except Exception as exc:
        return _failed(ticker, as_of, f"{type(exc).__name__}: {exc}"), ""


def _finish(db: Store, done: Outcome, as_of: str | None, stale: str) -> TickerResult:
    """A computed ticker's result, its new model files written; a failure becomes its result."""
    if not done.ok:  # compute_ticker raised, or its worker died
        return _failed(done.key, as_of, done.error)
    result = done.value
    try:
        if stale:
            result.stale, result.message = True, stale
            result.events.append((None, "stale_prices", stale))
        for version in result.versions:
            modelfiles.write_version(db.models_dir, version.file, version.files)
    except Exception as exc:
        return _failed(done.key, as_of, f"{type(exc).__name__}: {exc}")
    return result


def _failed(ticker: str, as_of: str | None, message: str) -> TickerResult:
    failure = {"ticker": ticker, "model": None, "stage": "ticker", "error": message}
    return TickerResult(ticker, as_of, "failed", message=message, failures=[failure])


def _prices(ticker: str, rule: AsOf, offline: bool, client) -> pd.Series:
    prices = load_prices(ticker, end=rule.day, offline=offline, client=client)
    attrs = dict(prices.attrs)
    if rule.day is not None:
        prices = prices[prices.index <= pd.Timestamp(rule.day)]  # never a later price
        last = prices.index[-1].date() if len(prices) else None
        if not len(prices) or (rule.strict and last != rule.day):
            note = f"; {attrs['note']}" if attrs.get("note") else ""
            raise LookupError(
                f"no price for the as-of session {rule.day} (latest on or before it: "
                f"{last or 'none'}, from {attrs.get('source', 'unknown')} data{note})"
            )
    prices.attrs.update(attrs)
    return prices


def _plan_volatility(config, db: Store, cal, ticker: str, as_of: str, source) -> VolatilityWork:
    """The ticker's volatility work: its open/high/low/close up to ``as_of`` and the models.

    The frame comes from the same source as the closes (the cache the close load has just
    topped up, or the embedded series), cut at the as-of session: never a later price.
    """
    offline, client = source
    frame = load_price_frame(ticker, end=as_of, offline=offline, client=client)
    frame = frame[frame.index <= pd.Timestamp(as_of)]
    if not len(frame) or frame.index[-1] != pd.Timestamp(as_of):
        last = frame.index[-1].date() if len(frame) else "none"
        raise LookupError(f"volatility: no open/high/low/close on the as-of session {as_of} "
                          f"(latest: {last})")  # fmt: skip
    return plan_volatility(config.volatility, db, cal, ticker, as_of, frame, config)


def _stale(cal: TradingCalendar, rule: AsOf, prices: pd.Series) -> str:
    """Why a ticker's latest price is behind the last closed session ('' if it is not).

    Offline (``rule.day`` is None) nothing is stale: the cached or embedded series are used
    as they are. Online, the embedded series that a failed fetch fell back to are stale like
    an old cache (a cron job must be told).
    """
    if rule.strict or rule.day is None:
        return ""
    last = prices.index[-1].date()
    behind = cal.sessions_between(last, rule.day)
    if not behind:
        return ""
    note = f" ({prices.attrs['note']})" if prices.attrs.get("note") else ""
    return (
        f"stale: prices end {last}, {behind} session{'s' * (behind != 1)} before the last "
        f"closed session "
        f"{rule.day}{note}"
    )


def _plan(config, db: Store, cal, ticker: str, as_of: str, prices: pd.Series) -> TickerWork:
    stored = db.stored_models(ticker, as_of)
    tasks, events, rejected = [], [], []
    for spec in config.models:
        if spec.name in stored:
            continue
        params, spec_hash = spec_of(spec, ticker, config.seed)
        version = db.latest_version(ticker, spec.name, spec_hash, as_of)
        if version is None:
            tasks.append(ModelTask(spec.name, params, spec_hash, "no model file"))
            continue
        age = cal.sessions_between(version["trained_through"], as_of)
        if age >= config.refit_every_for(spec.name):
            tasks.append(ModelTask(spec.name, params, spec_hash, f"model is {age} sessions old"))
            continue
        try:  # checked here, before anything is deserialised
            files = modelfiles.read_version(db.models_dir, version["file"], version["sha256"])
        except Exception as exc:
            log.warning("%s/%s: %s; refit", ticker, spec.name, exc)
            events.append((spec.name, "bad_model_file", f"{exc}; refit"))
            rejected.append(version["version_id"])
            tasks.append(ModelTask(spec.name, params, spec_hash, "model file failed its check"))
            continue
        tasks.append(
            ModelTask(spec.name, params, spec_hash, None, version["version_id"],
                      version["trained_through"], version["file"], files)
        )  # fmt: skip
    unscored = tuple(tuple(r) for r in db.unscored(ticker, as_of))
    basis = tuple(db.price_basis(ticker, as_of).items()) if unscored else ()
    targets = tuple(d.isoformat() for d in cal.next_sessions(as_of, config.horizon))
    tasks = _with_past_errors(config, db, ticker, as_of, tasks)
    return TickerWork(
        ticker, as_of, prices, prices.attrs.get("source", "unknown"), targets,
        config.train_size, tuple(tasks), len(stored), unscored, tuple(events), tuple(rejected),
        config.intervals, basis,
    )  # fmt: skip


def _with_past_errors(config, db: Store, ticker: str, as_of: str, tasks: list) -> list:
    """Each task with its model's interval states and errors known at ``as_of``, and whether
    to bootstrap it.

    Known at ``as_of``: the newest interval state at or before it made with the run's
    interval settings, stored forecasts of the same model and spec whose targets are at or
    before it (with every horizon stated: only those made after the states' last origins),
    and the newest bootstrap computed at or before it; never anything later, so a replayed
    as-of gets the intervals it got (or would have got) on the day.
    """
    settings = config.intervals
    if settings is None or not tasks:
        return tasks
    method = "conformal" if settings.method == "model" else settings.method
    horizons = set(range(1, config.horizon + 1))
    out = []
    for task in tasks:
        stored = db.interval_states(ticker, task.name, task.spec_hash, as_of)
        states = {h: s for h, s in stored.items() if h in horizons and
                  state_matches(s, settings, method)}  # fmt: skip
        warm = set(states) == horizons
        origins = [s["last_origin"] for s in states.values()]
        since = min(origins) if warm and all(origins) else None
        live = tuple(
            (r["forecast_id"], r["horizon"], r["as_of"], r["target_date"], r["forecast"],
             r["actual"], r["lower"], r["upper"], r["interval_method"], r["interval_scale"],
             r["interval_level"], r["sigma"])
            for r in db.past_forecasts(ticker, as_of, model=task.name, since=since)
            if r["spec_hash"] == task.spec_hash
        )  # fmt: skip
        calibration = (
            () if warm else tuple(db.calibration(ticker, task.name, task.spec_hash, as_of))
        )
        calibrate = not warm and needs_bootstrap(
            calibration, live, config.horizon, settings, warm=set(states)
        )
        out.append(replace(task, calibrate=calibrate, calibration=calibration, live=live,
                           states=states))  # fmt: skip
    return out


def _retain(db: Store, run_id: int, result: TickerResult, keep: int) -> None:
    for model, target in {(v.model, v.target) for v in result.versions}:
        old = db.versions_beyond(result.ticker, model, keep, target)
        if old:
            db.mark_pruned(run_id, result.ticker, model, old)
            for v in old:  # after the commit: a crash here leaves files nobody points to
                try:
                    modelfiles.remove_version(db.models_dir, v["file"])
                except Exception as exc:  # the ticker is stored: a file left is only a warning
                    log.warning(
                        "%s/%s: could not delete old model version %s (%s); the run goes on",
                        result.ticker, model, v["file"], exc,
                    )  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _version() -> str:
    from forecast.version import __version__

    return f"{__version__} python {sys.version.split()[0]}"
