"""Where the per-series work runs: in this process, in local worker processes, or on Dask.

Three executors share one small interface, used by the backtest engine, ``forecast compare``
and ``forecast run``::

    with executor.start() as batch:
        batch.submit(key, function, *args)     # function and args must pickle
        for outcome in batch.completed():      # Outcome(key, value, error, seconds)
            ...

Each batch starts its workers and stops them at the end; ``with executor:`` around several
batches (or around the driver's own set-up) starts them once and keeps them.

- :class:`SerialExecutor`: each task runs at once, in this process (``jobs=1``).
- :class:`~forecast.execution.process_pool.ProcessExecutor`: ``jobs`` spawned worker processes on
  this machine.
- :class:`~forecast.execution.dask_cluster.DaskExecutor`: the workers of a Dask distributed cluster
  (or a local one); Dask is an optional extra, imported only when a batch starts.

**A task that raises is a result, not a crash**: its outcome carries the error text and the
other tasks go on. A local worker process that dies (killed, out of memory, a crash in C
code) costs only the tasks it was running: the pool is restarted, and each of those tasks is
run once more, alone, before it is reported as failed. On Dask, the scheduler reruns the
tasks of a dead worker elsewhere (its ``allowed-failures`` setting, 3 by default).

**The same numbers whatever the executor.** Every task runs with one BLAS and one OpenMP
thread (``threadpoolctl``), in this process as in a worker, and the neural models always
train and forecast with one torch thread (:func:`forecast.models.networks.torch_settings`):
a reduction split over two threads adds in another order and can change the last bits, so
the thread count is fixed by construction rather than left to the machine. A worker process
runs one task at a time (those settings are process-wide), so ``jobs`` processes use ``jobs``
cores. Workers are spawned, never forked: forking a process that has imported torch can
deadlock in the child. A worker exits when its driver does, even a SIGKILLed one.

The prices travel with each task: workers read no files and use no network, and only the
driver (the process that submits) writes results.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from forecast.errors import ForecastError

log = logging.getLogger(__name__)

#: one task at a time per process: thread counts and torch's modes are process-wide
_TASK_LOCK = threading.RLock()


class ExecutorError(ForecastError):
    """An executor cannot start: Dask is not installed, the scheduler cannot be reached."""


@dataclass(frozen=True)
class Outcome:
    """The result of one task: ``value``, or ``error`` (``"TypeError: ..."``) if it failed."""

    key: Hashable
    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the task returned (``value`` holds its result)."""
        return self.error is None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on macOS and Windows
        return os.cpu_count() or 1


@contextmanager
def one_thread() -> Iterator[None]:
    """One thread in every BLAS and OpenMP library loaded, restored afterwards."""
    from threadpoolctl import threadpool_limits  # scans the libraries loaded now (~1 ms)

    with threadpool_limits(limits=1):
        yield


def run_task(function: Callable, *args: Any) -> tuple[Any, str | None, float]:
    """Run one task as every executor does: one thread per library, errors as results.

    Returns ``(value, error, seconds)``; ``error`` is ``None`` on success.
    """
    with _TASK_LOCK, one_thread():
        t0 = time.perf_counter()
        try:
            value = function(*args)
        except Exception as exc:  # a failing task is reported; it never stops the others
            return None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
        return value, None, time.perf_counter() - t0


# ---- the interface --------------------------------------------------------------------------
class Batch(ABC):
    """Tasks submitted to an executor and their outcomes; use ``with executor.start()``.

    With ``ordered=True`` outcomes come out in submission order (each one as soon as it and
    every earlier one are done), else as they finish.
    """

    def __init__(self, ordered: bool = False):
        self._ordered = ordered
        self._order: deque[Hashable] = deque()  # submission order (ordered batches only)
        self._held: dict[Hashable, Outcome] = {}  # done, waiting for an earlier task
        self._ready: deque[Outcome] = deque()  # done, not yet returned

    def submit(self, key: Hashable, function: Callable, *args: Any) -> None:
        """Queue ``function(*args)`` under ``key`` (unique in the batch)."""
        if self._ordered:
            self._order.append(key)
        self._submit(key, function, args)

    def add_result(self, key: Hashable, value: Any) -> None:
        """Put an outcome known without work (e.g. a failure found by the driver) in line."""
        if self._ordered:
            self._order.append(key)
        self._ready.append(Outcome(key, value))

    def completed(self, wait: bool = True) -> Iterator[Outcome]:
        """The outcomes not yet returned; ``wait=False``: only those available now."""
        while True:
            if not self._ready:
                self._ready.extend(self._poll(wait))
            if not self._ready:
                return
            outcome = self._ready.popleft()
            if not self._ordered:
                yield outcome
                continue
            self._held[outcome.key] = outcome
            while self._order and self._order[0] in self._held:
                yield self._held.pop(self._order.popleft())

    @abstractmethod
    def _submit(self, key: Hashable, function: Callable, args: tuple) -> None: ...

    @abstractmethod
    def _poll(self, wait: bool) -> list[Outcome]:
        """Outcomes of tasks finished since the last call: at least one when ``wait`` and
        any task is unfinished; with ``wait=False`` possibly none."""

    def close(self, cancel: bool = False) -> None:  # noqa: B027 (optional hook)
        """Release the workers; ``cancel``: drop unfinished tasks at once."""

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(cancel=exc_type is not None)


class Executor(ABC):
    """Runs tasks; see the module docstring. ``workers``: tasks that run at once."""

    workers: int = 1
    #: whether tasks run in this process (a progress bar can then follow them inside)
    in_process: bool = False
    #: whether tasks' :class:`~forecast.execution.progress.WorkerReporter` reach the driver
    reports_progress: bool = False
    #: called in the driver with each progress report of a worker (``None``: dropped)
    on_event: Callable[[tuple], None] | None = None

    @abstractmethod
    def start(self, ordered: bool = False) -> Batch:
        """A new :class:`Batch` (workers start here, and stop when it closes)."""

    def describe(self) -> str:
        """A short description for progress lines and run records."""
        return f"{self.workers} worker{'s' * (self.workers != 1)}"

    def __enter__(self) -> Executor:
        """Start the workers now and keep them for every batch until the ``with`` block ends
        (executors without workers of their own do nothing)."""
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: B027 (optional hook)
        """Stop the workers started by ``__enter__``."""


# ---- in this process ------------------------------------------------------------------------
class SerialExecutor(Executor):
    """Every task in this process, one after the other, at the moment it is submitted."""

    in_process = True

    def start(self, ordered: bool = False) -> Batch:
        return _SerialBatch(ordered)

    def describe(self) -> str:
        return "1 process"

    def __repr__(self) -> str:
        return "SerialExecutor()"


class _SerialBatch(Batch):
    def __init__(self, ordered: bool):
        super().__init__(ordered)
        self._done: deque[Outcome] = deque()

    def _submit(self, key, function, args):
        self._done.append(Outcome(key, *run_task(function, *args)))

    def _poll(self, wait):
        done, self._done = list(self._done), deque()
        return done
