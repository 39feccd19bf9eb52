"""Speed-up of ``jobs=2`` over ``jobs=1``, and the cost of pinning one thread per task.

On 4 embedded series (AAPL, GOOG, GSPC, IBM; test size 250, refit every 20, horizons 1 and
5, seed 0, the engine's default intervals: adaptive conformal, whose calibration walk adds
100 origins per model), measured side by side in one run:

1. the five baselines, then ``lstm`` (the settings of ``pipelines/compare.toml``: window 20,
   hidden 16, at most 10 epochs, patience 3, warm start), each with ``jobs=1`` (this process,
   no pool) and ``jobs=2`` (two spawned workers; the wall time includes starting them). The
   forecasts of the two runs must be identical, bit for bit. Where the time goes: the sum of
   the tasks' seconds (from the serial run), the longest task, the makespan of the engine's
   task order on 2 workers with those seconds (no overhead), and the start-up of a pool
   (spawning 2 workers that import forecast, measured on its own);
2. with ``--thread-cost``: what the fixed thread count costs or saves, on the same work in
   this process: the baselines with the BLAS thread count left to the machine (instead of
   one per task), and ``lstm`` trained with two torch threads (instead of one). The
   forecasts are compared with the pinned runs'.

The load average is printed with each measurement: on a shared machine, measure when it is
near 0 (``uptime``).

    python benchmarks/parallel_speedup.py [--repeat 1] [--test-size 250] [--intervals aci]
                                         [--thread-cost]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

import forecast
from forecast import executors
from forecast.backtest import backtest
from forecast.data import embedded_dir, read_price_csv
from forecast.models import get_model
from forecast.process_executor import ProcessExecutor

TICKERS = ("AAPL", "GOOG", "GSPC", "IBM")
BASELINES = ["naive", "drift", "ar", "markov", "msar"]
LSTM = {"window": 20, "hidden_size": 16, "epochs": 10, "patience": 3, "warm_start": True}
SETTINGS = {"horizons": (1, 5), "refit_every": 20, "seed": 0}


def models(group: str) -> dict:
    if group == "baselines":
        return {name: get_model(name) for name in BASELINES}
    return {"lstm": get_model("lstm", **LSTM)}


def timed(series, group: str, jobs: int, args: argparse.Namespace):
    """Best wall seconds of ``--repeat`` runs, the last result, and the load average before."""
    intervals = None if args.intervals == "none" else args.intervals
    load, best, result = os.getloadavg()[0], float("inf"), None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = backtest(
            series, models(group), **SETTINGS, test_size=args.test_size, jobs=jobs,
            intervals=intervals,
        )  # fmt: skip
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


def pool_start_up() -> float:
    """Seconds for a new 2-worker pool to run its first two (empty) tasks."""
    t0 = time.perf_counter()
    with ProcessExecutor(2).start() as batch:
        for i in range(2):
            batch.submit(i, os.getpid)
        list(batch.completed())
    return time.perf_counter() - t0


def same_forecasts(a, b) -> bool:
    fa, fb = a.forecasts, b.forecasts
    return fa.drop(columns="forecast").equals(fb.drop(columns="forecast")) and np.array_equal(
        fa.forecast.to_numpy(), fb.forecast.to_numpy()
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
    parser.add_argument("--thread-cost", action="store_true", help="also measure part 2")
    args = parser.parse_args()
    series = [read_price_csv(embedded_dir() / f"{t}.csv") for t in TICKERS]
    print(
        f"forecast {forecast.__version__}; {len(series)} series ({', '.join(TICKERS)}), "
        f"{sum(len(s) for s in series)} prices; test size {args.test_size}, refit every 20, "
        f"intervals {args.intervals}; "
        f"{executors.available_cores()} cores"
    )
    print(f"{'models':<10} {'jobs=1 s':>9} {'jobs=2 s':>9} {'speed-up':>9}  identical  load")
    serial_runs, analysis = {}, []
    for group in ("baselines", "lstm"):
        one, serial, load1 = timed(series, group, 1, args)
        two, parallel, load2 = timed(series, group, 2, args)
        serial_runs[group] = (one, serial)
        analysis.append((group, *engine_makespan(serial, series)))
        print(
            f"{group:<10} {one:9.1f} {two:9.1f} {one / two:8.2f}x  "
            f"{'yes' if same_forecasts(serial, parallel) else 'NO':<9}  {load1:.2f}, {load2:.2f}"
        )
    start_up = min(pool_start_up() for _ in range(2))
    print(
        f"\nwhere the time goes (task seconds of the jobs=1 run; pool start-up {start_up:.1f} s):"
    )
    print(f"{'models':<10} {'tasks s':>8} {'longest':>8} {'2-worker makespan':>18} {'bound':>7}")
    for group, total, longest, makespan in analysis:
        bound = total / (makespan + start_up)
        print(f"{group:<10} {total:8.1f} {longest:8.1f} {makespan:18.1f} {bound:6.2f}x")
    print("bound: tasks s / (makespan + start-up), the speed-up these tasks allow on 2 workers")
    if not args.thread_cost:
        return
    print("\nthe fixed thread count, in this process (jobs=1):")
    print(f"{'models':<10} {'setting':<24} {'seconds':>8} {'pinned s':>9}  identical  load")
    for group, label, context in (
        ("baselines", "BLAS threads: machine's", blas_left_to_the_machine),
        ("lstm", "torch threads: 2", lambda: torch_threads(2)),
    ):
        pinned_seconds, pinned = serial_runs[group]
        with context():
            seconds, result, load = timed(series, group, 1, args)
        same = "yes" if same_forecasts(result, pinned) else "NO"
        print(
            f"{group:<10} {label:<24} {seconds:8.1f} {pinned_seconds:9.1f}  {same:<9}  {load:.2f}"
        )


if __name__ == "__main__":
    main()
