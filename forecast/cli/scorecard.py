"""``forecast scorecard``: live accuracy of the stored forecasts, with anytime-valid inference.

See :mod:`forecast.store.scorecard` for the accuracy columns, :mod:`forecast.store.live` for
the stored table and its confidence sequences, :mod:`forecast.evaluation.alerts` for
``--alerts``. The store and pandas load only when the command runs, not for ``--help``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from forecast.checks import parse_date
from forecast.data.tickers import validate_ticker

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
        description="For the forecasts `forecast run` stored and later scored: MAE, MAE "
        "relative to the random walk on the same targets (below 1 beats it), the direction "
        "hit rate, and the live coverage (share of actuals inside the interval; compare with "
        "level) and mean relative width of the prediction intervals, overall and split by the "
        "volatility regime at each forecast's as-of (calm, turbulent), per ticker, model and "
        "horizon; then the anytime-valid confidence sequences and statuses the job stored "
        "after its last run.",
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
    p.add_argument("--ticker", type=validate_ticker, default=None, help="only this ticker")
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
    from forecast.store.live import live_scorecard

    if args.since is not None and not args.alerts:
        raise ValueError(f"--since is used with --alerts only; got --since {args.since}")
    table, state = live_scorecard(_store_path(args), ticker=args.ticker, model=args.model)
    if state is None and len(table):
        print(
            "forecast scorecard: note: the stored scorecard is missing or older than the "
            "store (the next `forecast run` stores it); computed from the forecasts",
            file=sys.stderr,
        )
    if args.alerts:
        return _alerts(table, state is not None, args)
    if args.json:
        print(json.dumps(_records(table), indent=1))
    else:
        print(_text(table, state))
    return 0


def _alerts(table, stored: bool, args: argparse.Namespace) -> int:
    from forecast.evaluation.alerts import format_alerts
    from forecast.store.live import live_alerts

    alerts = live_alerts(table, stored, since=args.since)
    if args.json:
        print(json.dumps(_records(alerts), indent=1))
    elif len(alerts):
        print(format_alerts(alerts))
    return EXIT_ALERTS if len(alerts) else 0


def _records(frame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def _text(table, state: dict | None) -> str:
    from forecast.store.live import sequence_text
    from forecast.store.scorecard import SCORECARD_COLUMNS, format_scorecard

    accuracy = format_scorecard(table[SCORECARD_COLUMNS])
    if not len(table):
        return accuracy
    when = (
        f"stored by run {state['run_id']} at {state['computed_at']}"
        if state is not None
        else "computed now"
    )
    head = (
        f"\nConfidence sequences (95%, anytime-valid; {when}): mean squared-log-error "
        "difference against the random walk (below 0: better) and interval hit rate"
    )
    return f"{accuracy}\n{head}\n{sequence_text(table)}"


def _store_path(args: argparse.Namespace) -> Path:
    if args.store is not None:
        return args.store
    from forecast.job.config import DEFAULT_CONFIG, load_config

    if args.config is not None or DEFAULT_CONFIG.is_file():
        return load_config(args.config).store
    return Path("data") / "forecast.db"
