"""``forecast backtest``: walk-forward backtest of chosen models on chosen series."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.checks import check_int
from forecast.cli import (
    add_interval_arguments,
    add_progress_arguments,
    int_list,
    name_list,
    positive_int,
    show_progress,
)
from forecast.cli.backtest_cross_section import (
    CROSS_SECTION_MODELS,
    add_cross_section_arguments,
    format_ranking,
)
from forecast.cli.backtest_volatility import PROXY_CHOICES, VOLATILITY_MODELS
from forecast.cli.workers import add_worker_arguments, check_worker_args, executor_from_args
from forecast.models.registry import available_models, available_volatility_models

if TYPE_CHECKING:  # the library loads when the command runs: `--help` answers at once
    import pandas as pd

    from forecast.evaluation.conformal import IntervalSettings
    from forecast.walkforward.engine import BacktestResult
    from forecast.workflows.backtest import BacktestPlan

BASELINES = "naive,drift,ar,markov,msar"
TARGETS = ("price", "volatility")
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
        description="Walk-forward backtest against the random walk (--target price, the "
        "default) or of volatility models against the naive volatility model (--target "
        "volatility: realised-variance and Value-at-Risk forecasts). With no TICKER and no "
        "--csv it runs on the embedded series.",
    )
    _add_input_arguments(p)
    _add_walk_arguments(p)
    add_interval_arguments(p)
    p.set_defaults(intervals=None, level=None, scale=None)  # None: not given (price only)
    p.add_argument(
        "--proxy",
        choices=PROXY_CHOICES,
        default=None,
        help="with --target volatility: the realised-variance proxy of the target (default "
        "auto: Yang-Zhang with open/high/low, squared returns for a close-only series)",
    )
    _add_net_arguments(p)
    add_cross_section_arguments(p)
    _add_economic_arguments(p)
    add_worker_arguments(p, "(series, model) task")
    add_progress_arguments(p)
    p.add_argument(
        "--no-report", action="store_true", help="skip report.html and report.md (faster)"
    )
    p.set_defaults(func=run)


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
    """What to forecast, on which series, with which models."""
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
        help="a price CSV (comma-separated: a Date column, see --date-column, plus price "
        "columns); repeatable",
    )
    p.add_argument("--column", help="price column (default: Adj Close, else Close)")
    p.add_argument(
        "--date-column",
        metavar="NAME",
        help="the dates' column of the --csv files (default: the one named Date)",
    )
    p.add_argument(
        "--models",
        type=any_model_list,
        default=None,
        help=f"comma-separated model names (default: {BASELINES}; with --cross-section "
        f"{','.join(CROSS_SECTION_MODELS)}; valid: {','.join(available_models())}; NAME+x: the "
        "model with past covariates, for those that take them; with --target volatility "
        f"default {VOLATILITY_MODELS}, valid {','.join(available_volatility_models())})",
    )


def _add_walk_arguments(p: argparse.ArgumentParser) -> None:
    """The walk-forward's horizons, origins, refits, training window, seed and output."""
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


def _add_net_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that set a parameter of every neural model that has it."""
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


def _add_economic_arguments(p: argparse.ArgumentParser) -> None:
    """``--costs`` and ``--no-economics``."""
    money = p.add_argument_group("economic value (trading on the forecasts after costs)")
    money.add_argument(
        "--costs",
        type=cost_list,
        default=None,
        metavar="BPS",
        help="comma-separated cost levels, basis points per unit of turnover, of the trading "
        "rules and of the cross-section's long-short book (default 0,5,10)",
    )
    money.add_argument(
        "--no-economics",
        action="store_true",
        help="skip the trading rules, deflated Sharpe ratios and PBO",
    )


def any_model_list(text: str) -> list[str]:
    """Model names of either registry (argparse type): a name that is neither a price nor a
    volatility model is a usage error before any library loads; :func:`run` then checks the
    names against the ``--target``'s own registry."""
    from forecast.models.registry import check_model_name, check_volatility_model_name

    names = []
    for name in name_list(text):
        try:
            names.append(check_model_name(name))
        except ValueError as exc:
            try:
                names.append(check_volatility_model_name(name))
            except ValueError:
                raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _check_target_models(args: argparse.Namespace) -> None:
    """Every ``--models`` name belongs to the ``--target``'s registry (``ValueError``)."""
    from forecast.models.registry import check_model_name, check_volatility_model_name

    check = check_volatility_model_name if args.target == "volatility" else check_model_name
    for name in args.models or ():
        check(name)


