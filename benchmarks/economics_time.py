"""Time the economic evaluation on a table the size of the default compare.

Builds one synthetic long forecasts table, 9 models x 5 series x horizons 1 and 5 x 250
origins (random-walk prices, noisy forecasts, a volatility forecast per row), then times
:func:`forecast.evaluation.economics.evaluate_economics` with the default settings (3 rules,
costs 0, 5 and 10 bp, PBO with 16 blocks) and :func:`equity_curves`, and prints the best of
``--repeat`` runs.

    python benchmarks/economics_time.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from forecast.evaluation.economics import economic_verdict, equity_curves, evaluate_economics

MODELS = ["naive", "drift", "ar", "markov", "msar", "elman", "rnn", "lstm", "gru"]
SERIES = ["AAPL", "GOOG", "GSPC", "IBM", "MSFT"]


def synthetic_table(n_origins: int = 250, horizons=(1, 5), seed: int = 0) -> pd.DataFrame:
    """A long forecasts table shaped like a default compare's (``sigma`` included)."""
    rng = np.random.default_rng(seed)
    frames = []
    for s, series in enumerate(SERIES):
        n = n_origins + 1
        dates = pd.bdate_range("2012-01-02", periods=n) + pd.Timedelta(days=400 * s)
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
        for model in MODELS:
            for h in horizons:
                origins = np.arange(n - h)
                noise = rng.normal(0, 0.01 * np.sqrt(h), len(origins))
                fc_ret = 0.0 if model == "naive" else noise
                frames.append(
                    pd.DataFrame(
                        {
                            "series": series,
                            "model": model,
                            "origin": dates[origins],
                            "horizon": h,
                            "target_date": dates[origins + h],
                            "forecast": prices[origins] * np.exp(fc_ret),
                            "actual": prices[origins + h],
                            "origin_price": prices[origins],
                            "sigma": 0.015 * np.sqrt(h) * rng.uniform(0.8, 1.2, len(origins)),
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    table = synthetic_table()
    print(f"table: {len(table)} rows ({table['series'].nunique()} series, "
          f"{table['model'].nunique()} models, horizons 1 and 5)")  # fmt: skip
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = evaluate_economics(table)
        curves = equity_curves(result.returns)
        times.append(time.perf_counter() - t0)
    print(f"economics: {len(result.table)} configurations, {len(curves)} equity-curve points")
    print(
        f"evaluate_economics + equity_curves: best {min(times):.2f} s, runs "
        + ", ".join(f"{t:.2f}" for t in times)
    )
    print(result.summary.to_string())
    print(economic_verdict(result.summary))


if __name__ == "__main__":
    main()
