"""``forecast serve`` as a real process: queried on a loopback port while the job writes.

The server binds port 0 (the kernel picks a free port; uvicorn logs it), so the test never
races another process for a port. Every wait has a deadline and the server is killed in a
``finally``, so a broken server fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
from job_helpers import BASELINES, job_config, sessions

from forecast.job.runner import run_job

START_TIMEOUT = 90.0  # seconds for the interpreter, imports and the bind, on a busy CI machine
ADDRESS = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:  # until the process closes stderr; keeps the pipe from filling up
        lines.put(line)
    lines.put(None)


def _wait_for_address(lines: queue.Queue, log: list[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise AssertionError("forecast serve exited before listening:\n" + "".join(log))
        log.append(line)
        if found := ADDRESS.search(line):
            return found.group(1)
    raise AssertionError(f"forecast serve did not listen within {START_TIMEOUT} s:\n{''.join(log)}")


def test_real_server_answers_complete_forecasts_while_the_job_writes(tmp_path):
    config = job_config(tmp_path, models=BASELINES)
    days = sessions(6, end="2013-02-28")
    run_job(config, as_of=days[0])
    server = subprocess.Popen(
        [sys.executable, "-m", "forecast", "serve", "--store", str(config.store), "--port", "0",
         "--no-access-log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    log: list[str] = []
    threading.Thread(target=_read_lines, args=(server.stderr, lines), daemon=True).start()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for day in days[1:]:
                assert run_job(config, as_of=day).exit_code == 0
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    try:
        base = _wait_for_address(lines, log)
        seen, during = [], 0
        with httpx.Client(base_url=base, timeout=10.0) as http:
            assert http.get("/health").json()["latest_as_of"] == days[0]
            writer.start()
            while writer.is_alive() or len(seen) < 10:
                r = http.get("/forecasts/AAPL")
                assert r.status_code == 200, r.text
                body = r.json()
                assert len(body["forecasts"]) == 3 * 3  # every model and horizon, never half
                assert {f["data_hash"] for f in body["forecasts"]} == {
                    body["forecasts"][0]["data_hash"]
                }
                seen.append(body["as_of"])
                during += writer.is_alive()
                assert http.get("/runs?limit=1").status_code == 200
            writer.join(timeout=120)
            assert not errors, errors
            assert http.get("/forecasts/AAPL").json()["as_of"] == days[-1]
            health = http.get("/health").json()
            assert health["last_successful_run"]["as_of"] == days[-1]
            assert http.get("/forecasts/A$B").status_code == 422  # through the real stack
        assert during > 0  # requests were answered while the job was writing
        assert seen == sorted(seen) and set(seen) <= set(days)
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)
        writer.join(timeout=120)
    while (line := lines.get(timeout=10)) is not None:
        log.append(line)
    text = "".join(log)
    assert server.returncode == 0, text
    assert "Traceback" not in text and "database is locked" not in text
    assert "Application shutdown complete" in text
