"""How walk-forward cost grows with the number of origins and with the refit cadence.

On one embedded series (default GSPC, 5031 prices; all past prices train every fit), for
``ar``, ``markov``, ``msar`` and ``lstm`` (the settings of ``pipelines/compare.toml``),
horizons 1 and 5, seed 0, no prediction intervals (``--intervals aci``, the engine's default,
adds a calibration walk of 100 origins per model at the same cadence):

1. test size 125, 250, 500 and 1000 at ``refit_every=20``: fits, fit seconds and predict
   seconds per model;
2. ``refit_every`` 1, 5, 20 and 60 at test size 250: seconds per model and the accuracy of
   each cadence (``rel_mae``: MAE over the random walk's on the same origins, h=1 and h=5):
   the cost-accuracy trade-off table to choose a cadence from.

Seconds are the engine's fit and predict seconds of each (series, model) task, measured in
the worker that ran it with one thread; the tasks run on ``--jobs`` worker processes (one per
core), so a quiet 2-core machine gives the same seconds as a serial run, in half the wall
time. The load average is printed with each part.

    python benchmarks/walkforward_scaling.py [--series GSPC] [--jobs 2] [--part 1,2]
                                            [--intervals none]
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from forecast.data.series import embedded_dir, read_price_csv
from forecast.models import get_model
from forecast.walkforward.engine import backtest

MODELS = ("ar", "markov", "msar", "lstm")
LSTM = {"window": 20, "hidden_size": 16, "epochs": 10, "patience": 3, "warm_start": True}


def models() -> dict:
    return {m: get_model(m, **(LSTM if m == "lstm" else {})) for m in MODELS}


def run(series, test_size: int, refit_every: int, args: argparse.Namespace):
    intervals = None if args.intervals == "none" else args.intervals
    return backtest(
        series, models(), (1, 5), test_size, refit_every, seed=0, jobs=args.jobs,
        intervals=intervals,
    )  # fmt: skip


def part_origins(series, args: argparse.Namespace) -> None:
    print(f"\n1. cost against the number of origins (refit every 20), load {_load()}")
    print(f"{'origins':>7} {'model':<7} {'fits':>5} {'fit s':>8} {'predict s':>10} {'total s':>8}")
    totals, run_fits = {}, {}
    for test_size in (125, 250, 500, 1000):
        t = run(series, test_size, 20, args).timings.set_index("model")
        run_fits[test_size] = int(t.loc["ar", "n_fits"])
        for m in MODELS:
            fit, pred = t.loc[m, "fit_seconds"], t.loc[m, "predict_seconds"]
            totals[(test_size, m)] = fit + pred
            print(f"{test_size:>7} {m:<7} {t.loc[m, 'n_fits']:>5} {fit:8.2f} {pred:10.3f} "
                  f"{fit + pred:8.2f}")  # fmt: skip
    fits = {n: run_fits[n] for n in (125, 1000)}
    print(
        f"growth from 125 to 1000 origins (8x the origins, {fits[1000] / fits[125]:.1f}x the "
        "fits): " + ", ".join(f"{m} {totals[(1000, m)] / totals[(125, m)]:.1f}x" for m in MODELS)
    )
    print(f"load after part 1: {_load()}")


def part_cadence(series, args: argparse.Namespace) -> None:
    print(f"\n2. cost and accuracy against refit_every (250 origins), load {_load()}")
    header = f"{'model':<7} {'refit':>5} {'fits':>5} {'seconds':>8} {'x cost':>7}"
    print(f"{header} {'rel_mae h=1':>11} {'rel_mae h=5':>11} {'MAE h=1 vs refit 1':>19}")
    rows = []
    for refit_every in (1, 5, 20, 60):
        res = run(series, 250, refit_every, args)
        t = res.timings.set_index("model")
        m = res.metrics.set_index(["model", "horizon"])
        for name in MODELS:
            seconds = t.loc[name, "fit_seconds"] + t.loc[name, "predict_seconds"]
            rows.append({
                "model": name, "refit": refit_every, "fits": int(t.loc[name, "n_fits"]),
                "seconds": seconds, "rel1": m.loc[(name, 1), "rel_mae"],
                "rel5": m.loc[(name, 5), "rel_mae"], "mae1": m.loc[(name, 1), "mae"],
            })  # fmt: skip
    table = pd.DataFrame(rows)
    for name, g in table.groupby("model", sort=False):
        every = g[g.refit == 1].iloc[0]
        for r in g.itertuples():
            print(f"{name:<7} {r.refit:>5} {r.fits:>5} {r.seconds:8.2f} "
                  f"{r.seconds / every.seconds:6.2f}x {r.rel1:11.4f} {r.rel5:11.4f} "
                  f"{r.mae1 / every.mae1:18.4f}x")  # fmt: skip
    print(f"load after part 2: {_load()}")


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="GSPC", help="an embedded ticker")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (1: serial)")
    parser.add_argument("--part", default="1,2", help="1, 2 or 1,2")
    parser.add_argument("--intervals", default="none", help="none, aci, conformal or model")
    args = parser.parse_args()
    series = read_price_csv(embedded_dir() / f"{args.series}.csv")
    print(f"series {series.name}: {len(series)} prices; models {', '.join(MODELS)}; "
          f"lstm {LSTM}; jobs {args.jobs}; intervals {args.intervals}")  # fmt: skip
    t0 = time.perf_counter()
    parts = {p.strip() for p in args.part.split(",")}
    if "1" in parts:
        part_origins(series, args)
    if "2" in parts:
        part_cadence(series, args)
    print(f"\nwall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
