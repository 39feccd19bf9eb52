"""Walk-forward volatility backtest of the econometric models on the five embedded series.

For each series (``data/prices/*.csv``, open/high/low/close adjusted by ``Adj Close``):
250 origins (the last 250 prices but one, as the price engine), a refit every 20 origins
on all the data up to the fold's first origin, horizons 1 and 5. Each origin gets the
``h``-day variance forecast (the sum of the daily ones), the realised proxy of the same
days (Yang-Zhang on these series), the ``h``-day return and the 1% and 5% VaR (normal and
Student-t). It prints per series and model the QLIKE and MSE relative to the naive model
(the last 20 days' mean proxy) with Diebold-Mariano p-values, the VaR Kupiec p-values,
the issue's targets, and the wall time (the (series, model) walks run in ``--jobs``
processes; each process uses one BLAS thread).

    python benchmarks/volatility_backtest.py [--jobs 2] [--nets] [--epochs 20]
                                             [--train-size N] [--out table.csv]

Measured on the shared 2-core machine (load average 3-7 from other work), ``--jobs 2``:
37.9 s wall, 28.5 CPU seconds for the six econometric models (msrv 14.9, garch 5.9, gjr
5.7); QLIKE at most 0.90 of naive with DM p < 0.05 at h=1 on 1 of 5 series (HAR on GSPC);
4 of 5 for HAR with ``--test-size 1000``; VaR Kupiec p > 0.05 for 80% of (series, model,
level, quantile) cells at h=1 and 89% at h=5. ``--nets --epochs 20``: 923 s wall.

:func:`walk_volatility` is the walk itself, written to move into the engine: a price
frame, a model, origins, a refit cadence and horizons in; the long table out.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from forecast.evaluation.volatility import var_backtests, volatility_scores
from forecast.models.volatility import ECONOMETRIC_MODELS, get_volatility_model
from forecast.models.volatility.base import BaseVolatilityModel
from forecast.models.volatility.realized import (
    choose_proxy,
    daily_variance,
    horizon_returns,
    log_ohlc,
    realized_variance,
)
from forecast.models.volatility.value_at_risk import VAR_LEVELS, value_at_risk

DATA = Path(__file__).resolve().parents[1] / "data" / "prices"
SERIES = ("AAPL", "GOOG", "GSPC", "IBM", "MSFT")
TABLE_COLUMNS = [
    "series", "model", "origin", "horizon", "target_date", "variance_forecast", "realized",
    "proxy", "return", "var_1", "var_5", "var_1_t", "var_5_t", "t_dof",
]  # fmt: skip


def walk_volatility(
    frame: pd.DataFrame | pd.Series,
    model: BaseVolatilityModel,
    origins: np.ndarray,
    refit_every: int,
    horizons: Sequence[int],
    *,
    series: str = "",
    model_name: str | None = None,
    proxy: str = "auto",
    train_size: int | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Walk ``model`` over ``origins`` (price positions) of one price frame.

    The model is refitted at the first origin of every fold of ``refit_every`` origins, on
    the prices up to that origin (the last ``train_size`` of them if given), and forecasts
    every origin of the fold in one batched call on the data up to the fold's last origin.
    Returns the long table (:data:`TABLE_COLUMNS`, one row per origin and horizon whose
    target lies inside the data) and the failures (one dict per failed fold).
    """
    data = log_ohlc(frame, "frame")
    n, h_max = len(data), max(horizons)
    target_proxy = choose_proxy(data, proxy)
    daily = daily_variance(data, target_proxy)
    realized = {h: realized_variance(daily, h) for h in horizons}
    returns = {h: horizon_returns(data.close, h) for h in horizons}
    name = model_name or model.name
    parts, failures = [], []
    for start in range(0, len(origins), refit_every):
        fold = np.asarray(origins[start : start + refit_every])
        lo = 0 if train_size is None else max(0, fold[0] + 1 - train_size)
        try:
            model.fit(frame.iloc[lo : fold[0] + 1])
            var = model.forecast_variances(data.head(int(fold[-1]) + 1), fold + 1, h_max)
            dof = model.t_dof()
        except Exception as exc:  # a failing fold never stops the walk
            failures.append({"series": series, "model": name, "origin": int(fold[0]),
                             "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
            continue
        summed = np.cumsum(var, axis=1)
        for h in horizons:
            keep = fold + h <= n - 1
            o, f = fold[keep], summed[keep, h - 1]
            part = {
                "series": series, "model": name, "origin": frame.index[o], "horizon": h,
                "target_date": frame.index[o + h], "variance_forecast": f,
                "realized": realized[h][o], "proxy": target_proxy, "return": returns[h][o],
            }  # fmt: skip
            for alpha in VAR_LEVELS:
                col = f"var_{round(alpha * 100)}"
                part[col] = value_at_risk(f, alpha)
                part[f"{col}_t"] = value_at_risk(f, alpha, "t", dof)
            part["t_dof"] = dof
            parts.append(pd.DataFrame(part))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TABLE_COLUMNS)
    return table[TABLE_COLUMNS], failures


def load_frame(ticker: str) -> pd.DataFrame:
    """An embedded series as a frame of prices indexed by date."""
    return pd.read_csv(DATA / f"{ticker}.csv", index_col="Date", parse_dates=True)


def _task(args: tuple) -> tuple[pd.DataFrame, list[dict], float, float]:
    ticker, name, params, test_size, refit_every, horizons, train_size, proxy = args
    from threadpoolctl import threadpool_limits

    frame = load_frame(ticker)
    if proxy != "auto":
        frame = frame[["Adj Close"]]  # close only: squared returns everywhere
    origins = np.arange(len(frame) - test_size - 1, len(frame) - 1)
    model = clone(get_volatility_model(name, **params))
    wall, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        table, failures = walk_volatility(
            frame, model, origins, refit_every, horizons, series=ticker, train_size=train_size
        )
    return table, failures, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
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
    models = {name: {} for name in ECONOMETRIC_MODELS}
    if args.nets:
        models.update({n: {"epochs": args.epochs, "seed": 0} for n in ("lstm", "gru")})
    # the slow fits first, so that the pool's last tasks are short
    order = {"msrv": 0, "lstm": 0, "gru": 0, "garch": 1, "gjr": 1}
    tasks = sorted(
        ((t, m, p, args.test_size, args.refit_every, (1, 5), args.train_size,
          "squared_returns" if args.close_only else "auto")
         for t in SERIES for m, p in models.items()),
        key=lambda task: order.get(task[1], 2),
    )  # fmt: skip
    print(f"{len(SERIES)} series x {len(models)} models, test size {args.test_size}, refit "
          f"every {args.refit_every}, train size {args.train_size or 'all'}, horizons 1 and 5, "
          f"jobs {args.jobs}, close only {args.close_only}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    wall = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_task, tasks))
    wall = time.perf_counter() - wall
    table = pd.concat([r[0] for r in results], ignore_index=True)
    failures = [f for r in results for f in r[1]]
    seconds = pd.DataFrame(
        [(t[0], t[1], r[2], r[3]) for t, r in zip(tasks, results, strict=True)],
        columns=["series", "model", "seconds", "cpu_seconds"],
    )
    if args.out:
        table.to_csv(args.out, index=False)
    report(table, seconds, failures, wall, list(models))


def report(table, seconds, failures, wall: float, models: list[str]) -> None:
    """Print the scores, the VaR tests, the issue's targets and the time."""
    scores = volatility_scores(table)
    tests = var_backtests(table)
    pd.set_option("display.width", 160)
    for h in (1, 5):
        s = scores[scores.horizon == h].set_index(["series", "model"])
        print(f"\nh={h}: QLIKE relative to naive (DM p)   [proxy {s['proxy'].iloc[0]}]")
        print(_grid(s, "rel_qlike", "dm_qlike_pvalue", models).to_string())
        print(f"h={h}: MSE relative to naive (DM p)")
        print(_grid(s, "rel_mse", "dm_mse_pvalue", models).to_string())
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
    s1 = scores[(scores.horizon == 1)].set_index(["series", "model"])
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
    per_model = seconds.groupby("model")[["seconds", "cpu_seconds"]].sum().round(1)
    print(f"\nfailures: {len(failures)}" + "".join(f"\n  {f}" for f in failures[:10]))
    print("seconds per model, summed over series (wall in the worker, CPU):")
    print("  " + ", ".join(f"{m} {r.seconds} / {r.cpu_seconds}" for m, r in per_model.iterrows()))
    print(f"CPU seconds of all walks: {seconds['cpu_seconds'].sum():.1f}; "
          f"load average now {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"wall time: {wall:.1f} s")


def _grid(s: pd.DataFrame, value: str, pvalue: str, models: list[str]) -> pd.DataFrame:
    text = s.apply(lambda r: f"{r[value]:.3f} ({r[pvalue]:.3f})", axis=1)
    return text.unstack("model")[models]


if __name__ == "__main__":
    main()
