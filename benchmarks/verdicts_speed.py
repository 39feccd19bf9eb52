"""Time ``evaluate_forecasts`` on a forecasts table the size of the default compare.

The default ``forecast compare`` makes 9 models x 5 series x 2 horizons x 250 origins; this
simulates a table of that shape (random-walk prices, models = the random walk plus noise)
and times the verdict statistics (Clark-West, R²_OS, MCS, SPA, StepM, the pooled answer).

    python benchmarks/verdicts_speed.py [--reps 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from forecast.evaluation.verdicts import evaluate_forecasts

MODELS = ["naive", "drift", "ar", "markov", "msar", "elman", "rnn", "lstm", "gru"]


def simulate(n_series: int = 5, horizons=(1, 5), origins: int = 250, seed: int = 0):
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_series):
        prices = 100 * np.exp(np.cumsum(rng.standard_t(5, origins + 10) * 0.01))
        dates = pd.bdate_range("2020-01-01", periods=len(prices))
        o = np.arange(origins)
        for h in horizons:
            for m in MODELS:
                noise = 0 if m == "naive" else rng.normal(0, 0.002, origins)
                frames.append(
                    pd.DataFrame(
                        {
                            "series": f"S{s}",
                            "model": m,
                            "origin": dates[o],
                            "horizon": h,
                            "target_date": dates[o + h],
                            "forecast": prices[o] * np.exp(noise),
                            "actual": prices[o + h],
                            "origin_price": prices[o],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    forecasts = simulate()
    print(f"forecasts table: {len(forecasts)} rows ({len(MODELS)} models x 5 series x 2 x 250)")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        evaluate_forecasts(forecasts, reps=args.reps)
        times.append(time.perf_counter() - t0)
    print(f"evaluate_forecasts, reps={args.reps}: " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"best {min(times):.2f} s, median {float(np.median(times)):.2f} s")


if __name__ == "__main__":
    main()
