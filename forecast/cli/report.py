"""``forecast report``: report.html and report.md of a run folder, from its files alone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forecast.errors import DataError

#: forecast.report.ALPHA, spelled out so that --help imports no library (a test checks)
ALPHA = 0.05


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report",
        help="write report.html and report.md of a run folder",
        description="Rebuild the comparison report of a run folder (written by backtest or "
        "compare, price or volatility) from its files alone.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder")
    p.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        help=f"significance level of the verdicts (default {ALPHA})",
    )
    p.add_argument("--no-figures", action="store_true", help="tables only (faster)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and print the paths."""
    if not args.run_dir.is_dir():  # before the report's libraries load
        raise DataError(f"run folder not found: {args.run_dir}")
    from forecast.report import write_report
    from forecast.report.cross_section_display import has_help_page, write_help_report

    paths = write_report(args.run_dir, alpha=args.alpha, figures=not args.no_figures)
    print(paths.html)
    print(paths.markdown)
    if has_help_page(args.run_dir):  # pairs to compare, or a cross-section: does it help?
        page = write_help_report(args.run_dir, alpha=args.alpha)
        print(page.html)
        print(page.markdown)
    print(f"{len(paths.figures)} figures in {paths.html.parent / 'figures'}", file=sys.stderr)
    return 0
