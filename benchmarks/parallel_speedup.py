"""Speed-up of ``jobs=2`` over ``jobs=1``, and the cost of pinning one thread per task.

On 4 embedded series (AAPL, GOOG, GSPC, IBM; test size 250, refit every 20, horizons 1 and
5, seed 0, the engine's default intervals: adaptive conformal, whose calibration walk adds
100 origins per model), measured side by side in one run, for the five baselines and for
``lstm`` (the settings of ``pipelines/compare.toml``: window 20, hidden 16, at most 10
epochs, patience 3, warm start):

1. **end to end**, as ``forecast backtest --jobs N`` runs: each run is a fresh Python
   process that imports forecast, builds the models, loads the series and backtests them,
   timed from its start to its exit. With ``jobs=2`` that includes starting two workers
   and their imports. ``jobs=1`` and ``jobs=2`` runs alternate, and each pair's speed-up is
   printed too: on a shared machine the speed drifts by 10% over minutes, which a pair run
   back to back mostly cancels. The forecasts of both runs must be identical, bit for bit;
2. **warm workers**, as in a notebook or a long job that keeps its executor open
   (``with ProcessExecutor(2) as pool``): the backtest alone, in this process with
   ``jobs=1`` and on two already-started workers with ``jobs=2``;
3. where the time goes: the sum of the tasks' seconds, the longest task, and the makespan
   of the engine's task order on 2 workers with those seconds and no overhead (the best
   speed-up these tasks allow);
4. with ``--thread-cost``: what the fixed thread count costs or saves, in this process: the
   baselines with the BLAS thread count left to the machine (instead of one per task), and
   ``lstm`` trained with two torch threads (instead of one); the forecasts are compared
   with the pinned runs'.

The load average is printed with each measurement; it counts this benchmark's own
processes too. On a shared machine, start when it is near 0 (``uptime``).

    python benchmarks/parallel_speedup.py [--repeat 1] [--test-size 250] [--intervals aci]
                                         [--thread-cost]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

import forecast
from forecast.data.series import embedded_dir, read_price_csv
from forecast.execution import base as executors
from forecast.execution.process_pool import ProcessExecutor
from forecast.execution.sizing import resolve_executor
from forecast.models import get_model, warm_up_model
from forecast.walkforward.engine import backtest

TICKERS = ("AAPL", "GOOG", "GSPC", "IBM")
BASELINES = ["naive", "drift", "ar", "markov", "msar"]
LSTM = {"window": 20, "hidden_size": 16, "epochs": 10, "patience": 3, "warm_start": True}


def models(group: str) -> dict:
    if group == "baselines":
        return {name: get_model(name) for name in BASELINES}
    return {"lstm": get_model("lstm", **LSTM)}


def load_series() -> list:
    return [read_price_csv(embedded_dir() / f"{t}.csv") for t in TICKERS]


def run_backtest(series, group: str, args, jobs=None, executor=None):
    intervals = None if args.intervals == "none" else args.intervals
    return backtest(
        series, models(group), (1, 5), args.test_size, 20, seed=0, jobs=jobs,
        executor=executor, intervals=intervals,
    )  # fmt: skip


def child(group: str, jobs: int, args, out: str) -> None:
    """One end-to-end run (in a fresh process): what ``forecast backtest --jobs N`` does."""
    executor = resolve_executor(jobs)
    if jobs > 1:  # as the CLI: workers start (importing the models) before this process
        # builds its models (torch for lstm) and loads the series
        names = BASELINES if group == "baselines" else ["lstm"]
        executor = ProcessExecutor(jobs, warm_up=[partial(warm_up_model, m) for m in names])
    with executor:
        result = run_backtest(load_series(), group, args, executor=executor)
    Path(out).write_bytes(pickle.dumps(result.forecasts))


def end_to_end(group: str, args) -> tuple[float, float, object, object, float, list[float]]:
    """``--repeat`` pairs of fresh processes, ``jobs=1`` then ``jobs=2``, alternating so that
    a slow spell of the machine hits both alike: the best wall seconds of each, their
    forecasts, the load before, and each pair's speed-up."""
    load, seconds, forecasts = os.getloadavg()[0], {1: [], 2: []}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for jobs in (1, 2):
                out = Path(tmp) / f"forecasts-{jobs}.pkl"
                command = [
                    *(sys.executable, __file__, "--child", group, str(jobs)),
                    *("--test-size", str(args.test_size), "--intervals", args.intervals),
                    *("--out", str(out)),
                ]
                t0 = time.perf_counter()
                subprocess.run(command, check=True)
                seconds[jobs].append(time.perf_counter() - t0)
                forecasts[jobs] = pickle.loads(out.read_bytes())
    pairs = [one / two for one, two in zip(seconds[1], seconds[2], strict=True)]
    return min(seconds[1]), min(seconds[2]), forecasts[1], forecasts[2], load, pairs


def warm(series, group: str, jobs: int, args) -> tuple[float, object, float]:
    """Best seconds of the backtest alone: in this process, or on two started workers."""
    load, best, result = os.getloadavg()[0], float("inf"), None
    pool = ProcessExecutor(jobs, warm_up=[partial(warm_up_model, m) for m in models(group)])
    with pool if jobs > 1 else contextlib.nullcontext():
        if jobs > 1:
            time.sleep(5)  # let the workers finish starting: this part times the work only
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = run_backtest(series, group, args, executor=pool if jobs > 1 else None)
            best = min(best, time.perf_counter() - t0)
    return best, result, load


