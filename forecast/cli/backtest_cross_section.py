"""``forecast backtest --covariates ... / --cross-section``: the options of global nets,
past covariates and the cross-sectional test, and the ranking's printout.

Kept apart from :mod:`forecast.cli.backtest` so that each stays readable; the constants the
``--help`` text names are spelled out here (a test keeps them equal to the library's), so
that building the parser loads no library.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from forecast.cli import positive_int

if TYPE_CHECKING:
    from forecast.walkforward.cross_section import CrossSection

#: forecast.data.covariates.DEFAULT_MARKET
DEFAULT_MARKET = "GSPC"
#: forecast.walkforward.cross_section.DEFAULT_MODELS
CROSS_SECTION_MODELS = ("naive", "reversal", "momentum", "global_ridge", "global_lstm")


def add_cross_section_arguments(p: argparse.ArgumentParser) -> None:
    """``--covariates``, ``--market``, ``--cross-section``, ``--top-k``, ``--start``, ``--end``
    (``--costs`` is shared with the economic value: see :mod:`forecast.cli.backtest`)."""
    extra = p.add_argument_group("covariates and the cross-section")
    extra.add_argument(
        "--covariates",
        type=covariate_arg,
        default=(),
        metavar="LIST",
        help="past covariates for the NAME+x models: market (the index's log return), volume "
        "(log volume and its change), range (Parkinson volatility), dow (day of week); "
        "with no +x model named, every model that takes covariates runs without and with them",
    )
    extra.add_argument(
        "--market", default=DEFAULT_MARKET, help=f"market index (default {DEFAULT_MARKET})"
    )
    extra.add_argument(
        "--cross-section",
        action="store_true",
        help="forecast every stock of a universe one session ahead at each origin and score "
        "the ranking (no TICKER: the 14 shipped S&P 500 stocks and IBM; horizon 1, no "
        "intervals; default --train-size 750, and for the nets --epochs 20 --warm-start)",
    )
    extra.add_argument(
        "--top-k", type=positive_int, default=3, help="stocks long and short (default 3)"
    )
    extra.add_argument("--start", type=date_arg, help="first date kept (YYYY-MM-DD)")
    extra.add_argument("--end", type=date_arg, help="last date kept (YYYY-MM-DD)")


def covariate_arg(text: str) -> tuple[str, ...]:
    """Covariate group names for ``--covariates`` (argparse type)."""
    from forecast.data.covariates import parse_covariates
    from forecast.errors import ConfigError

    try:
        return parse_covariates(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def date_arg(text: str) -> str:
    """An ISO date (argparse type)."""
    from forecast.checks import parse_date

    try:
        return parse_date(text, "date").isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD; got {text!r}") from None


def format_ranking(scores: CrossSection) -> str:
    """The ranking summary and the long-short books at each cost, as plain text."""
    ic = scores.ranking.drop(columns=["horizon"]).to_string(
        index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"
    )
    book = scores.portfolio_summary.to_string(
        index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"
    )
    return f"rank IC (h=1):\n{ic}\n\ntop-k minus bottom-k, net of costs:\n{book}"
