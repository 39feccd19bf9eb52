"""Walk-forward volatility backtest of the econometric models on the five embedded series.

Runs the engine (:func:`forecast.walkforward.volatility.backtest_volatility`, what
``forecast backtest --target volatility`` and ``forecast compare`` run) on each series'
open/high/low/close (``data/prices/*.csv``, adjusted by ``Adj Close``): 250 origins (the last
250 prices but one), a refit every 20 origins on all the data up to the fold's first origin,
horizons 1 and 5. Each origin gets the ``h``-day variance forecast, the realised proxy of the
same days (Yang-Zhang on these series), the ``h``-day return and the 1% and 5% VaR (normal
and Student-t). It prints per series and model the QLIKE and MSE relative to the naive model
(the last 20 days' mean proxy) with Diebold-Mariano p-values, the model confidence set, the
VaR Kupiec p-values, the issue's targets, and the wall time of the whole backtest (walks on
``--jobs`` worker processes, one BLAS thread each, then the scores and the bootstrap).

    python benchmarks/volatility_backtest.py [--jobs 2] [--side-by-side] [--nets]
        [--epochs 20] [--test-size 250] [--refit-every 20] [--train-size N] [--close-only]
        [--out table.csv]

``--side-by-side`` runs the backtest on 1 and on ``--jobs`` workers, alternately, twice each,
and prints the ratio (this machine's speed drifts over minutes: compare the ratios).

Measured (the figures in the README) on the shared 2-core machine, see the README's
"Volatility and Value-at-Risk" section for the commands and the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import pandas as pd

from forecast.data.ohlc import load_price_frame
from forecast.data.series import embedded_dir
from forecast.evaluation.volatility_verdicts import volatility_verdicts
from forecast.execution.sizing import resolve_executor
from forecast.models.volatility import ECONOMETRIC_MODELS, get_volatility_model
from forecast.models.volatility.value_at_risk import VAR_LEVELS
from forecast.walkforward.volatility import backtest_volatility

SERIES = ("AAPL", "GOOG", "GSPC", "IBM", "MSFT")


def load_frames(close_only: bool) -> list:
    """The embedded series as price frames (``close_only``: the adjusted close alone)."""
    frames = []
    for ticker in SERIES:
        frame = load_price_frame(embedded_dir() / f"{ticker}.csv")
        if close_only:
            frame = frame["Adj Close"].rename(ticker)
        frames.append(frame)
    return frames


def _cpu() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(args: argparse.Namespace, jobs: int):
    """One whole backtest on ``jobs`` workers: the result, its wall and CPU seconds."""
    models = {name: get_volatility_model(name) for name in ECONOMETRIC_MODELS}
    if args.nets:
        for name in ("lstm", "gru"):
            models[name] = get_volatility_model(name, epochs=args.epochs, seed=0)
    frames = load_frames(args.close_only)
    wall, cpu = time.perf_counter(), _cpu()
    result = backtest_volatility(
        frames, models, (1, 5), args.test_size, args.refit_every, args.train_size,
        executor=resolve_executor(jobs if jobs > 1 else None),
    )  # fmt: skip
    return result, time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--side-by-side", action="store_true", help="1 vs --jobs workers")
    parser.add_argument("--nets", action="store_true", help="add the LSTM and GRU")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=250)
    parser.add_argument("--refit-every", type=int, default=20)
    parser.add_argument(
        "--close-only", action="store_true", help="drop open/high/low: squared returns only"
    )
    parser.add_argument("--out", default=None, help="write the long table to this CSV")
    args = parser.parse_args()
    print(
        f"{len(SERIES)} series, test size {args.test_size}, refit every {args.refit_every}, "
        f"train size {args.train_size or 'all'}, horizons 1 and 5, jobs {args.jobs}, close "
        f"only {args.close_only}, nets {args.nets}, load average {os.getloadavg()[0]:.2f}"
    )
    if args.side_by_side:
        walls: dict[int, list[float]] = {1: [], args.jobs: []}
        for _ in range(2):
            for jobs in (1, args.jobs):
                result, wall, cpu = run(args, jobs)
                walls[jobs].append(wall)
                print(f"  jobs={jobs}: {wall:.1f} s wall, {cpu:.1f} s CPU (load "
                      f"{os.getloadavg()[0]:.2f})")  # fmt: skip
        ratios = [a / b for a, b in zip(walls[1], walls[args.jobs], strict=True)]
        print(
            f"speed-up of jobs={args.jobs} over jobs=1: " + ", ".join(f"{r:.2f}x" for r in ratios)
        )
    else:
        result, wall, cpu = run(args, args.jobs)
        print(f"  jobs={args.jobs}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    t0 = time.perf_counter()
    volatility_verdicts(result.forecasts)  # the MCS/SPA/StepM part of the scoring, again
    mcs = time.perf_counter() - t0
    if args.out:
        result.forecasts.to_csv(args.out, index=False)
    report(result, wall, mcs)


def report(result, wall: float, mcs_seconds: float) -> None:
    """Print the scores, the VaR tests, the issue's targets and the time."""
    scores, tests = result.metrics, result.var_tests
    models = list(dict.fromkeys(scores["model"]))
    pd.set_option("display.width", 160)
    for h in (1, 5):
        s = scores[scores.horizon == h].set_index(["series", "model"])
        print(f"\nh={h}: QLIKE relative to naive (DM p)   [proxy {s['proxy'].dropna().iloc[0]}]")
        print(_grid(s, "rel_qlike", "dm_qlike_pvalue", models).to_string())
        print(f"h={h}: MSE relative to naive (DM p)")
        print(_grid(s, "rel_mse", "dm_mse_pvalue", models).to_string())
        members = s["in_mcs"].unstack("model")[models].map(lambda v: "in" if v else "-")
        print(f"h={h}: model confidence set (10%) on QLIKE")
        print(members.to_string())
        for alpha in VAR_LEVELS:
            for dist in ("normal", "t"):
                t = tests[(tests.horizon == h) & (tests.alpha == alpha) & (tests.dist == dist)]
                t = t.set_index(["series", "model"])
                grid = t["p_uc"].unstack("model")[models].round(3)
                rate = t["rate"].unstack("model")[models].mean()
                rates = ", ".join(f"{m} {rate[m]:.3f}" for m in models)
                print(f"h={h}: VaR {alpha:.0%} {dist}: Kupiec p (n={int(t['n'].iloc[0])}); "
                      f"mean hit rate {rates}")  # fmt: skip
                print(grid.to_string())
    print("\ntargets")
    s1 = scores[scores.horizon == 1].set_index(["series", "model"])
    for m in ("garch", "gjr", "har"):
        ok = (s1.xs(m, level="model")["rel_qlike"] <= 0.90) & (
            s1.xs(m, level="model")["dm_qlike_pvalue"] < 0.05
        )
        print(f"  {m}: QLIKE <= 0.90 of naive with DM p < 0.05 on {int(ok.sum())} of 5 series")
    econ = tests[tests.model.isin(ECONOMETRIC_MODELS)]
    print("  VaR Kupiec p > 0.05, share of (series, model) pairs of the econometric models,")
    print("  per horizon, level and quantile (in brackets: without the naive model)")
    for (h, alpha, dist), p in econ.groupby(["horizon", "alpha", "dist"]):
        ok, ok_but_naive = p["p_uc"] > 0.05, p[p.model != "naive"]["p_uc"] > 0.05
        print(f"    h={h} VaR {alpha:.0%} {dist:6}: {ok.mean():4.0%} of {len(p)} "
              f"({ok_but_naive.mean():.0%} of {len(ok_but_naive)})")  # fmt: skip
    ok = econ["p_uc"] > 0.05
    print(f"    all: {ok.mean():.0%} of {len(econ)} cells")
    print(f"\nfailures: {len(result.failures)}")
    for f in result.failures.head(10).itertuples():
        print(f"  {f.series} {f.model} {f.origin} {f.stage}: {f.error}")
    per_model = result.timings.groupby("model")[["fit_seconds", "predict_seconds"]].sum()
    print("fit / predict seconds per model, summed over series (in the workers):")
    print("  " + ", ".join(f"{m} {r.fit_seconds:.1f} / {r.predict_seconds:.2f}"
                           for m, r in per_model.iterrows()))  # fmt: skip
    print(f"MCS, SPA and StepM of every series and horizon (1000 reps): {mcs_seconds:.1f} s")
    print(f"wall time of the whole backtest: {wall:.1f} s; load average now "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip


def _grid(s: pd.DataFrame, value: str, pvalue: str, models: list[str]) -> pd.DataFrame:
    text = s.apply(lambda r: f"{r[value]:.3f} ({r[pvalue]:.3f})", axis=1)
    return text.unstack("model")[models]


if __name__ == "__main__":
    main()
