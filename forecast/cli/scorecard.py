"""``forecast scorecard``: live accuracy of the stored forecasts.

See :mod:`forecast.store.scorecard` for what each column means.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from forecast.cli import ticker_arg


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``scorecard`` subcommand."""
    p = sub.add_parser(
        "scorecard",
        help="live MAE, rel_mae vs the random walk, hit rate and interval coverage of the "
        "stored forecasts",
        description="For the forecasts `forecast run` stored and later scored: MAE, MAE "
        "relative to the random walk on the same targets (below 1 beats it), the direction "
        "hit rate, and the live coverage (share of actuals inside the interval; compare with "
        "level) and mean relative width of the prediction intervals, overall and split by the "
        "volatility regime at each forecast's as-of (calm, turbulent), per ticker, model and "
        "horizon.",
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
    p.add_argument("--json", action="store_true", help="print the table as JSON records")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the scorecard."""
    from forecast.store.scorecard import format_scorecard, scorecard

    table = scorecard(_store_path(args), ticker=args.ticker, model=args.model)
    if args.json:
        records = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict("records")
        ]
        print(json.dumps(records, indent=1))
    else:
        print(format_scorecard(table))
    return 0


def _store_path(args: argparse.Namespace) -> Path:
    from forecast.job.config import DEFAULT_CONFIG, load_config

    if args.store is not None:
        return args.store
    if args.config is not None or DEFAULT_CONFIG.is_file():
        return load_config(args.config).store
    return Path("data") / "forecast.db"