def plan_from_args(args: argparse.Namespace) -> BacktestPlan:
    """The backtest the options ask for (model names are checked here, before any worker)."""
    from forecast.evaluation.economics import DEFAULT_COSTS_BPS, EconomicSettings
    from forecast.walkforward.config import BacktestConfig
    from forecast.walkforward.cross_section import NET_DEFAULTS as CROSS_SECTION_NETS
    from forecast.walkforward.cross_section import TRAIN_SIZE as CROSS_SECTION_TRAIN_SIZE
    from forecast.walkforward.cross_section import RankingSettings
    from forecast.workflows.backtest import BacktestPlan, model_specs
    from forecast.workflows.cross_section import cross_section_plan
    from forecast.workflows.inputs import covariate_models

    overrides = {
        MODEL_FLAGS[k]: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None
    }
    if args.proxy is not None:
        raise ValueError(f"--proxy applies to --target volatility; got --proxy {args.proxy}")
    if args.cross_section:
        overrides = {**CROSS_SECTION_NETS, **overrides}
    default = ",".join(CROSS_SECTION_MODELS) if args.cross_section else BASELINES
    names = covariate_models(args.models or name_list(default), args.covariates)
    intervals = _interval_settings(args)
    if args.cross_section and args.horizons != [1]:
        raise ValueError(
            f"--cross-section forecasts one session ahead: horizons must be 1; got "
            f"{','.join(map(str, args.horizons))}"
        )
    train_size = args.train_size
    if args.cross_section and train_size is None:
        train_size = CROSS_SECTION_TRAIN_SIZE
    settings = BacktestConfig(
        tuple(args.horizons), args.test_size, args.refit_every, train_size,
        args.seed, intervals,
    )  # fmt: skip
    arguments = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"
    }
    if args.no_economics and args.costs is not None:
        raise ValueError("--costs has no effect with --no-economics; remove one of them")
    costs = tuple(args.costs if args.costs is not None else DEFAULT_COSTS_BPS)
    economics = None if args.no_economics else EconomicSettings(costs_bps=costs)
    plan = BacktestPlan(
        models=model_specs(names, overrides),
        series=(*args.tickers, *(Path(c) for c in args.csv)),
        column=args.column,
        date_column=args.date_column,
        backtest=settings,
        economics=economics,
        arguments=arguments,
        covariates=args.covariates,
        market=args.market,
        start=args.start,
        end=args.end,
    )
    if args.cross_section:
        plan = cross_section_plan(plan, RankingSettings(args.top_k, costs))
    return plan


def _interval_settings(args: argparse.Namespace) -> IntervalSettings | None:
    """``--intervals``, ``--level`` and ``--scale`` with the engine's defaults for those not
    given; ``None`` for ``--intervals none``."""
    from forecast.checks import DEFAULT_INTERVAL_METHOD as DEFAULT_METHOD
    from forecast.checks import DEFAULT_INTERVAL_SCALE as DEFAULT_SCALE
    from forecast.checks import DEFAULT_LEVEL
    from forecast.evaluation.conformal import IntervalSettings

    method = DEFAULT_METHOD if args.intervals is None else args.intervals
    if method == "none":
        return None
    level = DEFAULT_LEVEL if args.level is None else args.level
    scale = DEFAULT_SCALE if args.scale is None else args.scale
    return IntervalSettings(method=method, level=level, scale=scale)


def run(args: argparse.Namespace) -> int:
    """Run the backtest, write the run folder and print the metrics table."""
    check_worker_args(args)
    _check_sizes(args)
    _check_target_models(args)
    if args.horizons is None:  # the default depends on the mode: one session for a ranking
        args.horizons = [1] if args.cross_section else [1, 5]
    if args.target == "volatility":
        from forecast.cli import backtest_volatility

        overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
        return backtest_volatility.run(args, overrides)
    from forecast.cli.compare import print_headline
    from forecast.walkforward.inputs import with_benchmark
    from forecast.workflows.backtest import run_backtest
    from forecast.workflows.cross_section import run_cross_section

    plan = plan_from_args(args)
    names = with_benchmark([m.name for m in plan.models])
    executor = executor_from_args(args, n_tasks=plan.n_tasks(), models=names)
    plan = replace(plan, arguments={**plan.arguments, "jobs": executor.workers})
    progress = show_progress(args)
    with executor:  # local workers start now, importing the models while this process loads
        if progress and not executor.in_process:
            print(f"backtest: on {executor.describe()}", file=sys.stderr)
        options = {"executor": executor, "progress": progress, "report": not args.no_report,
                   "echo": lambda line: print(line, file=sys.stderr)}  # fmt: skip
        if plan.ranking is not None:
            done = run_cross_section(plan, args.out, **options)
        else:
            done = run_backtest(plan, args.out, **options)
    if plan.ranking is not None:
        print(format_ranking(done.scores))
    else:
        print(format_metrics(done.result.metrics))
        print()
        print_headline(done.result, plan.alpha)
    report_failures(done.result)
    if (done.run_dir / "does_it_help.html").is_file():
        print(f"answers: {done.run_dir / 'does_it_help.html'}", file=sys.stderr)
    print(f"wrote {done.run_dir}", file=sys.stderr)
    return 0


def _check_sizes(args: argparse.Namespace) -> None:
    """The engine's own rules on the sizes (same messages), before the library loads."""
    for h in args.horizons or ():
        check_int(h, "horizons", 1)
    check_int(args.test_size, "test_size", 1)
    check_int(args.refit_every, "refit_every", 1)
    if args.train_size is not None:
        check_int(args.train_size, "train_size", 2)


def cost_list(text: str) -> list[float]:
    """Parse ``"0,5,10"`` into ``[0.0, 5.0, 10.0]``, each a number >= 0 (argparse type)."""
    try:
        costs = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers >= 0 (basis points); got {text!r}"
        ) from None
    if not costs or any(not (c >= 0 and c < float("inf")) for c in costs):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers >= 0 (basis points); got {text!r}"
        )
    if len(set(costs)) < len(costs):
        raise argparse.ArgumentTypeError(f"expected each cost once; got {text!r}")
    return costs


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
