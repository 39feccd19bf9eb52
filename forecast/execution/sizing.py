"""Choosing and sizing an executor: the one place that decides how many workers run where.

:func:`resolve_executor` serves the Python API's ``jobs=`` / ``executor=`` pair;
:func:`make_executor` the command line's ``--jobs`` / ``--executor`` / ``--scheduler`` and the
configs' ``jobs`` (``None`` or ``0``: one worker per core). Neither starts more workers than
there are tasks, when the number of tasks is known.
"""

from __future__ import annotations

from collections.abc import Callable

from forecast.checks import check_int, is_int
from forecast.execution.base import Executor, SerialExecutor, available_cores
from forecast.execution.process_pool import ProcessExecutor

KINDS = ("local", "dask")


def resolve_executor(
    jobs: int | None = None, executor: Executor | None = None, n_tasks: int | None = None
) -> Executor:
    """The executor for the Python API's ``jobs=`` / ``executor=`` pair.

    ``jobs=None`` or ``1`` runs in this process; ``jobs=N`` on ``N`` local worker processes
    (no more than ``n_tasks`` when given).
    """
    if executor is not None:
        if jobs is not None:
            raise ValueError(f"pass jobs or executor, not both; got jobs={jobs!r} and {executor!r}")
        if not isinstance(executor, Executor):
            raise TypeError(
                f"executor must be a forecast.execution.base.Executor; got "
                f"{type(executor).__name__}"
            )
        return executor
    if jobs is None:
        return SerialExecutor()
    jobs = capped(check_int(jobs, "jobs", 1), n_tasks)
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)


def check_executor_options(jobs: int | None, kind: str, scheduler: str | None) -> None:
    """``ValueError`` naming the option when ``--jobs``, ``--executor`` and ``--scheduler``
    do not go together (the checks of :func:`make_executor`, before any work)."""
    if kind not in KINDS:
        raise ValueError(f"--executor must be local or dask; got {kind!r}")
    if jobs is not None and (not is_int(jobs) or jobs < 1):
        raise ValueError(f"--jobs must be an integer >= 1; got {jobs!r}")
    if scheduler is not None and kind != "dask":
        raise ValueError(f"--scheduler needs --executor dask; got --executor {kind}")
    if kind == "dask" and scheduler is not None and jobs is not None:
        raise ValueError(
            f"--jobs sizes a local cluster; the cluster at --scheduler {scheduler} has its "
            f"own workers; got --jobs {jobs}"
        )


def make_executor(
    jobs: int | None = None,
    kind: str = "local",
    scheduler: str | None = None,
    n_tasks: int | None = None,
    warm_up: tuple[Callable[[], None], ...] = (),
) -> Executor:
    """The executor the command-line options ask for (``--jobs``, ``--executor``, ``--scheduler``).

    ``jobs=None``: one worker per core; ``1`` (local): in this process, no pool. No
    more workers are started than the ``n_tasks`` there are to run, when that is known; local
    workers run the ``warm_up`` callables as they start.
    """
    check_executor_options(jobs, kind, scheduler)
    if kind == "dask":
        from forecast.execution.dask_cluster import DaskExecutor  # Dask is an optional extra

        if scheduler is None:
            jobs = capped(available_cores() if jobs is None else jobs, n_tasks)
        return DaskExecutor(scheduler, workers=jobs)
    jobs = capped(available_cores() if jobs is None else jobs, n_tasks)
    return SerialExecutor() if jobs == 1 else ProcessExecutor(jobs, warm_up=warm_up)


def capped(jobs: int, n_tasks: int | None) -> int:
    """``jobs``, but no more than ``n_tasks`` (and at least 1) when that is known."""
    return jobs if n_tasks is None else max(1, min(jobs, n_tasks))
