"""The walk-forward backtest on several processes: one task per (series, model).

:func:`forecast.backtest.run_series` is the unit of work; each task runs it on one series and
one model, and the parts are put back in series and model order before the metrics, so the
result holds the same rows as :func:`forecast.backtest.backtest` (numbers may differ in the
last bits for models whose arithmetic depends on the thread count).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import pandas as pd

from forecast.backtest import BacktestConfig, BacktestResult, SeriesPart, combine_parts, run_series
from forecast.models.base import BaseForecaster


def resolve_jobs(jobs: int, n_tasks: int) -> int:
    """Worker processes for ``n_tasks``: ``0`` means one per available core."""
    if jobs == 0:
        try:
            jobs = len(os.sched_getaffinity(0))
        except AttributeError:  # no affinity on macOS and Windows
            jobs = os.cpu_count() or 1
    return max(1, min(jobs, n_tasks))


def backtest_parallel(
    series: list[pd.Series],
    models: dict[str, BaseForecaster],
    config: BacktestConfig,
    jobs: int,
    *,
    progress: bool = True,
) -> BacktestResult:
    """:func:`forecast.backtest.backtest` with one task per (series, model) on ``jobs`` processes.

    The same numbers as the serial engine: each task runs :func:`forecast.backtest.run_series`
    on one model, and the parts are put back in series and model order before the metrics.
    Workers are spawned (not forked: a forked torch may deadlock) with one thread each, so
    ``jobs`` processes use ``jobs`` cores.
    """
    named: dict[str, pd.Series] = {}
    for s in series:
        if str(s.name) in named:
            raise ValueError(f"series names must be unique; {str(s.name)!r} appears twice")
        named[str(s.name)] = s
    # likely-slowest first (models listed last are the heavy ones by convention, long series
    # take longest) so that no worker is left with a long task at the end
    tasks = [
        (name, model)
        for model in reversed(list(models))
        for name in sorted(named, key=lambda n: -len(named[n]))
    ]
    parts: dict[tuple[str, str], SeriesPart] = {}
    bar = _TaskProgress(len(tasks)) if progress else None
    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_one_thread)
    try:
        futures = {
            pool.submit(run_series, name, named[name], {model: models[model]}, config): (
                name,
                model,
            )
            for name, model in tasks
        }
        for future in as_completed(futures):
            parts[futures[future]] = future.result()  # re-raises a worker's crash
            if bar is not None:
                bar.done(*futures[future])
    except BaseException:  # a crash or Ctrl-C: drop the queued tasks, do not wait for them
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    merged = []
    for name in named:
        pieces = [parts[(name, model)] for model in models]
        merged.append(
            SeriesPart(
                pd.concat([p.forecasts for p in pieces], ignore_index=True),
                [f for p in pieces for f in p.failures],
                [t for p in pieces for t in p.timings],
                pieces[0].info,
            )
        )
    return combine_parts(merged, config)


def _one_thread() -> None:
    """Worker initializer: one intra-op thread (torch reads these when it is first imported)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    torch = sys.modules.get("torch")  # already imported: tell it directly, never import it
    if torch is not None:
        torch.set_num_threads(1)


class _TaskProgress:
    """One stderr line per finished (series, model) task, with the elapsed time."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.perf_counter()

    def done(self, series: str, model: str) -> None:
        self.n += 1
        print(
            f"[{self.n}/{self.total} tasks, {time.perf_counter() - self.t0:.1f}s] "
            f"{series} {model} done",
            file=sys.stderr,
            flush=True,
        )
