"""The tasks of a backtest, shared by the price and the volatility engines.

Both engines run one task per (series, model) on an executor, assemble the tasks' parts
(:func:`stack_parts`; a task that failed as a whole becomes :func:`failed_task`), and show
their folds on one
:class:`~forecast.execution.progress.Progress` bar: the work in this process reports to the bar
itself, the work in worker processes through a
:class:`~forecast.execution.progress.WorkerReporter` whose events the executor hands to the bar
(where it can), and a worker's task counts its folds when it returns.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager

import pandas as pd

from forecast.execution.base import Executor
from forecast.execution.progress import Progress, WorkerReporter
from forecast.walkforward.walk import SeriesPart, empty_table

FAILURE_COLUMNS = ["series", "model", "origin", "stage", "error"]
TIMING_COLUMNS = ["series", "model", "fit_seconds", "predict_seconds", "n_fits", "n_failed"]


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


def failed_task(done: object, folds: int, columns: list[str], info: dict) -> SeriesPart:
    """The part of a task that failed as a whole (e.g. its worker died): every fold of it
    failed; no forecasts (an empty table of ``columns``), the series' ``info``."""
    name, model = done.key
    failure = {"series": name, "model": model, "origin": None, "stage": "task"}
    timing = {"series": name, "model": model, "fit_seconds": 0.0, "predict_seconds": 0.0}
    return SeriesPart(
        empty_table(columns),
        [failure | {"error": done.error}],
        [timing | {"n_fits": 0, "n_failed": folds}],
        info,
    )


def stack_parts(
    parts: Sequence[SeriesPart], columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The parts' forecasts (an empty table of ``columns`` without any), series facts (one
    row per series), timings and failures, each as one table."""
    frames = [p.forecasts for p in parts if len(p.forecasts)]
    forecasts = pd.concat(frames, ignore_index=True) if frames else empty_table(columns)
    info = pd.DataFrame(list({p.info["series"]: p.info for p in parts}.values()))
    timings = pd.DataFrame([t for p in parts for t in p.timings], columns=TIMING_COLUMNS)
    failures = pd.DataFrame([f for p in parts for f in p.failures], columns=FAILURE_COLUMNS)
    return forecasts, info, timings, failures
