"""``forecast compare``: every configured model on every configured series, and the report."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.cli import add_progress_arguments, show_progress
from forecast.cli.workers import add_worker_arguments, check_worker_args, executor_from_args

if TYPE_CHECKING:  # the library loads when the command runs: `--help` answers at once
    import pandas as pd

    from forecast.walkforward.engine import BacktestResult

#: forecast.workflows.compare.DEFAULT_CONFIG, spelled out so that --help imports no library
DEFAULT_CONFIG = Path("pipelines") / "compare.toml"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    p = sub.add_parser(
        "compare",
        help="backtest every configured model on every configured series and write the report",
        description="Walk-forward backtest of the models of a config file on its series "
        "against the random walk; writes the run folder with report.html and report.md.",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the pipeline config (default: {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default: a new timestamped folder under runs/)",
    )
    add_worker_arguments(p, "(series, model) task", note="; overrides the config's jobs")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config, run the comparison, print the headline and where the report is."""
    check_worker_args(args)
    from forecast.walkforward.runfiles import default_run_dir
    from forecast.workflows.compare import CompareConfig, compare

    config = CompareConfig.from_toml(args.config)
    executor = executor_from_args(args, jobs=config.jobs or None)  # checks the options first
    if args.jobs is not None:
        config = replace(config, jobs=args.jobs)
    print(f"config: {config.source}", file=sys.stderr)
    out = args.out or default_run_dir()
    # local: run_compare sizes the pool from config.jobs and the number of tasks
    chosen = executor if args.executor == "dask" else None
    done = compare(config, out, progress=show_progress(args), executor=chosen)
    print_headline(done.result, config.alpha)
    if done.volatility is not None:
        from forecast.report.volatility_tables import summary as volatility_summary

        print()
        for line in volatility_summary(done.volatility.run, config.alpha)[:3]:
            print(f"volatility: {line}")
    print(f"wrote {done.run_dir / 'report.html'} and report.md", file=sys.stderr)
    return 0


def print_headline(result: BacktestResult, alpha: float) -> None:
    """The report's answer as plain text, from the run in memory: the headline (the pooled
    answer first), one line per series and horizon, and the economic verdict."""
    from forecast.evaluation.economics import economic_sentences
    from forecast.report.verdicts_display import case_verdicts, headline

    if result.verdicts is None or result.pooled_verdict is None:  # a result built by hand
        _old_headline(result.metrics, alpha)
        return
    for line in headline(result.metrics, result.verdicts, result.pooled_verdict, alpha):
        print(line)
    print()
    for line in case_verdicts(result.metrics, result.verdicts, alpha):
        print(line)
    if result.economics_summary is not None and len(result.economics_summary):
        print()
        verdict = economic_sentences(result.economics_summary)[-1].removeprefix("Verdict: ")
        print(f"Economic value: {verdict}")


def _old_headline(metrics: pd.DataFrame, alpha: float) -> None:
    """The per-model Diebold-Mariano headline, for a result without the verdict tables."""
    from forecast.report.tables import summary, verdicts

    for line in summary(metrics, alpha):
        print(line)
    print()
    for v in verdicts(metrics, alpha):
        print(f"{v.series} h={v.horizon}: {v.text}")
