"""The local executor: ``jobs`` spawned worker processes on this machine.

See :mod:`forecast.execution` for the interface and the guarantees. Used as a context
manager, the executor starts its workers at once (each running the ``warm_up`` callables,
e.g. importing the models' modules, while the driver goes on with its own set-up) and keeps
them for every batch until the block ends::

    with ProcessExecutor(4, warm_up=[partial(warm_up_model, "lstm")]) as pool:
        a = backtest(prices, "lstm", executor=pool)
        b = backtest(prices, "lstm", refit_every=5, executor=pool)  # the same workers
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from forecast.checks import check_int
from forecast.execution import progress
from forecast.execution.base import Batch, Executor, Outcome, run_task

log = logging.getLogger(__name__)

#: thread-count variables of OpenBLAS, MKL and OpenMP, for libraries a worker loads later
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ProcessExecutor(Executor):
    """``jobs`` spawned worker processes on this machine, one task each at a time.

    Parameters
    ----------
    jobs
        Worker processes (at least 1; :func:`~forecast.execution.base.available_cores` uses every
        core).
    retries
        Times a task whose worker process died is run again before it is reported. When a
        worker dies the pool stops every worker, so each task then running is a suspect
        and is rerun alone: a task that only shared the pool with the culprit succeeds,
        the culprit dies again and is reported. With ``retries=0`` every task running at
        the moment of a death is reported.
    warm_up
        Picklable callables each worker runs once when it starts (errors are ignored):
        imports that every task needs, done while the driver is busy elsewhere.
    """

    reports_progress = True

    def __init__(self, jobs: int, retries: int = 1, warm_up: Sequence[Callable] = ()):
        check_int(jobs, "jobs", 1)
        check_int(retries, "retries", 0)
        self.workers, self.retries, self.warm_up = int(jobs), int(retries), tuple(warm_up)
        self._pool: futures.ProcessPoolExecutor | None = None  # kept between __enter__/__exit__
        self._events = None  # the workers' progress reports (a queue), and its reader thread
        self._listener: threading.Thread | None = None

    def start(self, ordered: bool = False) -> Batch:
        return _PoolBatch(self, ordered)

    def __enter__(self) -> ProcessExecutor:
        if self._pool is None:
            self._pool = self._new_pool()
            for _ in range(self.workers):  # one submission each: every worker starts now
                self._pool.submit(int)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            _stop(pool, cancel=exc_type is not None)
        self._stop_listener()

    def _new_pool(self) -> futures.ProcessPoolExecutor:
        context = get_context("spawn")
        if self._events is None:
            self._events = context.Queue()
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen, daemon=True)
            self._listener.start()
        return futures.ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(), self.warm_up, self._events),
        )

    def _listen(self) -> None:
        """Hand the workers' progress reports to ``on_event`` (dropped when it is None)."""
        while True:
            try:
                message = self._events.get()
            except (EOFError, OSError, ValueError):  # the queue was closed
                return
            if message is None:
                return
            callback = self.on_event
            if callback is not None:
                try:
                    callback(message)
                except Exception as exc:  # progress must never stop the work
                    log.debug("progress callback failed: %s", exc)

    def _stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            self._events.put(None)
            listener.join(timeout=5)

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
    may have been running are known exactly; the rest wait here, in submission order.

    The batch uses the executor's open pool when there is one (and leaves it open), else a
    pool of its own, stopped when the batch closes.
    """

    def __init__(self, executor: ProcessExecutor, ordered: bool):
        super().__init__(ordered)
        self._executor = executor
        self._shared = executor._pool is not None
        self._pool = executor._pool
        self._queue: deque[_Task] = deque()
        self._running: dict[futures.Future, _Task] = {}

    def _submit(self, key, function, args):
        self._queue.append(_Task(key, function, args))
        self._fill()

    def _fill(self) -> None:
        while self._queue and len(self._running) < self._executor.workers:
            suspect_running = any(t.deaths for t in self._running.values())
            if suspect_running or (self._queue[0].deaths and self._running):
                return  # a task that was running when its worker died is retried alone
            task = self._queue.popleft()
            if self._pool is None:
                self._pool = self._executor._new_pool()
                if self._shared:  # a replacement of the executor's pool is the executor's
                    self._executor._pool = self._pool
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
        if self._shared:
            self._executor._pool = None
        codes = sorted({p.exitcode for p in processes.values() if p.exitcode})
        out = []
        for task in reversed(lost):
            task.deaths += 1
            if task.deaths > self._executor.retries:
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
        if pool is None or (self._shared and not cancel):
            return  # the executor's open pool stays for the next batch
        if self._shared:
            self._executor._pool = None
        _stop(pool, cancel)
        if not self._shared:
            self._executor._stop_listener()


def _stop(pool: futures.ProcessPoolExecutor, cancel: bool) -> None:
    if cancel:  # Ctrl-C, SIGTERM, an error in the driver: stop the workers now
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=cancel)


def _init_worker(driver: int, warm_up: tuple[Callable, ...], events: Any = None) -> None:
    """Worker set-up: one thread for libraries loaded from now on; Ctrl-C is the driver's;
    exit with the driver (process ``driver``); progress reports to ``events``; the warm-up."""
    progress._worker_events = events
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()
    atexit.register(_exit_now)
    for function in warm_up:
        try:
            function()
        except Exception as exc:  # only a head start: the task will meet the error itself
            log.debug("warm-up %r failed: %s", function, exc)


def _exit_now() -> None:
    """A finished worker skips the interpreter's teardown (with torch loaded it takes most of
    a second, which the driver's shutdown waits for): its results are with the driver and
    multiprocessing has already cleaned up; only the standard streams are left to flush."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed stream: nothing to flush
            stream.flush()
    os._exit(0)


def _exit_with(parent: int) -> None:
    """End this worker when its driver is gone (even SIGKILLed): the pool's queue never
    closes for it (each worker holds both ends), so it would wait on it forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