def engine_makespan(result, series, workers: int = 2) -> tuple[float, float, float]:
    """Sum and longest of the tasks' seconds, and their makespan in the engine's order.

    The engine hands tasks to the first free worker, heavy models (listed last) and long
    series first: this replays that order with the measured seconds and no overhead.
    """
    t = result.timings.assign(s=lambda d: d.fit_seconds + d.predict_seconds)
    rank = {m: i for i, m in enumerate(dict.fromkeys(t.model))}
    length = {s.name: len(s) for s in series}
    order = sorted(t.itertuples(), key=lambda r: (-rank[r.model], -length[r.series]))
    free = [0.0] * workers
    for task in order:
        free[free.index(min(free))] += task.s
    return float(t.s.sum()), float(t.s.max()), max(free)


def same(a, b) -> bool:
    """Identical forecasts tables, the forecast column compared bit for bit."""
    return a.drop(columns="forecast").equals(b.drop(columns="forecast")) and np.array_equal(
        a.forecast.to_numpy(), b.forecast.to_numpy()
    )


@contextlib.contextmanager
def blas_left_to_the_machine():
    """Tasks in this process keep the machine's BLAS/OpenMP thread count (no threadpoolctl)."""
    original = executors.one_thread
    executors.one_thread = contextlib.nullcontext
    try:
        yield
    finally:
        executors.one_thread = original


@contextlib.contextmanager
def torch_threads(n: int):
    """The neural models train and forecast with ``n`` torch threads instead of one."""
    import torch

    from forecast.models import networks, neural

    original = neural.torch_settings

    @contextlib.contextmanager
    def settings():
        with original():  # deterministic mode as usual, then the thread count
            torch.set_num_threads(n)
            yield

    neural.torch_settings = networks.torch_settings = settings
    try:
        yield
    finally:
        neural.torch_settings = networks.torch_settings = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (best kept)")
    parser.add_argument("--test-size", type=int, default=250, help="origins per series")
    parser.add_argument("--intervals", default="aci", help="aci, conformal, model or none")
    parser.add_argument("--thread-cost", action="store_true", help="also measure part 4")
    parser.add_argument("--child", nargs=2, metavar=("GROUP", "JOBS"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args, args.out)
    series = load_series()
    print(
        f"forecast {forecast.__version__}; {len(series)} series ({', '.join(TICKERS)}), "
        f"{sum(len(s) for s in series)} prices; test size {args.test_size}, refit every 20, "
        f"intervals {args.intervals}; {executors.available_cores()} cores; best of "
        f"{args.repeat}"
    )
    header = f"{'models':<10} {'jobs=1 s':>9} {'jobs=2 s':>9} {'speed-up':>9}  identical  load"
    rows, serial = {}, {}
    pair_lines = []
    for part in ("end to end", "warm workers"):
        print(f"\n{part}:\n{header}")
        for group in ("baselines", "lstm"):
            if part == "end to end":
                one, two, a, b, load1, pairs = end_to_end(group, args)
                load2 = load1
                pair_lines.append(
                    f"{group}: {', '.join(f'{r:.2f}x' for r in pairs)} "
                    f"(median {statistics.median(pairs):.2f}x)"
                )
            else:
                one, res1, load1 = warm(series, group, 1, args)
                two, res2, load2 = warm(series, group, 2, args)
                a, b, serial[group] = res1.forecasts, res2.forecasts, (one, res1)
            rows[(part, group)] = one / two
            print(
                f"{group:<10} {one:9.1f} {two:9.1f} {one / two:8.2f}x  "
                f"{'yes' if same(a, b) else 'NO':<9}  {load1:.2f}, {load2:.2f}"
            )
        if part == "end to end":
            print("speed-up of each (jobs=1, jobs=2) pair, run back to back:")
            print("\n".join(f"  {line}" for line in pair_lines))
    print("\nwhere the time goes (the tasks of the warm jobs=1 run):")
    print(f"{'models':<10} {'tasks s':>8} {'longest':>8} {'2-worker makespan':>18} {'bound':>7}")
    for group, (_, result) in serial.items():
        total, longest, makespan = engine_makespan(result, series)
        print(f"{group:<10} {total:8.1f} {longest:8.1f} {makespan:18.1f} {total / makespan:6.2f}x")
    print("bound: tasks s / makespan, the speed-up these tasks allow on 2 workers, no overhead")
    if not args.thread_cost:
        return
    print("\nthe fixed thread count, in this process (jobs=1):")
    print(f"{'models':<10} {'setting':<24} {'seconds':>8} {'pinned s':>9}  identical  load")
    for group, label, context in (
        ("baselines", "BLAS threads: machine's", blas_left_to_the_machine),
        ("lstm", "torch threads: 2", lambda: torch_threads(2)),
    ):
        pinned_seconds, pinned = serial[group]
        with context():
            seconds, result, load = warm(series, group, 1, args)
        identical = "yes" if same(result.forecasts, pinned.forecasts) else "NO"
        print(
            f"{group:<10} {label:<24} {seconds:8.1f} {pinned_seconds:9.1f}  {identical:<9}  "
            f"{load:.2f}"
        )


if __name__ == "__main__":
    main()
