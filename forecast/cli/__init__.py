"""The ``forecast`` command: thin argument parsing over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; the parser it adds
sets ``func`` to a callable taking the parsed arguments and returning the exit code. Errors
the library raises on purpose become one line on stderr and an exit code, never a traceback.

The top layer: it may import every room, and nothing imports it. It parses, calls one
library function per command, prints, and maps errors to exit codes; the work itself (what
series, which models, what to write) lives in the library.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from forecast.checks import check_int, int_rule
from forecast.errors import ForecastError

#: subcommand modules, in the order ``forecast --help`` lists them
SUBCOMMANDS = ("backtest", "fetch", "run", "scorecard", "serve", "compare", "report")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: stopped by Ctrl-C (SIGINT) and by SIGTERM: 128 + the signal number, as a shell reports it
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C (open transactions roll back), exits 143."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full argument parser (all subcommands), or with ``only`` that subcommand's alone.

    Registering a subcommand imports its module, and some import the engine, the models'
    base (scikit-learn) and the report (matplotlib): seconds on a loaded machine. A command
    needs only its own, so :func:`main` registers just the one named on the command line.
    """
    parser = OneLineParser(
        prog="forecast",
        description="Walk-forward stock-price forecasting against the random walk.",
    )
    from forecast.version import __version__

    parser.add_argument("--version", action="version", version=f"forecast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS if only is None else (only,):
        importlib.import_module(f"forecast.cli.{name}").register(sub)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first argument not an option)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in SUBCOMMANDS else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``forecast`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or EXIT_OK)
    except (ValueError, TypeError) as exc:  # bad arguments and bad data: one line, exit 2
        print(f"forecast {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ForecastError as exc:
        print(f"forecast {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Terminated:
        print(f"forecast {args.command}: interrupted (terminated by SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"forecast {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `forecast scorecard | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK


def console() -> None:
    """The ``forecast`` console script: :func:`main`, then a quick exit.

    The exit handlers run and the output is flushed as at any exit; what is skipped is the
    interpreter's teardown of every loaded module, which after torch, scikit-learn and
    matplotlib took 1 to 4 s of a short command (``benchmarks/backtest_fixed_costs.py``).
    """
    code = main()
    atexit._run_exitfuncs()  # what a normal exit runs: worker pools, temporary folders, logging
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing left to say
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when each record is emitted."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class _LineFormatter(logging.Formatter):
    """``forecast run: warning: message`` (the level in lower case, like the error lines)."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prefix}: {record.levelname.lower()}: {record.getMessage()}"


@contextmanager
def log_to_stderr(
    prefix: str, level: int = logging.WARNING, quiet: tuple[str, ...] = ()
) -> Iterator[None]:
    """Show the library's log records as ``prefix: level: message`` lines on stderr.

    ``quiet`` names loggers raised to ERROR for the duration. Everything is restored on exit,
    so one command's settings never leak into the next call in the same process.
    """
    logger = logging.getLogger("forecast")
    handler = _CurrentStderrHandler()
    handler.setFormatter(_LineFormatter(prefix))
    saved = {name: logging.getLogger(name).level for name in ("forecast", *quiet)}
    logger.addHandler(handler)
    logger.setLevel(level)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        for name, lvl in saved.items():
            logging.getLogger(name).setLevel(lvl)


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        return check_int(int(text), "", 1)
    except ValueError:
        shown = text if text.strip().lstrip("+-").isdigit() else repr(text)
        raise argparse.ArgumentTypeError(f"expected {int_rule(1)}; got {shown}") from None


def level_arg(text: str) -> float:
    """A coverage level strictly between 0 and 1 (argparse type)."""
    from forecast.checks import check_level

    try:
        return check_level(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1 (exclusive); got {text!r}"
        ) from None


def add_interval_arguments(parser: argparse.ArgumentParser, from_config: bool = False) -> None:
    """``--intervals``, ``--scale`` and ``--level``, with the engine's defaults or, with
    ``from_config``, ``None`` (the command's config decides)."""
    from forecast.checks import DEFAULT_INTERVAL_METHOD as DEFAULT_METHOD
    from forecast.checks import DEFAULT_INTERVAL_SCALE as DEFAULT_SCALE
    from forecast.checks import DEFAULT_LEVEL
    from forecast.checks import INTERVAL_METHODS as METHODS
    from forecast.checks import INTERVAL_SCALES as SCALES

    suffix = " (default: the config's)" if from_config else ""
    bands = parser.add_argument_group(f"prediction intervals{suffix}")
    bands.add_argument(
        "--intervals",
        choices=[*METHODS, "none"],
        default=None if from_config else DEFAULT_METHOD,
        help="aci: adaptive conformal on each model's past walk-forward errors"
        f"{'' if from_config else ' (default)'}; conformal: the same at a fixed level; model: "
        "each model's own distribution (conformal for the nets); none",
    )
    bands.add_argument(
        "--scale",
        choices=SCALES,
        default=None if from_config else DEFAULT_SCALE,
        help="divide the conformal scores by a volatility forecast made at the origin: garch "
        "(GARCH(1,1)-t, refit with the models), ewma (RiskMetrics, lambda 0.94) or none"
        f"{'' if from_config else f' (default {DEFAULT_SCALE})'}",
    )
    bands.add_argument(
        "--level",
        type=level_arg,
        default=None if from_config else DEFAULT_LEVEL,
        help="nominal coverage of the intervals"
        f"{'' if from_config else f' (default {DEFAULT_LEVEL})'}",
    )


def add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (default: shown when stderr is a terminal)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show progress (units done, time left) on stderr even when it is not a terminal; "
        "also FORECAST_PROGRESS=1 (default: only on a terminal)",
    )
    group.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress"
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Whether the command shows progress (see :func:`add_progress_arguments`)."""
    from forecast.execution.progress import progress_wanted

    return progress_wanted(getattr(args, "progress", None))


def int_list(text: str) -> list[int]:
    """Parse ``"1,5"`` into ``[1, 5]`` (argparse type)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers; got {text!r}"
        ) from None


def model_list(text: str) -> list[str]:
    """Parse ``"naive, LSTM"`` into registry names ``["naive", "lstm"]`` (argparse type).

    Checked here, against the registry alone, so that a misspelt model is a usage error
    before any library loads.
    """
    from forecast.models.registry import check_model_name

    try:
        return [check_model_name(name) for name in name_list(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ticker_arg(text: str) -> str:
    """A valid ticker, upper-cased (argparse type; the rule is :func:`validate_ticker`'s)."""
    from forecast.data.tickers import validate_ticker

    try:
        return validate_ticker(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def name_list(text: str) -> list[str]:
    """Parse ``"naive, ar"`` into ``["naive", "ar"]`` (argparse type)."""
    return [part.strip() for part in text.split(",") if part.strip()]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
