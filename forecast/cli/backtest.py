"""``forecast backtest``: walk-forward backtest of chosen models on chosen series."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from forecast.checks import parse_date
from forecast.cli import add_interval_arguments, int_list, name_list, positive_int
from forecast.cli.workers import add_worker_arguments, executor_from_args
from forecast.data.covariates import DEFAULT_MARKET, parse_covariates
from forecast.errors import ConfigError
from forecast.evaluation.conformal import IntervalSettings
from forecast.evaluation.trading import check_costs
from forecast.models import available_models
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.cross_section import DEFAULT_MODELS as CROSS_SECTION_MODELS
from forecast.walkforward.cross_section import NET_DEFAULTS as CROSS_SECTION_NETS
from forecast.walkforward.cross_section import TRAIN_SIZE as CROSS_SECTION_TRAIN_SIZE
from forecast.walkforward.cross_section import CrossSection, RankingSettings
from forecast.walkforward.engine import BacktestResult
from forecast.walkforward.inputs import with_benchmark
from forecast.workflows.backtest import BacktestPlan, model_specs, run_backtest
from forecast.workflows.cross_section import cross_section_plan, run_cross_section
from forecast.workflows.inputs import covariate_models

BASELINES = "naive,drift,ar,markov,msar"
#: CLI flags that set the parameter of the same name on every model that has it
MODEL_FLAGS = {
    "epochs": "epochs",
    "window": "window",
    "hidden_size": "hidden_size",
    "n_models": "n_models",
    "embedding_dim": "embedding_dim",
    "warm_start": "warm_start",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` subcommand."""
    p = sub.add_parser(
        "backtest",
        help="walk-forward backtest of models on price series",
        description="Walk-forward backtest against the random walk. With no TICKER and no "
        "--csv it runs on the embedded series.",
    )
    p.add_argument("tickers", nargs="*", metavar="TICKER", help="tickers to load")
    p.add_argument(
        "--csv",
        action="append",
        default=[],
        metavar="PATH",
        help="a price CSV (Date plus price columns); repeatable",
    )
    p.add_argument("--column", help="price column (default: Adj Close, else Close)")
    p.add_argument(
        "--models",
        type=name_list,
        default=None,
        help=f"comma-separated model names (default: {BASELINES}; with --cross-section "
        f"{','.join(CROSS_SECTION_MODELS)}; valid: {','.join(available_models())}; NAME+x: the "
        "model with past covariates, for those that take them)",
    )
    p.add_argument("--horizons", type=int_list, default=None, help="comma-separated (default 1,5)")
    p.add_argument("--test-size", type=int, default=250, help="number of origins (default 250)")
    p.add_argument(
        "--refit-every", type=int, default=20, help="refit cadence in origins (default 20)"
    )
    p.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="fit on the last N prices only (default: all the past)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the stochastic models (default 0)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: a new timestamped folder under runs/)",
    )
    add_interval_arguments(p)
    neural = p.add_argument_group(
        "neural models (rnn, lstm, gru, elman, lecture_rnn, lecture_rnn_direction)"
    )
    neural.add_argument("--epochs", type=positive_int)
    neural.add_argument("--window", type=positive_int)
    neural.add_argument("--hidden-size", type=positive_int)
    neural.add_argument("--n-models", type=positive_int)
    neural.add_argument(
        "--embedding-dim", type=positive_int, help="global nets: width of the series embedding"
    )
    neural.add_argument(
        "--warm-start", action="store_const", const=True,
        help="refits start from the previous weights",
    )  # fmt: skip
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
    extra.add_argument(
        "--costs", type=cost_list, default=(0.0, 5.0, 10.0),
        help="costs in bps per unit of turnover (default 0,5,10)",
    )  # fmt: skip
    extra.add_argument("--start", type=date_arg, help="first date kept (YYYY-MM-DD)")
    extra.add_argument("--end", type=date_arg, help="last date kept (YYYY-MM-DD)")
    add_worker_arguments(p, "(series, model) task")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--no-report", action="store_true", help="skip report.html and report.md (faster)"
    )
    p.set_defaults(func=run)


