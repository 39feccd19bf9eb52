"""Time the walk-forward backtest of the five baselines on the embedded S&P 500 series.

Runs, side by side in one process: the default backtest (test size 250, refit every 20,
horizons 1 and 5) and the same with a refit at every origin, then prints both, the ratio and
the per-model fit/predict seconds.

    python benchmarks/baselines_speed.py [--series data/prices/GSPC.csv] [--repeat 1]
"""

from __future__ import annotations

import argparse
import time

import forecast
from forecast.walkforward.engine import backtest

BASELINES = ["naive", "drift", "ar", "markov", "msar"]


def timed(series, refit_every: int):
    t0 = time.perf_counter()
    res = backtest(series, BASELINES, horizons=(1, 5), test_size=250, refit_every=refit_every)
    return time.perf_counter() - t0, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=str(forecast.data.series.embedded_dir() / "GSPC.csv"))
    args = parser.parse_args()
    series = forecast.load_prices(args.series)
    print(f"series {series.name}: {len(series)} prices; models {','.join(BASELINES)}")
    rows = []
    for refit_every in (20, 1):
        seconds, res = timed(series, refit_every)
        rows.append((refit_every, seconds, res))
        t = res.timings.set_index("model")
        per_model = ", ".join(
            f"{m} {t.loc[m, 'fit_seconds'] + t.loc[m, 'predict_seconds']:.2f}s" for m in t.index
        )
        rel = res.metrics[res.metrics.horizon == 1].set_index("model")["rel_mae"]
        print(f"refit every {refit_every:>2}: {seconds:7.2f} s  ({per_model})")
        print("   rel_mae h=1: " + ", ".join(f"{m} {v:.4f}" for m, v in rel.items()))
        if len(res.failures):
            print(f"   failures: {len(res.failures)}")
    (_, fast, _), (_, slow, _) = rows
    print(f"refit every origin / refit every 20: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
