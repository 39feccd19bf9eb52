"""``forecast fetch``: bring tickers' daily prices into the local cache, one line per ticker."""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.checks import parse_date
from forecast.cli import add_progress_arguments, log_to_stderr, show_progress
from forecast.data.tickers import validate_ticker
from forecast.errors import DataError

if TYPE_CHECKING:  # the library loads when the command runs: `--help` answers at once
    from forecast.data.sources import PriceData
    from forecast.data.yahoo import YahooClient

#: some tickers were served from the cache or embedded data because Yahoo did not answer
EXIT_STALE = 3

EPILOG = """\
Each ticker gets one line: its source (yahoo: fetched now; cache; embedded: the series
shipped with the package), rows, last date, age of the data and content hash.

exit status:
  0  every ticker is up to date (or, with --offline, served from local data)
  1  a ticker has no data anywhere ("no price data for ticker 'XXXX'"); others still fetched
  2  bad arguments (ticker, date)
  3  Yahoo Finance did not answer; some tickers were served from the cache or embedded data

environment:
  FORECAST_OFFLINE=1    same as --offline
  FORECAST_CACHE_DIR    the cache folder (default: the user's cache dir)
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``fetch`` subcommand."""
    p = sub.add_parser(
        "fetch",
        help="fetch daily prices from Yahoo Finance into the local cache",
        description="Fetch daily prices from Yahoo Finance into the local cache: only the "
        "sessions it lacks, plus a small overlap that detects restated history. When Yahoo "
        "does not answer, the cache or the embedded series is used and reported.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("tickers", nargs="+", metavar="TICKER", help="e.g. AAPL BRK-B ^GSPC")
    p.add_argument(
        "--start",
        type=_date_arg,
        help="first date to keep when the ticker is not cached yet (default: whole history)",
    )
    p.add_argument("--end", type=_date_arg, help="last date (default: last closed session)")
    p.add_argument("--offline", action="store_true", help="use local data only, no network")
    p.add_argument("--cache-dir", type=Path, help="the cache folder (default: see below)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def make_client(cache_dir: Path | None) -> YahooClient:
    """The Yahoo client of one ``fetch`` run (tests replace this function)."""
    from forecast.data.yahoo import RetryPolicy, YahooClient

    return YahooClient(cache_dir=cache_dir, policy=RetryPolicy())


def run(args: argparse.Namespace) -> int:
    """Fetch every ticker, print one line each, return the exit status (see the epilog)."""
    tickers = _unique_tickers(args.tickers)
    if args.start and args.end and args.start > args.end:
        raise ValueError(f"--start must be on or before --end; got {args.start} > {args.end}")
    from forecast.data.sources import is_offline, resolve_prices
    from forecast.execution.progress import Progress

    offline = is_offline(True if args.offline else None)
    client = None if offline else make_client(args.cache_dir)
    failed = fell_back = False
    bar = Progress(len(tickers), "ticker", "fetch") if show_progress(args) else None
    with log_to_stderr("forecast fetch"):
        for ticker in tickers:
            if bar is not None:
                bar.set_description(f"{ticker} from {'local data' if offline else 'Yahoo'}")
            try:
                data = resolve_prices(
                    ticker,
                    start=args.start,
                    end=args.end,
                    offline=offline,
                    cache_dir=args.cache_dir,
                    client=client,
                    max_age=timedelta(0),
                )
            except DataError as exc:  # NoPriceData and data Yahoo sent that failed checks
                with bar.aside() if bar is not None else contextlib.nullcontext():
                    print(f"forecast fetch: error: {exc}", file=sys.stderr)
                failed = True
            else:
                with bar.aside() if bar is not None else contextlib.nullcontext():
                    print(format_line(data), flush=True)
                fell_back |= not offline and (data.stale or data.source == "embedded")
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return 1 if failed else EXIT_STALE if fell_back else 0


def format_line(data: PriceData) -> str:
    """``AAPL  yahoo  rows=3271 last=2013-03-01 age=0s hash=sha256:5bf91df40f86 new=+12``."""
    from forecast.data.sources import format_age

    line = (
        f"{data.ticker:<10} {data.source:<8} rows={len(data.frame)} last={data.last_date} "
        f"age={format_age(data.age)} hash={data.content_hash[:19]}"
    )
    if data.source == "yahoo":
        line += f" new={data.new_rows:+d}"
    if data.restated:
        line += " restated"
    if data.stale:
        line += " stale"
    return line


def _unique_tickers(raw: list[str]) -> list[str]:
    tickers = [validate_ticker(t) for t in raw]  # all checked before any network call
    unique = list(dict.fromkeys(tickers))
    if len(unique) < len(tickers):
        repeated = sorted({t for t in tickers if tickers.count(t) > 1})
        print(f"forecast fetch: note: fetching each of {repeated} once", file=sys.stderr)
    return unique


def _date_arg(text: str):
    try:
        return parse_date(text, "date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
