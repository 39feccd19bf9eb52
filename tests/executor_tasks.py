"""Tasks and models for the executor tests, importable by worker processes (spawn and Dask).

Worker processes import this module by name, so it stays small and imports no test module.
``FORECAST_TEST_DRIVER`` holds the pid of the test process: code that kills its process
only ever does so in a worker.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from forecast.models.baselines import DriftForecaster


def in_worker() -> bool:
    """Whether this is a worker process of the test (not the test process itself)."""
    return os.environ.get("FORECAST_TEST_DRIVER") not in (None, str(os.getpid()))


def square(x: int) -> int:
    return x * x


def fail(x: int) -> int:
    raise ValueError(f"no good: {x}")


def die(x: int) -> int:
    """Kill the worker process running it, every time.

    After a second: a task submitted beside it has started by then, so that on a loaded
    machine its worker's death does not take down a neighbour that has not begun yet (which
    would be charged a death it did not cause).
    """
    if in_worker():
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def die_once(marker: str, x: int) -> int:
    """Kill the worker the first time (``marker`` records it); return ``x`` when rerun."""
    path = Path(marker)
    if in_worker() and not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def thread_limits() -> list[int]:
    """The thread counts of the BLAS and OpenMP libraries loaded, as a task sees them."""
    from threadpoolctl import threadpool_info

    return sorted({lib["num_threads"] for lib in threadpool_info()})


def worker_pid() -> int:
    return os.getpid()


class KillerDrift(DriftForecaster):
    """Drift, except that fitting on the series named ``BAD`` kills a worker process."""

    name = "killer"

    def fit(self, series):
        if series.name == "BAD" and in_worker():
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(series)


def report_then_wait(flag: str, n: int) -> int:
    """Report ``n`` units to the driver, then return only once the driver creates ``flag``."""
    from forecast.execution.progress import WorkerReporter

    reporter = WorkerReporter("task")
    reporter.add_total(1)
    for _ in range(n):
        reporter.update(1)
    deadline = time.monotonic() + 60
    while not Path(flag).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return n
