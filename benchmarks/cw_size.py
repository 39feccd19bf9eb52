"""Size of the Clark-West test by long-run variance estimator, on GARCH-t placebo returns.

A quick Monte Carlo outside the backtest engine: log returns from the GARCH(1,1)-t fitted to
GSPC (zero mean, as in ``benchmarks/placebo.py``), 1250 training returns, ``--origins``
forecast origins, horizons 1 and 5; two models nesting the random walk, refit every 20
origins: ``drift`` (mean return of the past) and ``ar`` (AR(1) with a constant, OLS). For
each, the Clark-West statistic with the variance of the mean from

- ``NW h-1``: Newey-West (Bartlett) weights, ``h - 1`` lags;
- ``NW T^1/3``: Newey-West, ``max(h - 1, ceil(P ** (1/3)))`` lags (statsmodels' DM default);
- ``uniform h-1``: uniform (truncated) weights, ``h - 1`` lags, Bartlett if not positive
  (what :func:`forecast.evaluation.nested.clark_west` uses).

Printed: the statistic's standard deviation (1 for a well-sized test) and the one-sided
rejection rates at 5% and 1%.

    python benchmarks/cw_size.py [--reps 400] [--origins 250]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
import placebo  # the benchmark next to this one: its fitted GARCH

TRAIN = 1250
VARIANTS = ("NW h-1", "NW T^1/3", "uniform h-1")


def statistic(f: np.ndarray, horizon: int, variant: str) -> float:
    lags = horizon - 1
    if variant == "NW T^1/3":
        lags = max(lags, math.ceil(len(f) ** (1 / 3)))
    kernel = "uniform" if variant == "uniform h-1" else "bartlett"
    ols = sm.OLS(f, np.ones(len(f)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ols.fit(cov_type="HAC", cov_kwds={"maxlags": lags, "kernel": kernel})
        if not (np.isfinite(res.bse[0]) and res.bse[0] > 0):
            res = ols.fit(cov_type="HAC", cov_kwds={"maxlags": lags, "kernel": "bartlett"})
    return float(res.tvalues[0])


def forecasts(r: np.ndarray, origins: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Log-return forecasts of drift and AR(1) from each origin, refit every 20 origins."""
    drift, ar = np.empty(len(origins)), np.empty(len(origins))
    for i, o in enumerate(origins):
        if i % 20 == 0:
            past = r[:o]
            mu = past.mean()
            x = np.column_stack([np.ones(len(past) - 1), past[:-1]])
            const, phi = np.linalg.lstsq(x, past[1:], rcond=None)[0]
        drift[i] = horizon * mu
        last, total = r[o - 1], 0.0
        for _ in range(horizon):
            last = const + phi * last
            total += last
        ar[i] = total
    return {"drift": drift, "ar": ar}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=400)
    parser.add_argument("--origins", type=int, default=250)
    args = parser.parse_args()
    start = time.perf_counter()
    params = placebo.fit_garch(placebo.gspc_returns())
    stats_by: dict[tuple, list[float]] = {}
    for rep in range(args.reps):
        r = placebo.garch_noise(params, TRAIN + args.origins + 5, np.random.default_rng([99, rep]))
        logp = np.concatenate([[0.0], np.cumsum(r)])
        origins = np.arange(TRAIN, TRAIN + args.origins)
        for h in (1, 5):
            e_rw = -(logp[origins + h] - logp[origins])  # the random walk forecasts 0
            for model, fc in forecasts(r, origins, h).items():
                f = 2 * e_rw * (e_rw - (fc + e_rw))  # Clark-West: 2 e1 (e1 - e2)
                for variant in VARIANTS:
                    stats_by.setdefault((model, h, variant), []).append(statistic(f, h, variant))
    print(f"{args.reps} GARCH-t placebo paths, {args.origins} origins")
    print(f"{'model':6} {'h':>2} {'variance':12} {'sd':>5} {'5%':>6} {'1%':>6}")
    for (model, h, variant), values in sorted(stats_by.items()):
        t = np.array(values)
        p = stats.norm.sf(t)
        print(
            f"{model:6} {h:>2} {variant:12} {t.std():5.2f} {np.mean(p < 0.05):6.3f} "
            f"{np.mean(p < 0.01):6.3f}"
        )
    print(f"elapsed {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
