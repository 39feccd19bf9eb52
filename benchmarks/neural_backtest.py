"""Time the walk-forward backtest of the neural models, with ``warm_start`` off and on.

The work of the Darts comparison in the README: the embedded S&P 500 series, test size 250,
refit every 20 (13 fits per model), horizons 1 and 5, window 30, hidden 32, at most 20
epochs with the default early stopping (patience 5), seed 0. For each setting it prints
each model's seconds (fit + predict, from the engine's timings) and ``rel_mae`` against the
random walk, then the total wall and CPU seconds. The machine's load average is printed
too: on a shared machine, wall seconds grow with the neighbours' work, CPU seconds less so.

    python benchmarks/neural_backtest.py [--series data/prices/GSPC.csv] [--models rnn,lstm,gru]
                                         [--epochs 20] [--warm-start off,on] [--progress]
"""

from __future__ import annotations

import argparse
import os
import time

import forecast
from forecast.backtest import backtest
from forecast.models import get_model


def run(series, names: list[str], epochs: int, warm_start: bool, progress: bool):
    models = {
        name: get_model(name, epochs=epochs, window=30, hidden_size=32, warm_start=warm_start)
        for name in names
    }
    wall, cpu = time.perf_counter(), time.process_time()
    result = backtest(
        series, models, horizons=(1, 5), test_size=250, refit_every=20, seed=0, progress=progress
    )
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=str(forecast.data.embedded_dir() / "GSPC.csv"))
    parser.add_argument("--models", default="rnn,lstm,gru")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--warm-start", default="off,on", help="off, on or off,on")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    series = forecast.load_prices(args.series)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    print(
        f"series {series.name}: {len(series)} prices; models {','.join(names)}; test size 250, "
        f"refit every 20, window 30, hidden 32, at most {args.epochs} epochs, patience 5"
    )
    for setting in args.warm_start.split(","):
        load = os.getloadavg()[0]
        wall, cpu, result = run(series, names, args.epochs, setting == "on", args.progress)
        timings = result.timings.set_index("model")
        metrics = result.metrics.set_index(["model", "horizon"])["rel_mae"]
        print(f"\nwarm_start {setting} (load average {load:.1f} -> {os.getloadavg()[0]:.1f})")
        print(f"{'model':<6} {'seconds':>8} {'rel_mae h=1':>12} {'rel_mae h=5':>12}")
        for name in names:
            seconds = timings.loc[name, "fit_seconds"] + timings.loc[name, "predict_seconds"]
            print(f"{name:<6} {seconds:8.1f} {metrics[(name, 1)]:12.4f} {metrics[(name, 5)]:12.4f}")
        print(f"total  {wall:8.1f} s wall, {cpu:.1f} s cpu")
        if len(result.failures):
            print(f"failures: {len(result.failures)}\n{result.failures.to_string()}")


if __name__ == "__main__":
    main()
