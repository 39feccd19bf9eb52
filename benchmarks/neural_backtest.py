"""Time the walk-forward backtest of the neural models, with ``warm_start`` off and on.

The work of the Darts comparison in the README: the embedded S&P 500 series, test size 250,
refit every 20 (13 fits per model), horizons 1 and 5, window 30, hidden 32, at most 20
epochs with the default early stopping (patience 5), seed 0, point forecasts (no intervals:
their calibration walk would add 5 fits per model that Darts did not do), the models one
after another in this process with one torch thread. For each setting it prints
each model's seconds (fit + predict, from the engine's timings) and ``rel_mae`` against the
random walk, then the total wall and CPU seconds. The machine's load average is printed
too: on a shared machine, wall seconds grow with the neighbours' work, CPU seconds less so.

    python benchmarks/neural_backtest.py [--series data/prices/GSPC.csv] [--models rnn,lstm,gru]
                                         [--epochs 20] [--warm-start off,on] [--progress]
                                         [--intervals none] [--jobs 1]
"""

from __future__ import annotations

import argparse
import os
import time

import forecast
from forecast.models import get_model
from forecast.walkforward.engine import backtest


def run(series, names: list[str], warm_start: bool, args: argparse.Namespace):
    models = {
        name: get_model(name, epochs=args.epochs, window=30, hidden_size=32, warm_start=warm_start)
        for name in names
    }
    intervals = None if args.intervals == "none" else args.intervals
    wall, cpu = time.perf_counter(), time.process_time()
    result = backtest(
        series, models, horizons=(1, 5), test_size=250, refit_every=20, seed=0,
        progress=args.progress, intervals=intervals, jobs=args.jobs,
    )  # fmt: skip
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=str(forecast.data.series.embedded_dir() / "GSPC.csv"))
    parser.add_argument("--models", default="rnn,lstm,gru")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--warm-start", default="off,on", help="off, on or off,on")
    parser.add_argument(
        "--intervals", default="none",
        help="none (the default: point forecasts, the work Darts did) or aci, conformal, model "
        "(adds each model's 100-origin calibration walk: 5 more fits)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="worker processes (default 1: the models one after another in this process, "
        "so the seconds per model add up to the wall time)",
    )  # fmt: skip
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    series = forecast.load_prices(args.series)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    print(
        f"series {series.name}: {len(series)} prices; models {','.join(names)}; test size 250, "
        f"refit every 20, window 30, hidden 32, at most {args.epochs} epochs, patience 5; "
        f"intervals {args.intervals}; jobs {args.jobs}"
    )
    for setting in args.warm_start.split(","):
        load = os.getloadavg()[0]
        wall, cpu, result = run(series, names, setting == "on", args)
        timings = result.timings.set_index("model")
        metrics = result.metrics.set_index(["model", "horizon"])["rel_mae"]
        print(f"\nwarm_start {setting} (load average {load:.1f} -> {os.getloadavg()[0]:.1f})")
        print(f"{'model':<6} {'seconds':>8} {'rel_mae h=1':>12} {'rel_mae h=5':>12}")
        for name in names:
            seconds = timings.loc[name, "fit_seconds"] + timings.loc[name, "predict_seconds"]
            print(f"{name:<6} {seconds:8.1f} {metrics[(name, 1)]:12.4f} {metrics[(name, 5)]:12.4f}")
        cpu_note = "" if args.jobs != 1 else f", {cpu:.1f} s cpu"  # workers' CPU is not ours
        print(f"total  {wall:8.1f} s wall{cpu_note}")
        if len(result.failures):
            print(f"failures: {len(result.failures)}\n{result.failures.to_string()}")


if __name__ == "__main__":
    main()