def plan_from_args(args: argparse.Namespace) -> BacktestPlan:
    """The backtest the options ask for (model names are checked here, before any worker)."""
    overrides = {
        MODEL_FLAGS[k]: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None
    }
    if args.cross_section:
        overrides = {**CROSS_SECTION_NETS, **overrides}
    default = ",".join(CROSS_SECTION_MODELS) if args.cross_section else BASELINES
    names = covariate_models(args.models or name_list(default), args.covariates)
    intervals = None
    if args.intervals != "none":
        intervals = IntervalSettings(method=args.intervals, level=args.level)
    if args.cross_section and args.horizons not in (None, [1]):
        raise ValueError(
            f"--cross-section forecasts one session ahead: horizons must be 1; got "
            f"{','.join(map(str, args.horizons))}"
        )
    train_size = args.train_size
    if args.cross_section and train_size is None:
        train_size = CROSS_SECTION_TRAIN_SIZE
    settings = BacktestConfig(
        tuple(args.horizons or (1, 5)), args.test_size, args.refit_every, train_size,
        args.seed, intervals,
    )  # fmt: skip
    arguments = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"
    }
    plan = BacktestPlan(
        models=model_specs(names, overrides),
        series=(*args.tickers, *(Path(c) for c in args.csv)),
        column=args.column,
        backtest=settings,
        arguments=arguments,
        covariates=args.covariates,
        market=args.market,
        start=args.start,
        end=args.end,
    )
    if args.cross_section:
        plan = cross_section_plan(plan, RankingSettings(args.top_k, args.costs))
    return plan


def run(args: argparse.Namespace) -> int:
    """Run the backtest, write the run folder and print the metrics table."""
    plan = plan_from_args(args)
    names = with_benchmark([m.name for m in plan.models])
    executor = executor_from_args(args, n_tasks=plan.n_tasks(), models=names)
    plan = replace(plan, arguments={**plan.arguments, "jobs": executor.workers})
    with executor:  # local workers start now, importing the models while this process loads
        if not args.no_progress and not executor.in_process:
            print(f"backtest: on {executor.describe()}", file=sys.stderr)
        options = {"executor": executor, "progress": not args.no_progress,
                   "report": not args.no_report,
                   "echo": lambda line: print(line, file=sys.stderr)}  # fmt: skip
        if plan.ranking is not None:
            done = run_cross_section(plan, args.out, **options)
        else:
            done = run_backtest(plan, args.out, **options)
    if plan.ranking is not None:
        print(format_ranking(done.scores))
    else:
        print(format_metrics(done.result.metrics))
    report_failures(done.result)
    if (done.run_dir / "does_it_help.html").is_file():
        print(f"answers: {done.run_dir / 'does_it_help.html'}", file=sys.stderr)
    print(f"wrote {done.run_dir}", file=sys.stderr)
    return 0


def format_ranking(scores: CrossSection) -> str:
    """The ranking summary and the long-short books at each cost, as plain text."""
    ic = scores.ranking.drop(columns=["horizon"]).to_string(
        index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"
    )
    book = scores.portfolio_summary.to_string(
        index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"
    )
    return f"rank IC (h=1):\n{ic}\n\ntop-k minus bottom-k, net of costs:\n{book}"


def cost_list(text: str) -> tuple[float, ...]:
    """Parse ``"0,5,10"`` (basis points, each >= 0) for ``--costs``."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
        return check_costs(values)
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated costs in bps, each >= 0; got {text!r}"
        ) from None


def covariate_arg(text: str) -> tuple[str, ...]:
    """Covariate group names for ``--covariates`` (argparse type)."""
    try:
        return parse_covariates(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def date_arg(text: str) -> str:
    """An ISO date (argparse type)."""
    try:
        return parse_date(text, "date").isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD; got {text!r}") from None


def report_failures(result: BacktestResult) -> None:
    """One stderr line per model that failed on some folds."""
    if not len(result.failures):
        return
    for (series, model), g in result.failures.groupby(["series", "model"], sort=False):
        print(
            f"{series}/{model}: failed on {len(g)} folds; first: {g['error'].iat[0]}",
            file=sys.stderr,
        )


def format_metrics(metrics: pd.DataFrame) -> str:
    """The metrics table as plain text."""
    shown = metrics.copy()
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
