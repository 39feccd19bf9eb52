"""``forecast backtest``: walk-forward backtest of chosen models on chosen series."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from forecast.backtest import BacktestResult, backtest
from forecast.cli import add_interval_arguments, int_list, name_list, positive_int
from forecast.cli.workers import add_worker_arguments, executor_from_args
from forecast.data import embedded_dir, embedded_tickers, load_prices, read_price_csv
from forecast.metrics import BENCHMARK
from forecast.models import available_models, get_model
from forecast.models.base import BaseForecaster
from forecast.runfiles import default_run_dir, write_run

BASELINES = "naive,drift,ar,markov,msar"
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
        default=name_list(BASELINES),
        help=f"comma-separated model names (default: {BASELINES}; valid: "
        f"{','.join(available_models())})",
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
    neural = p.add_argument_group("neural models (rnn, lstm, gru, elman)")
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


def build_models(names: list[str], overrides: dict[str, object]) -> dict[str, BaseForecaster]:
    """Models by name, with each override set on the models that have that parameter."""
    models = {}
    for name in dict.fromkeys(names):
        model = get_model(name)
        params = {k: v for k, v in overrides.items() if k in model.get_params()}
        models[name] = model.set_params(**params) if params else model
    return models


def load_series(tickers: list[str], csvs: list[str], column: str | None) -> list[pd.Series]:
    """The series a backtest runs on: tickers, CSV files, or the embedded data."""
    series = [load_prices(t, column) for t in tickers]
    series += [load_prices(Path(c), column) for c in csvs]
    if not series:
        for ticker in embedded_tickers():
            s = read_price_csv(embedded_dir() / f"{ticker}.csv", column)
            s.attrs["source"] = "embedded"
            series.append(s)
    if not series:
        raise ValueError(f"no series given and no embedded data found in {embedded_dir()}")
    return series


def run(args: argparse.Namespace) -> int:
    """Run the backtest, write the run folder and print the metrics table."""
    t0 = time.perf_counter()
    overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
    for name in args.models:  # before any worker starts (get_model would import torch)
        if name not in available_models():
            raise ValueError(
                f"unknown model {name!r}; valid models: {', '.join(available_models())}"
            )
    names = list(dict.fromkeys([BENCHMARK, *args.models]))  # the random walk is always run
    n_series = len(args.tickers) + len(args.csv) or len(embedded_tickers())
    executor = executor_from_args(args, n_tasks=n_series * len(names), models=names)
    with executor:  # local workers start now, importing the models while this process loads
        models = build_models(args.models, overrides)
        series = load_series(args.tickers, args.csv, args.column)
        for s in series:
            print(
                f"{s.name}: {len(s)} prices {s.index[0]:%Y-%m-%d}..{s.index[-1]:%Y-%m-%d} "
                f"(source: {s.attrs.get('source', 'file')})",
                file=sys.stderr,
            )
        if not args.no_progress and not executor.in_process:
            print(f"backtest: on {executor.describe()}", file=sys.stderr)
        result = backtest(
            series,
            models,
            args.horizons,
            args.test_size,
            args.refit_every,
            args.train_size,
            seed=args.seed,
            progress=not args.no_progress,
            executor=executor,
            intervals=None if args.intervals == "none" else args.intervals,
            level=args.level,
        )
    out = args.out or default_run_dir()
    arguments = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"
    }
    arguments["jobs"] = executor.workers
    write_run(
        result,
        out,
        command="backtest",
        arguments=arguments,
        elapsed_seconds=round(time.perf_counter() - t0, 3),
    )
    print(format_metrics(result.metrics))
    report_failures(result)
    if not args.no_report:
        from forecast.report import write_report  # matplotlib and jinja2 only when needed

        write_report(out)
    print(f"wrote {out}", file=sys.stderr)
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
