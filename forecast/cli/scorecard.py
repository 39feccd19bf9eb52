"""``forecast scorecard``: live accuracy of the stored forecasts, with anytime-valid inference.

See :mod:`forecast.store.scorecard` for the accuracy columns, :mod:`forecast.store.live` for
the stored table and its confidence sequences, :mod:`forecast.evaluation.alerts` for
``--alerts``. The store and pandas load only when the command runs, not for ``--help``.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from forecast.checks import parse_date
from forecast.cli import ticker_arg

#: ``--alerts`` printed at least one alert (cron mails the output)
EXIT_ALERTS = 3

EPILOG = """\
The sequences: a 95% anytime-valid confidence sequence on the mean loss difference against
the random walk (squared log errors, model minus random walk; every h-th matured forecast
at horizon h) and one on the interval hit rate. Unlike a test repeated every evening, a
sequence may be checked every evening and acted on whenever it excludes the benchmark:
  status           better (sequence wholly below 0), worse (wholly above), undecided
  coverage_status  below / above (the hit-rate sequence wholly below / above the nominal
                   level), in band
  decided_on       the target date on which the current decided status began

--alerts prints only what is worth a message: a model that has become significantly worse
than the random walk, an interval whose coverage has left its band. By default the changes
the newest `forecast run` made (against the statuses it replaced); with --since DATE every
such status that began on or after DATE. For cron:
  30 22 * * 1-5 cd /srv/forecast && forecast run && forecast scorecard --alerts

exit status:
  0  printed the scorecard; with --alerts: nothing new (and nothing printed)
  1  the store cannot be read (missing, locked, corrupt, another schema version)
  2  bad arguments
  3  --alerts: one line per alert was printed
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``scorecard`` subcommand."""
    p = sub.add_parser(
        "scorecard",
        help="live accuracy against the random walk, interval coverage and their confidence "
        "sequences; --alerts for cron",
        description=textwrap.fill(
            "For the forecasts `forecast run` stored and later scored: MAE, MAE relative to "
            "the random walk on the same targets (below 1 beats it), the direction hit rate, "
            "and the live coverage (share of actuals inside the interval; compare with level) "
            "and mean relative width of the prediction intervals, overall and split by the "
            "volatility regime at each forecast's as-of (calm, turbulent), per ticker, model "
            "and horizon; then the anytime-valid confidence sequences and statuses the job "
            "stored after its last run.",
            88,
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="SQLite store (default: the one in --config, else data/forecast.db)",
    )
    p.add_argument("--config", type=Path, default=None, help="job config naming the store")
    p.add_argument("--ticker", type=ticker_arg, default=None, help="only this ticker")
    p.add_argument("--model", default=None, help="only this model")
    p.add_argument("--json", action="store_true", help="print the table (or alerts) as JSON")
    p.add_argument(
        "--alerts",
        action="store_true",
        help="print only new alerts, one line each; exit 3 if any, else 0 and silent",
    )
    p.add_argument(
        "--since",
        type=_day,
        default=None,
        metavar="DATE",
        help="with --alerts: every alerting status that began on or after DATE "
        "(default: what the newest run changed)",
    )
    p.set_defaults(func=run)


def _day(text: str):
    try:
        return parse_date(text, "--since")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Print the scorecard, or with ``--alerts`` only the new alerts."""
    from forecast.store.live import live_rows

    if args.since is not None and not args.alerts:
        raise ValueError(f"--since is used with --alerts only; got --since {args.since}")
    rows, state = live_rows(_store_path(args), ticker=args.ticker, model=args.model)
    if state is None and rows:
        print(
            "forecast scorecard: note: the stored scorecard is missing or older than the "
            "store (the next `forecast run` stores it); computed from the forecasts",
            file=sys.stderr,
        )
    if args.alerts:
        return _alerts(rows, state is not None, args)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(_text(rows, state))
    return 0


def _alerts(rows: list[dict], stored: bool, args: argparse.Namespace) -> int:
    from forecast.evaluation.alerts import format_alerts
    from forecast.store.live_compute import live_alerts, records

    alerts = live_alerts(rows, stored, since=args.since)
    if args.json:
        print(json.dumps(records(alerts), indent=1))
    elif len(alerts):
        print(format_alerts(alerts))
    return EXIT_ALERTS if len(alerts) else 0


def _text(rows: list[dict], state: dict | None) -> str:
    """The accuracy table, the sequences' table, and the line counting scored and pending."""
    from forecast.store.live import accuracy_text, sequence_text, summary_line

    if not rows:
        return accuracy_text(rows)
    if state is None:
        when = "computed now"
    else:
        run = f" by run {state['run_id']}" if state["run_id"] is not None else ""
        when = f"stored{run} at {state['computed_at']}"
    head = (
        f"Confidence sequences (95%, anytime-valid; {when}): mean squared-log-error "
        "difference against the random walk (below 0: better) and interval hit rate"
    )
    return f"{accuracy_text(rows)}\n\n{head}\n{sequence_text(rows)}\n\n{summary_line(rows)}"


def _store_path(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return args.store
    from forecast.job.config import DEFAULT_CONFIG, load_config  # pandas, the engine's config

    if args.config is not None or DEFAULT_CONFIG.is_file():
        return load_config(args.config).store
    return Path("data") / "forecast.db"
