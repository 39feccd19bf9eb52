"""Requests per second of ``GET /forecasts/{ticker}`` from a real ``forecast serve`` process.

Builds a store holding one year of daily forecasts for 50 tickers (252 XNYS sessions, 9
models, horizons 1-5: 567,000 forecasts with their model versions, scores and runs; synthetic
prices, written straight through SQL in one transaction), starts ``forecast serve`` on a free
loopback port (uvicorn, one process, no access log), and keeps ``--concurrency`` keep-alive
connections busy for ``--seconds`` per case from an asyncio httpx client in this process:

* ``latest``: ``/forecasts/{ticker}`` (the newest as-of; 45 rows per response),
* ``as_of``: ``/forecasts/{ticker}?as_of=<a random stored session>``,
* ``query only``: the same reads without HTTP, in this process (the store's share).

The server's CPU use (from ``/proc``) and the client's are printed: one near 100 % of a
core is the limit. The load average is printed before and after: other work on the machine
lowers the figure.

    python benchmarks/service_rps.py [--seconds 10] [--concurrency 8] [--store PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from forecast.data.calendar import get_calendar
from forecast.service.queries import forecast_rows, latest_by_model, read_snapshot
from forecast.store.database import open_store, transaction

MODELS = ["naive", "drift", "ar", "markov", "msar", "elman", "rnn", "lstm", "gru"]
HORIZON, REFIT_EVERY = 5, 5


def build_store(path: Path, n_tickers: int, n_sessions: int) -> list[str]:
    """Write the synthetic store; return its as-of sessions."""
    cal = get_calendar("XNYS")
    end = cal.previous_session("2025-12-31")
    days = [d.isoformat() for d in cal.next_sessions(end, HORIZON)]
    sessions = []
    day = end
    for _ in range(n_sessions + HORIZON):
        sessions.append(day.isoformat())
        day = cal.previous_session(day.fromordinal(day.toordinal() - 1))
    sessions = sessions[::-1]
    all_days = sessions + days
    rng = np.random.default_rng(0)
    store = open_store(path)
    c = store.conn
    tickers = [f"T{i:02d}" for i in range(n_tickers)]
    with transaction(c):
        for run_id, as_of in enumerate(sessions[:n_sessions], 1):
            c.execute(
                "INSERT INTO runs (run_id, started_at, finished_at, as_of, config_hash, status) "
                "VALUES (?, ?, ?, ?, 'bench', 'succeeded')",
                (run_id, f"{as_of}T22:00:00+00:00", f"{as_of}T22:05:00+00:00", as_of),
            )
            c.executemany(
                "INSERT INTO run_tickers (run_id, ticker, as_of, status, n_forecasts) "
                "VALUES (?, ?, ?, 'stored', ?)",
                [(run_id, t, as_of, len(MODELS) * HORIZON) for t in tickers],
            )
        for t in tickers:
            prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(all_days))))
            _ticker_rows(c, t, sessions[:n_sessions], all_days, prices)
    store.close()
    return sessions[:n_sessions]


def _ticker_rows(c, ticker: str, as_ofs: list[str], all_days: list[str], prices) -> None:
    forecasts, scores = [], []
    for m in MODELS:
        version_id = None
        for i, as_of in enumerate(as_ofs):
            run_id = i + 1
            if i % REFIT_EVERY == 0:
                version_id = c.execute(
                    "INSERT INTO model_versions (ticker, model, spec_hash, params, "
                    "trained_through, n_train, data_hash, file, sha256, fit_seconds, run_id) "
                    "VALUES (?, ?, 'sha256:bench', '{}', ?, 2500, 'sha256:train', ?, "
                    "'sha256:files', 0.1, ?)",
                    (ticker, m, as_of, f"T_{ticker}/{m}/{as_of}", run_id),
                ).lastrowid
            last = float(prices[i])
            for h in range(1, HORIZON + 1):
                target = all_days[i + h]
                forecasts.append(
                    (ticker, m, version_id, as_of, h, target, last * 1.001, last, run_id)
                )
    c.executemany(
        "INSERT INTO forecasts (ticker, model, version_id, as_of, horizon, target_date, "
        "forecast, last_price, data_hash, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        "'sha256:data', ?)",
        forecasts,
    )
    index = {d: i for i, d in enumerate(all_days)}
    rows = c.execute(
        "SELECT forecast_id, target_date, forecast, last_price FROM forecasts WHERE ticker = ?",
        (ticker,),
    ).fetchall()
    for fid, target, fc, last in rows:
        pos = index[target]
        if pos < len(as_ofs):  # matured within the year: the job scored it
            actual = float(prices[pos])
            hit = None if actual == last else int((fc > last) == (actual > last))
            scores.append((fid, actual, fc - actual, last - actual, hit, pos + 1))
    c.executemany(
        "INSERT INTO scores (forecast_id, actual, error, naive_error, direction_hit, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        scores,
    )


def start_server(store: Path) -> tuple[subprocess.Popen, str]:
    """``forecast serve`` on port 0; returns the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "forecast", "serve", "--store", str(store), "--port", "0",
         "--no-access-log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if found := re.search(r"Uvicorn running on (http://\S+)", line):
            return proc, found.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("forecast serve did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(base: str, urls: list[str], seconds: float, concurrency: int) -> list[float]:
    """Latencies of the requests completed in ``seconds`` by ``concurrency`` connections."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient, rng: random.Random) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            r = await client.get(rng.choice(urls))
            if r.status_code != 200:
                raise SystemExit(f"{r.request.url}: {r.status_code} {r.text[:200]}")
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client, random.Random(i)) for i in range(concurrency)))
    return latencies


def run_case(name: str, proc, base: str, urls: list[str], args) -> dict:
    asyncio.run(load(base, urls, 1.0, args.concurrency))  # warm-up
    cpu0, own0, t0 = cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
    lat = np.array(asyncio.run(load(base, urls, args.seconds, args.concurrency)))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
    client = time.process_time() - own0
    out = {
        "case": name,
        "requests": len(lat),
        "rps": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 2),
        "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 2),
        "server_cpu": f"{cpu / wall:.0%}",
        "client_cpu": f"{client / wall:.0%}",
    }
    print(
        f"{name:<8} {out['rps']:>8.1f} req/s  p50 {out['p50_ms']:6.2f} ms  p99 "
        f"{out['p99_ms']:6.2f} ms  CPU of one core: server {out['server_cpu']}, client "
        f"{out['client_cpu']}"
    )
    return out


def query_only(store: Path, tickers: list[str], seconds: float) -> float:
    """Calls per second of the reads behind ``/forecasts/{ticker}``, without HTTP."""
    n, stop = 0, time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        with read_snapshot(store) as conn:
            latest = {p["model"]: p["latest_as_of"] for p in latest_by_model(conn, tickers[n % 50])}
            forecast_rows(conn, tickers[n % 50], list(latest), max(latest.values()), None)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per case (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (default 8)")
    parser.add_argument("--store", type=Path, default=None, help="reuse or keep this store")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "forecast.db"
        t0 = time.perf_counter()
        if not store.exists():
            build_store(store, 50, 252)
        with read_snapshot(store) as conn:
            n = conn.execute("SELECT COUNT(*) FROM forecasts").fetchone()[0]
            sessions = [r[0] for r in conn.execute("SELECT DISTINCT as_of FROM forecasts")]
            tickers = sorted({p["ticker"] for p in latest_by_model(conn)})
        size = store.stat().st_size / 2**20
        print(
            f"store: {len(tickers)} tickers, {len(sessions)} sessions, {n:,} forecasts, "
            f"{size:.0f} MiB ({time.perf_counter() - t0:.1f} s)"
        )
        print(f"query only (no HTTP): {query_only(store, tickers, 3.0):.0f} calls/s")
        proc, base = start_server(store)
        try:
            results = [
                run_case("latest", proc, base, [f"/forecasts/{t}" for t in tickers], args),
                run_case(
                    "as_of", proc, base,
                    [f"/forecasts/{t}?as_of={d}" for t in tickers for d in sessions], args,
                ),
            ]  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(json.dumps({"concurrency": args.concurrency, "seconds": args.seconds, "cases": results}))


if __name__ == "__main__":
    main()
