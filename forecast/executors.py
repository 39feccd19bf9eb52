"""Where the per-series work runs: in this process, in local worker processes, or on Dask.

Three executors share one small interface, used by the backtest engine, ``forecast compare``
and ``forecast run``::

    with executor.start() as batch:
        batch.submit(key, function, *args)     # function and args must pickle
        for outcome in batch.completed():      # Outcome(key, value, error, seconds)
            ...

- :class:`SerialExecutor`: each task runs at once, in this process (``jobs=1``).
- :class:`ProcessExecutor`: ``jobs`` spawned worker processes on this machine.
- :class:`~forecast.dask_executor.DaskExecutor`: the workers of a Dask distributed cluster
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
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from forecast.errors import ForecastError

log = logging.getLogger(__name__)

#: thread-count variables of OpenBLAS, MKL and OpenMP, for libraries a worker loads later
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
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

    @abstractmethod
    def start(self, ordered: bool = False) -> Batch:
        """A new :class:`Batch` (workers start here, and stop when it closes)."""

    def describe(self) -> str:
        """A short description for progress lines and run records."""
        return f"{self.workers} worker{'s' * (self.workers != 1)}"


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


# ---- local worker processes -----------------------------------------------------------------
class ProcessExecutor(Executor):
    """``jobs`` spawned worker processes on this machine, one task each at a time.

    Parameters
    ----------
    jobs
        Worker processes (at least 1; :func:`available_cores` uses every core).
    retries
        Times a task whose worker process died is run again before it is reported. When a
        worker dies the pool stops every worker, so each task then running is a suspect
        and is rerun alone: a task that only shared the pool with the culprit succeeds,
        the culprit dies again and is reported. With ``retries=0`` every task running at
        the moment of a death is reported.
    """

    def __init__(self, jobs: int, retries: int = 1):
        check_count(jobs, "jobs", 1)
        check_count(retries, "retries", 0)
        self.workers, self.retries = int(jobs), int(retries)

    def start(self, ordered: bool = False) -> Batch:
        return _PoolBatch(self.workers, self.retries, ordered)

    def describe(self) -> str:
        return f"{self.workers} worker process{'es' * (self.workers != 1)}"

    def __repr__(self) -> str:
        return f"ProcessExecutor(jobs={self.workers})"


@dataclass
class _Task:
    key: Hashable
    function: Callable
    args: tuple
    deaths: int = 0


class _PoolBatch(Batch):
    """At most ``jobs`` tasks are in the pool at once, so when a worker dies the tasks it
    may have been running are known exactly; the rest wait here, in submission order."""

    def __init__(self, jobs: int, retries: int, ordered: bool):
        super().__init__(ordered)
        self._jobs, self._retries = jobs, retries
        self._queue: deque[_Task] = deque()
        self._running: dict[futures.Future, _Task] = {}
        self._pool: futures.ProcessPoolExecutor | None = None

    def _submit(self, key, function, args):
        self._queue.append(_Task(key, function, args))
        self._fill()

    def _fill(self) -> None:
        while self._queue and len(self._running) < self._jobs:
            suspect_running = any(t.deaths for t in self._running.values())
            if suspect_running or (self._queue[0].deaths and self._running):
                return  # a task that was running when its worker died is retried alone
            task = self._queue.popleft()
            if self._pool is None:
                self._pool = futures.ProcessPoolExecutor(
                    self._jobs,
                    mp_context=get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(os.getpid(),),
                )
            self._running[self._pool.submit(run_task, task.function, *task.args)] = task

    def _poll(self, wait):
        out: list[Outcome] = []
        while self._running and not out:
            done, _ = futures.wait(
                self._running, timeout=None if wait else 0, return_when=futures.FIRST_COMPLETED
            )
            if not done:
                break
            lost = []
            for future in done:
                task = self._running.pop(future)
                error = future.exception()
                if error is None:
                    out.append(Outcome(task.key, *future.result()))
                elif isinstance(error, BrokenProcessPool):
                    lost.append(task)
                else:  # the task or its result could not be pickled
                    out.append(Outcome(task.key, error=f"{type(error).__name__}: {error}"))
            if lost:
                out += self._restart(lost)
            self._fill()
            if not wait:
                break
        return out

    def _restart(self, lost: list[_Task]) -> list[Outcome]:
        """A worker died: every task in the pool was lost with it; rerun or report them."""
        futures.wait(self._running)  # they all fail at once
        lost += self._running.values()
        self._running.clear()
        processes = getattr(self._pool, "_processes", None) or {}  # private: for the message only
        self._pool.shutdown(wait=True)
        self._pool = None
        codes = sorted({p.exitcode for p in processes.values() if p.exitcode})
        out = []
        for task in reversed(lost):
            task.deaths += 1
            if task.deaths > self._retries:
                times = "once" if task.deaths == 1 else f"{task.deaths} times"
                out.append(Outcome(
                    task.key,
                    error=f"WorkerDied: the worker process running this task died {times} "
                    f"(exit codes {codes}; killed, out of memory or a crash in C code)",
                ))  # fmt: skip
            else:
                log.warning("a worker process died (exit codes %s); rerunning %s", codes, task.key)
                self._queue.appendleft(task)
        return out

    def close(self, cancel=False):
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:  # Ctrl-C, SIGTERM, an error in the driver: stop the workers now
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=cancel)


def _init_worker(driver: int) -> None:
    """Worker set-up: one thread for libraries loaded from now on; Ctrl-C is the driver's;
    exit with the driver (process ``driver``)."""
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker when its driver is gone (even SIGKILLed): the pool's queue never
    closes for it (each worker holds both ends), so it would wait on it forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


# ---- choosing one ---------------------------------------------------------------------------
def resolve_executor(jobs: int | None = None, executor: Executor | None = None) -> Executor:
    """The executor for the Python API's ``jobs=`` / ``executor=`` pair.

    ``jobs=None`` or ``1`` runs in this process; ``jobs=N`` on ``N`` local worker processes.
    """
    if executor is not None:
        if jobs is not None:
            raise ValueError(f"pass jobs or executor, not both; got jobs={jobs!r} and {executor!r}")
        if not isinstance(executor, Executor):
            raise TypeError(
                f"executor must be a forecast.executors.Executor; got {type(executor).__name__}"
            )
        return executor
    if jobs is None:
        return SerialExecutor()
    check_count(jobs, "jobs", 1)
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)


def check_count(value: object, name: str, minimum: int) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def __getattr__(name: str) -> type[Executor]:
    """``forecast.executors.DaskExecutor``, imported on access (Dask itself only on start)."""
    if name == "DaskExecutor":
        from forecast.dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
