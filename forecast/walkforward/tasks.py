"""The progress of a backtest's tasks, shared by the price and the volatility engines.

Both engines run one task per (series, model) on an executor and show their folds on one
:class:`~forecast.execution.progress.Progress` bar: the work in this process reports to the bar
itself, the work in worker processes through a
:class:`~forecast.execution.progress.WorkerReporter` whose events the executor hands to the bar
(where it can), and a worker's task counts its folds when it returns.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager

from forecast.execution.base import Executor
from forecast.execution.progress import Progress, WorkerReporter


@contextmanager
def fold_progress(
    executor: Executor, folds: int, what: str, show: bool
) -> Iterator[Progress | None]:
    """A bar over ``folds`` folds (``None`` unless ``show``), fed with the ``executor``'s
    events while the block runs and closed after it."""
    bar = Progress(folds, "fold", what) if show else None
    if bar is not None and executor.reports_progress:
        executor.on_event = bar.event
    try:
        yield bar
    finally:
        if bar is not None:
            executor.on_event = None
            bar.close()


def task_reporter(bar: Progress | None, executor: Executor, key: Hashable) -> object:
    """What the task ``key`` reports its folds to: the bar in this process, else a
    :class:`~forecast.execution.progress.WorkerReporter` (``None`` without a bar)."""
    return bar if executor.in_process or bar is None else WorkerReporter(key)


def count_task(
    bar: Progress | None, executor: Executor, done: object, folds: int, label: str
) -> None:
    """Count the ``folds`` of a finished worker task (``done``) on the bar as ``"{label}
    done"`` or ``"failed"``; in this process its folds have counted one by one."""
    if bar is not None and not executor.in_process:
        status = "failed" if done.error else "done"
        bar.task_done(done.key, folds, f"{label} {status}")
