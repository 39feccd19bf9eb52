"""``forecast backtest``: walk-forward backtest of chosen models on chosen series."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

from forecast.checks import DEFAULT_LEVEL
from forecast.cli import (
    add_interval_arguments,
    backtest_volatility,
    int_list,
    name_list,
    positive_int,
)
from forecast.cli.backtest_volatility import PROXY_CHOICES, VOLATILITY_MODELS
from forecast.cli.workers import add_worker_arguments, executor_from_args
from forecast.evaluation.conformal import DEFAULT_METHOD, IntervalSettings
from forecast.models import available_models
from forecast.models.registry import available_volatility_models
from forecast.walkforward.config import BacktestConfig
from forecast.walkforward.engine import BacktestResult
from forecast.walkforward.inputs import with_benchmark
from forecast.workflows.backtest import BacktestPlan, model_specs, run_backtest

BASELINES = "naive,drift,ar,markov,msar"
TARGETS = ("price", "volatility")
#: CLI flags that set the parameter of the same name on every model that has it
MODEL_FLAGS = {
    "epochs": "epochs",
    "window": "window",
    "hidden_size": "hidden_size",
    "n_models": "n_models",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``backtest`` subcommand."""
    p = sub.add_parser(
        "backtest",
        help="walk-forward backtest of models on price series",
        description="Walk-forward backtest against the random walk (--target price, the "
        "default) or of volatility models against the naive volatility model (--target "
        "volatility: realised-variance and Value-at-Risk forecasts). With no TICKER and no "
        "--csv it runs on the embedded series.",
    )
    p.add_argument(
        "--target",
        choices=TARGETS,
        default="price",
        help="what to forecast: price (default) or volatility (the variance of daily log "
        "returns, scored by QLIKE and MSE against the naive model, with 1%% and 5%% "
        "Value-at-Risk backtests)",
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
        help=f"comma-separated model names (default: {BASELINES}; valid: "
        f"{','.join(available_models())}; with --target volatility default "
        f"{VOLATILITY_MODELS}, valid {','.join(available_volatility_models())})",
    )
    p.add_argument(
        "--horizons", type=int_list, default=[1, 5], help="comma-separated (default 1,5)"
    )
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
    p.set_defaults(intervals=None, level=None)  # None: not given (price only; defaults below)
    p.add_argument(
        "--proxy",
        choices=PROXY_CHOICES,
        default=None,
        help="with --target volatility: the realised-variance proxy of the target (default "
        "auto: Yang-Zhang with open/high/low, squared returns for a close-only series)",
    )
    neural = p.add_argument_group(
        "neural models (rnn, lstm, gru, elman, lecture_rnn, lecture_rnn_direction)"
    )
    neural.add_argument("--epochs", type=positive_int)
    neural.add_argument("--window", type=positive_int)
    neural.add_argument("--hidden-size", type=positive_int)
    neural.add_argument("--n-models", type=positive_int)
    add_worker_arguments(p, "(series, model) task")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--no-report", action="store_true", help="skip report.html and report.md (faster)"
    )
    p.set_defaults(func=run)


def plan_from_args(args: argparse.Namespace) -> BacktestPlan:
    """The backtest the options ask for (model names are checked here, before any worker)."""
    overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
    if args.proxy is not None:
        raise ValueError(f"--proxy applies to --target volatility; got --proxy {args.proxy}")
    method = DEFAULT_METHOD if args.intervals is None else args.intervals
    intervals = None
    if method != "none":
        level = DEFAULT_LEVEL if args.level is None else args.level
        intervals = IntervalSettings(method=method, level=level)
    settings = BacktestConfig(
        tuple(args.horizons), args.test_size, args.refit_every, args.train_size, args.seed,
        intervals,
    )  # fmt: skip
    arguments = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"
    }
    return BacktestPlan(
        models=model_specs(args.models or name_list(BASELINES), overrides),
        series=(*args.tickers, *(Path(c) for c in args.csv)),
        column=args.column,
        backtest=settings,
        arguments=arguments,
    )


def run(args: argparse.Namespace) -> int:
    """Run the backtest, write the run folder and print the metrics table."""
    if args.target == "volatility":
        overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
        return backtest_volatility.run(args, overrides)
    plan = plan_from_args(args)
    names = with_benchmark([m.name for m in plan.models])
    executor = executor_from_args(args, n_tasks=plan.n_tasks(), models=names)
    plan = replace(plan, arguments={**plan.arguments, "jobs": executor.workers})
    with executor:  # local workers start now, importing the models while this process loads
        if not args.no_progress and not executor.in_process:
            print(f"backtest: on {executor.describe()}", file=sys.stderr)
        done = run_backtest(
            plan, args.out, executor=executor, progress=not args.no_progress,
            report=not args.no_report, echo=lambda line: print(line, file=sys.stderr),
        )  # fmt: skip
    print(format_metrics(done.result.metrics))
    report_failures(done.result)
    print(f"wrote {done.run_dir}", file=sys.stderr)
    return 0


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
