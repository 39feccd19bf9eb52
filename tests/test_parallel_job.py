"""``forecast run`` on worker processes: the store a serial run writes, written once per ticker
by the driver only; failures reported while the others go on; SIGTERM stops the workers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from job_helpers import dump, job_config, query, sessions

from forecast.cli import main
from forecast.execution.base import Outcome, SerialExecutor
from forecast.execution.base import _SerialBatch as SerialBatch
from forecast.execution.process_pool import ProcessExecutor
from forecast.job.runner import run_job
from forecast.store import database as store_module

TABLES = ("forecasts", "intervals", "calibration", "model_versions", "scores")
D0, D1 = sessions(2, end="2013-02-28")


def _count_writes(monkeypatch) -> list[tuple[str, int]]:
    """Record (ticker, pid) of every store write of a ticker."""
    writes: list[tuple[str, int]] = []
    original = store_module.Store.write_ticker

    def counting(self, run_id, result):
        writes.append((result.ticker, os.getpid()))
        return original(self, run_id, result)

    monkeypatch.setattr(store_module.Store, "write_ticker", counting)
    return writes


def test_workers_store_what_a_serial_run_stores_writing_once_per_ticker(tmp_path, monkeypatch):
    tickers = ["AAPL", "MSFT", "IBM"]
    (tmp_path / "serial").mkdir()
    (tmp_path / "parallel").mkdir()
    serial = job_config(tmp_path / "serial", tickers=tickers)
    parallel = job_config(tmp_path / "parallel", tickers=tickers)
    for day in (D0, D1):  # refit at D0; at D1 the model files are loaded and D0 is scored
        assert run_job(serial, as_of=day).exit_code == 0
    writes = _count_writes(monkeypatch)
    summaries = [run_job(parallel, as_of=day, jobs=2) for day in (D0, D1)]
    assert [s.exit_code for s in summaries] == [0, 0]
    # each ticker written once per run, in config order, by this process: never by a worker
    assert writes == [(t, os.getpid()) for t in tickers] * 2
    assert [t["ticker"] for t in summaries[0].tickers] == tickers
    assert summaries[1].tickers[0]["loaded"] == ["naive", "drift", "ar", "gru"]
    for table in TABLES:  # the neural forecasts and intervals too, bit for bit
        assert dump(parallel.store, table) == dump(serial.store, table)
    assert summaries[0].tickers[0]["calibrated"] == ["naive", "drift", "ar", "gru"]
    sql = "SELECT run_id, ticker FROM run_tickers ORDER BY rowid"
    assert query(parallel.store, sql) == query(serial.store, sql)


def test_a_failing_ticker_is_reported_and_the_others_are_stored(tmp_path):
    config = job_config(tmp_path, tickers=["AAPL", "NOPE", "MSFT"], models={"drift": {}})
    summary = run_job(config, as_of=D0, jobs=2)
    assert (summary.status, summary.exit_code) == ("partial", 3)
    assert [(t["ticker"], t["status"]) for t in summary.tickers] == [
        ("AAPL", "stored"), ("NOPE", "failed"), ("MSFT", "stored"),
    ]  # fmt: skip
    assert "NOPE" in summary.tickers[1]["message"]
    stored = query(config.store, "SELECT DISTINCT ticker FROM forecasts ORDER BY ticker")
    assert stored == [("AAPL",), ("MSFT",)]


class _LosesMSFT(SerialExecutor):
    """Runs in this process, except that MSFT's task comes back as a dead worker's."""

    def start(self, ordered=False):
        batch = SerialBatch(ordered)
        submit = batch._submit

        def lose(key, function, args):
            if key == "MSFT":
                batch._done.append(Outcome(key, error="WorkerDied: the worker process died"))
            else:
                submit(key, function, args)

        batch._submit = lose
        return batch


def test_a_ticker_whose_worker_died_is_reported_and_the_next_runs_do_it(tmp_path):
    config = job_config(tmp_path, tickers=["AAPL", "MSFT"], models={"drift": {}})
    summary = run_job(config, as_of=D0, executor=_LosesMSFT())
    assert summary.exit_code == 3
    assert summary.tickers[1]["status"] == "failed"
    assert summary.tickers[1]["message"] == "WorkerDied: the worker process died"
    assert query(config.store, "SELECT DISTINCT ticker FROM forecasts") == [("AAPL",)]
    assert run_job(config, as_of=D0, jobs=2).exit_code == 0  # MSFT now, AAPL untouched
    assert query(config.store, "SELECT COUNT(DISTINCT ticker) FROM forecasts") == [(2,)]


def _held_run(args: list[str], out: str, gate: str) -> None:
    """``forecast run`` in a forked child whose driver waits before writing MSFT."""
    from forecast.store.database import Store

    original = Store.write_ticker

    def write(self, run_id, result):
        while result.ticker == "MSFT" and not os.path.exists(gate):
            time.sleep(0.02)
        return original(self, run_id, result)

    Store.write_ticker = write
    with open(out, "w") as fh:
        sys.stdout = sys.stderr = fh
        code = main(args)
    os._exit(code)


def test_sigterm_stops_the_workers_and_marks_the_run_aborted(tmp_path):
    psutil = pytest.importorskip("psutil")
    config = job_config(tmp_path, tickers=["AAPL", "MSFT"], models={"drift": {}, "ar": {}})
    path = tmp_path / "job.toml"
    path.write_text(
        f'tickers = ["AAPL", "MSFT"]\nhorizon = 3\nstore = "{config.store}"\n'
        "[models.drift]\n[models.ar]\nmax_lags = 2\n"
    )
    args = ["run", "--config", str(path), "--as-of", D0, "--jobs", "2"]
    child = multiprocessing.get_context("fork").Process(
        target=_held_run, args=(args, str(tmp_path / "out"), str(tmp_path / "never"))
    )
    child.start()

    def aapl_written() -> bool:
        try:
            return query(config.store, "SELECT ticker FROM run_tickers") == [("AAPL",)]
        except sqlite3.Error:
            return False

    deadline = time.monotonic() + 60
    while not aapl_written():
        assert time.monotonic() < deadline and child.is_alive(), "timed out"
        time.sleep(0.02)
    workers = psutil.Process(child.pid).children(recursive=True)
    assert workers  # the pool's processes
    os.kill(child.pid, signal.SIGTERM)
    child.join(60)
    assert child.exitcode == 143  # 128 + SIGTERM, documented
    assert "forecast run: interrupted" in (tmp_path / "out").read_text()
    assert query(config.store, "SELECT status FROM runs") == [("aborted",)]
    assert query(config.store, "SELECT DISTINCT ticker FROM forecasts") == [("AAPL",)]
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive


def _pool_then_wait(started: str) -> None:
    """A driver whose two workers are busy; it says so, then waits to be killed."""
    with ProcessExecutor(2).start() as batch:
        for i in range(2):
            batch.submit(i, time.sleep, 60)
        Path(started).touch()
        time.sleep(120)


def test_workers_exit_when_their_driver_is_killed(tmp_path):
    psutil = pytest.importorskip("psutil")
    started = tmp_path / "started"
    fork = multiprocessing.get_context("fork")
    driver = fork.Process(target=_pool_then_wait, args=(str(started),))
    driver.start()
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline and driver.is_alive(), "timed out"
        time.sleep(0.05)
    # a worker may still be starting: it must exit too, however late it starts
    children = psutil.Process(driver.pid).children(recursive=True)
    assert len(children) >= 2
    os.kill(driver.pid, signal.SIGKILL)  # no clean-up runs in the driver
    driver.join(10)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive
