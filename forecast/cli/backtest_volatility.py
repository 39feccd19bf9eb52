"""``forecast backtest --target volatility``: the volatility models' walk-forward backtest.

Why an option of ``backtest`` rather than a command of its own: it is the same task (a
walk-forward backtest of chosen models on chosen series, written to a run folder with its
report) with the same series, walk, worker and output options; only the target, and so the
model registry and the scores, change. ``--models`` then names volatility models, ``--proxy``
chooses the target's variance proxy, and the price-only options (``--intervals``,
``--level``, ``--scale``) are refused rather than ignored.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.cli import name_list
from forecast.cli.workers import executor_from_args

if TYPE_CHECKING:
    import pandas as pd

    from forecast.workflows.volatility import VolatilityPlan

#: the econometric volatility models, the default (the nets take minutes per series)
VOLATILITY_MODELS = "naive,ewma,garch,gjr,har,msrv"
#: the target proxies (:data:`forecast.walkforward.volatility_walk.PROXY_CHOICES`, spelled out
#: so that building the parser imports no model; a test keeps the two equal)
PROXY_CHOICES = ("auto", "yang_zhang", "garman_klass", "parkinson", "squared_returns")
#: metrics printed on the terminal (the run folder has them all)
SHOWN = [
    "series",
    "model",
    "horizon",
    "n",
    "rel_qlike",
    "dm_qlike_pvalue",
    "rel_mse",
    "dm_mse_pvalue",
    "in_mcs",
    "var_1_p_uc",
    "var_5_p_uc",
    "var_1_t_p_uc",
    "var_5_t_p_uc",
]


def plan_from_args(args: argparse.Namespace, overrides: dict) -> VolatilityPlan:
    """The volatility backtest the options ask for (names checked before any worker);
    ``overrides``: the model flags given (``--epochs``...), set where a model has them."""
    # imported here: ``forecast --help`` and the other commands do not load the engine
    from forecast.walkforward.volatility_config import volatility_specs
    from forecast.walkforward.volatility_walk import VolatilityConfig
    from forecast.workflows.volatility import VolatilityPlan

    if args.costs is not None or args.no_economics:
        given = "--costs" if args.costs is not None else "--no-economics"
        raise ValueError(
            f"{given} applies to price forecasts (trading on them); --target volatility has no "
            "economic value section; remove it"
        )
    for option in ("intervals", "level", "scale"):
        if getattr(args, option) is not None:
            raise ValueError(
                f"--{option} applies to price forecasts; --target volatility scores "
                f"Value-at-Risk at 1% and 5% instead; got --{option} {getattr(args, option)}"
            )
    config = VolatilityConfig(
        tuple(args.horizons),
        args.test_size,
        args.refit_every,
        args.train_size,
        args.proxy or "auto",
        args.seed,
    )
    arguments = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"
    }
    return VolatilityPlan(
        models=volatility_specs(args.models or name_list(VOLATILITY_MODELS), overrides),
        series=(*args.tickers, *(str(Path(c)) for c in args.csv)),
        column=args.column,
        config=config,
        arguments=arguments,
    )


def run(args: argparse.Namespace, overrides: dict) -> int:
    """Run the volatility backtest, write the run folder, print the scores."""
    from forecast.cli import show_progress
    from forecast.workflows.volatility import run_volatility_backtest

    plan = plan_from_args(args, overrides)
    progress = show_progress(args)
    executor = executor_from_args(
        args, n_tasks=plan.n_tasks(), models=[m.name for m in plan.models]
    )
    plan = replace(plan, arguments={**plan.arguments, "jobs": executor.workers})
    with executor:
        if progress and not executor.in_process:
            print(f"backtest: volatility on {executor.describe()}", file=sys.stderr)
        done = run_volatility_backtest(
            plan,
            args.out,
            executor=executor,
            progress=progress,
            report=not args.no_report,
            echo=lambda line: print(line, file=sys.stderr),
        )
    print(format_volatility_metrics(done.result.metrics))
    for (series, model), g in done.result.failures.groupby(["series", "model"], sort=False):
        print(
            f"{series}/{model}: failed on {len(g)} folds; first: {g['error'].iat[0]}",
            file=sys.stderr,
        )
    print(f"wrote {done.run_dir}", file=sys.stderr)
    return 0


def format_volatility_metrics(metrics: pd.DataFrame) -> str:
    """The main volatility scores as plain text."""
    shown = metrics[[c for c in SHOWN if c in metrics.columns]].copy()
    shown["in_mcs"] = shown["in_mcs"].map({True: "yes", False: "no"}).fillna("-")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
