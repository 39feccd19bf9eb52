"""``forecast run``: the scheduled job (see :mod:`forecast.job`).

Exit codes: 0 everything stored (or nothing new to do), 3 partial (some tickers or models
failed, the rest stored), 2 bad config or usage, 1 nothing could be done, 4 stored from
stale prices (Yahoo could not be reached), 75 another run holds the store's lock (try
again later), 130 interrupted (Ctrl-C) and 143 terminated (SIGTERM), the open ticker
rolled back. One line per ticker goes to stderr as it
finishes; ``--json`` prints a machine-readable summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.checks import parse_date
from forecast.cli import (
    Terminated,
    add_interval_arguments,
    add_progress_arguments,
    log_to_stderr,
    show_progress,
)
from forecast.cli.workers import add_worker_arguments, check_worker_args, executor_from_args
from forecast.job.summary import EXIT_LOCKED, RunSummary

if TYPE_CHECKING:  # the library loads when the command runs: `--help` answers at once
    from forecast.job.config import JobConfig

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    p = sub.add_parser(
        "run",
        help="the daily job: forecast every configured ticker and store the results",
        description="Forecast the next trading sessions for every configured ticker, store "
        "the forecasts and model files, and score stored forecasts whose dates have passed. "
        "Exit codes: 0 all stored or nothing new, 3 partial, 2 bad config or usage, 1 nothing "
        "could be done, 4 stored from stale prices (Yahoo unreachable; the tickers are named), "
        "75 another run holds the lock, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM); "
        "an interrupted run rolls back the open ticker.",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="job config TOML (default: pipelines/daily.toml)",
    )
    p.add_argument(
        "--as-of",
        type=_day,
        default=None,
        metavar="DATE",
        help="the session to forecast from, e.g. 2013-02-01; replays a past date using only "
        "prices up to it (default: the last closed session; offline, each ticker's last price)",
    )
    p.add_argument("--store", type=Path, default=None, help="SQLite store (default: config's)")
    p.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="no network: cached prices, else the embedded series",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run's lock instead of exiting 75 (default 0)",
    )
    add_interval_arguments(p, from_config=True)
    add_worker_arguments(p, "ticker", note="; the store is written by this process only")
    add_progress_arguments(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    p.set_defaults(func=run)


def _with_intervals(
    config: JobConfig, method: str | None, level: float | None, scale: str | None = None
) -> JobConfig:
    """The config with ``--intervals`` / ``--level`` / ``--scale`` applied (checked again as a
    whole)."""
    from forecast.evaluation.conformal import IntervalSettings

    if method is None and level is None and scale is None:
        return config
    if method == "none":
        given = "--level" if level is not None else "--scale" if scale is not None else None
        if given:
            raise ValueError(f"{given} has no effect with --intervals none; remove one of them")
        return replace(config, intervals=None)
    if config.intervals is None and method is None:
        given = "--level" if level is not None else "--scale"
        raise ValueError(
            f"{given} has no effect: {config.source} sets intervals = 'none'; add --intervals"
        )
    base = config.intervals or IntervalSettings()
    method = base.method if method is None else method
    level = base.level if level is None else level
    scale = base.scale if scale is None else scale
    return replace(config, intervals=replace(base, method=method, level=level, scale=scale))


def _day(text: str):
    try:
        day = parse_date(text, "--as-of")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    today = datetime.now(UTC).date()
    if day > today:  # the job checks against the exchange's last closed session too
        raise argparse.ArgumentTypeError(
            f"--as-of must be a session that has closed; {day} is in the future (today is {today})"
        )
    return day


def run(args: argparse.Namespace) -> int:
    """Load the config, run the job, print per-ticker lines and the summary."""
    check_worker_args(args)
    from forecast.data.sources import is_offline

    # "using embedded data (offline)" once per ticker says only what --offline asked for
    quiet = ("forecast.data.sources",) if is_offline(args.offline) and not args.verbose else ()
    level = logging.INFO if args.verbose else logging.WARNING
    with log_to_stderr("forecast run", level, quiet):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from forecast.job.config import load_config
    from forecast.job.lock import JobLocked
    from forecast.job.runner import run_job

    config = _with_intervals(load_config(args.config), args.intervals, args.level, args.scale)
    if args.store is not None:
        config = replace(config, store=args.store)
    executor = executor_from_args(args, n_tasks=len(config.tickers))
    log.info("%d tickers on %s", len(config.tickers), executor.describe())
    previous = signal.signal(signal.SIGTERM, _terminate)  # roll back the open ticker, exit
    try:
        summary = run_job(
            config,
            as_of=args.as_of,
            offline=args.offline,
            wait=args.wait,
            on_ticker=_print_ticker,
            executor=executor,
            progress=show_progress(args),
        )
    except JobLocked as exc:
        print(f"forecast run: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"status": "locked", "exit_code": EXIT_LOCKED, "message": str(exc)}))
        return EXIT_LOCKED
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_summary(summary)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=1))
    return summary.exit_code


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


def _print_ticker(t: dict) -> None:
    """One line per ticker, e.g. ``AAPL  stored  as-of 2013-03-01  45 forecasts ...``."""
    parts = [f"{t['ticker']:<8} {t['status']:<10}", f"as-of {t['as_of'] or '-'}"]
    if t["status"] == "failed":
        parts.append(t["message"])
    else:
        parts.append(f"{t['forecasts']} forecasts")
        if t["intervals"] != t["forecasts"]:
            parts.append(f"{t['intervals']} with intervals")
        if t["refit"]:
            parts.append(f"refit {','.join(t['refit'])}")
        if t["loaded"]:
            parts.append(f"loaded {','.join(t['loaded'])}")
        if t["calibrated"]:
            parts.append(f"calibrated {','.join(t['calibrated'])}")
        parts.append(f"{t['scores']} scored")
        vol = t.get("volatility") or {}
        if vol.get("forecasts") or vol.get("scores"):
            parts.append(
                f"volatility: {vol['forecasts']} forecasts, {vol['scores']} scored"
                + (f", refit {','.join(vol['refit'])}" if vol["refit"] else "")
            )
        if t["failed"]:
            parts.append("failed " + "; ".join(f"{m}: {e}" for m, e in t["failed"].items()))
        if t["status"] == "up_to_date":
            parts.append("already stored")
        if t["stale"]:
            parts.append(t["message"])
    parts.append(f"[{t['source'] or '?'} {t['seconds']:.1f}s]")
    print("  ".join(parts), file=sys.stderr, flush=True)


def _print_summary(s: RunSummary) -> None:
    where = f" (run {s.run_id}, store {s.store}, {s.seconds:.1f}s)" if s.run_id else ""
    print(f"forecast run: {s.status}: {s.message}{where}", file=sys.stderr)
