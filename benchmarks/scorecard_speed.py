"""How fast the live scorecard with its confidence sequences answers on a year of a big store.

Builds a store of 50 tickers x 9 models x ``--sessions`` (default 252: one year) evenings of
forecasts at horizons 1-5 (567,000 forecasts, about 560,000 matured and scored, each with an
80% interval; synthetic random-walk prices; each model a fixed bias and noise around the
random walk and intervals of its own width, so the statuses differ), written straight
through the store's connection in one transaction. Then, side by side in one run:

* ``job step``: :func:`forecast.store.live_compute.refresh_live_scorecard`, what ``forecast
  run`` adds after scoring (reads every forecast, computes the scorecard and the sequences,
  stores 2,250 rows), once;
* ``computed on request``: the same computation without storing, what a reader would do
  without the stored table, once;
* ``forecast scorecard`` (a subprocess: Python start-up, imports, read, print), ``--json``
  and ``--alerts``: median of ``--repeats``;
* the service's ``GET /scorecard`` in process (FastAPI ``TestClient``: routing, the read,
  validation and JSON of 2,250 rows) and ``?ticker=T00``: median of ``--requests``.

Targets: the CLI under 1 s, ``/scorecard`` under 200 ms. The load average is printed: other
work on the machine slows every figure.

    python benchmarks/scorecard_speed.py [--sessions 252] [--repeats 5] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.store.database import open_reader, open_store, transaction
from forecast.store.live_compute import compute_live, refresh_live_scorecard
from forecast.store.scorecard import load_forecasts

MODELS = {  # name: (bias of the log forecast, noise sd, interval half-width in log terms)
    "naive": (0.0, 0.0, 0.0128),
    "drift": (0.0003, 0.0, 0.0128),
    "ar": (0.0, 0.002, 0.013),
    "markov": (0.0, 0.004, 0.013),
    "msar": (0.0, 0.001, 0.011),
    "elman": (0.0, 0.006, 0.0128),
    "rnn": (0.002, 0.003, 0.0128),
    "lstm": (0.0, 0.003, 0.009),
    "gru": (0.0, 0.0015, 0.016),
}
HORIZON = 5


def build_store(path: Path, n_tickers: int, n_sessions: int, seed: int = 0) -> int:
    """Write the synthetic store; return the number of forecasts."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-01-02", periods=n_sessions + HORIZON).strftime("%Y-%m-%d")
    store = open_store(path)
    c = store.conn
    n = 0
    with transaction(c):
        for run_id, as_of in enumerate(days[:n_sessions], 1):
            c.execute(
                "INSERT INTO runs (run_id, started_at, finished_at, as_of, config_hash, status) "
                "VALUES (?, ?, ?, ?, 'bench', 'succeeded')",
                (run_id, f"{as_of}T22:00:00+00:00", f"{as_of}T22:05:00+00:00", as_of),
            )
        for t in range(n_tickers):
            prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
            n += _ticker(c, f"T{t:02d}", days, n_sessions, prices, rng)
    store.close()
    return n


def _ticker(c, ticker: str, days, n_sessions: int, prices, rng) -> int:
    forecasts, actuals = [], []
    for model, (bias, noise, half) in MODELS.items():
        version = c.execute(
            "INSERT INTO model_versions (ticker, model, spec_hash, params, trained_through, "
            "n_train, data_hash, file, sha256, fit_seconds, run_id) VALUES (?, ?, 'sha256:b', "
            "'{}', ?, 2500, 'sha256:t', ?, 'sha256:f', 0.1, 1)",
            (ticker, model, days[0], f"T_{ticker}/{model}"),
        ).lastrowid
        for i in range(n_sessions):
            last = float(prices[i])
            for h in range(1, HORIZON + 1):
                fc = last * np.exp(bias * h + noise * np.sqrt(h) * rng.standard_normal())
                w = half * np.sqrt(h)
                forecasts.append((ticker, model, version, days[i], h, days[i + h], fc,
                                  fc * np.exp(-w), fc * np.exp(w), last, i + 1))  # fmt: skip
                actuals.append((i + h, float(prices[i + h])))
    first = c.execute("SELECT COALESCE(MAX(forecast_id), 0) FROM forecasts").fetchone()[0]
    c.executemany(
        "INSERT INTO forecasts (ticker, model, version_id, as_of, horizon, target_date, "
        "forecast, lower, upper, interval_method, interval_level, last_price, data_hash, "
        "run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'aci', 0.8, ?, 'sha256:d', ?)",
        forecasts,
    )
    scores = [
        (first + k + 1, actual, f[6] - actual, f[9] - actual, pos + 1)
        for k, (f, (pos, actual)) in enumerate(zip(forecasts, actuals, strict=True))
        if pos < n_sessions  # matured within the year: the job scored it that evening
    ]
    c.executemany(
        "INSERT INTO scores (forecast_id, actual, error, naive_error, run_id) "
        "VALUES (?, ?, ?, ?, ?)",
        scores,
    )
    return len(forecasts)


def cli_seconds(store: Path, args: list[str], repeats: int) -> tuple[float, int]:
    """Median wall time of ``forecast scorecard ARGS`` in a subprocess, and its exit code."""
    times, code = [], 0
    cmd = [sys.executable, "-m", "forecast", "scorecard", "--store", str(store), *args]
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
        code = done.returncode
    return statistics.median(times), code


def service_seconds(store: Path, url: str, requests: int) -> float:
    """Median time of ``GET url`` through the FastAPI test client (after one warm-up)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

        from forecast.service.app import create_app

        client = TestClient(create_app(store))
    assert client.get(url).status_code == 200
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=252)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--store", type=Path, default=None, help="reuse/keep the store here")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} cores)")
    folder = Path(tempfile.mkdtemp(prefix="scorecard-speed-"))
    store = args.store or folder / "forecast.db"
    if not store.exists():
        t0 = time.perf_counter()
        n = build_store(store, args.tickers, args.sessions)
        print(f"built {store}: {n:,} forecasts in {time.perf_counter() - t0:.1f} s")
    conn = open_reader(store)
    t0 = time.perf_counter()
    table = compute_live(load_forecasts(conn))
    computed = time.perf_counter() - t0
    conn.close()
    writer = open_store(store)
    t0 = time.perf_counter()
    refreshed = refresh_live_scorecard(writer.conn)
    job_step = time.perf_counter() - t0
    writer.close()
    print(f"{len(table):,} rows; statuses {table['status'].value_counts().to_dict()}, "
          f"coverage {table['coverage_status'].value_counts().to_dict()}")  # fmt: skip
    print(f"job step (refresh_live_scorecard):     {job_step:7.3f} s  {refreshed}")
    print(f"computed on request (no stored table): {computed:7.3f} s")
    for extra in ([], ["--json"], ["--alerts"]):
        seconds, code = cli_seconds(store, extra, args.repeats)
        label = " ".join(["forecast scorecard", *extra])
        print(f"{label:<38} {seconds:7.3f} s  (median of {args.repeats}, exit {code})")
    for url in ("/scorecard", "/scorecard?ticker=T00"):
        seconds = service_seconds(store, url, args.requests)
        print(f"GET {url:<34} {seconds * 1000:7.1f} ms (median of {args.requests})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
