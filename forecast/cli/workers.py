"""``--jobs``, ``--executor`` and ``--scheduler``: where backtest, compare and run do their work."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from forecast.models.registry import available_models, split_model_name, warm_up_model

if TYPE_CHECKING:
    from forecast.execution.base import Executor


def add_worker_arguments(parser: argparse.ArgumentParser, unit: str, note: str = "") -> None:
    """Add the options that say where the work runs; ``unit`` names a task (e.g. "ticker")."""
    group = parser.add_argument_group("where the work runs")
    group.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help=f"worker processes, each computing one {unit} at a time (default: one per "
        f"core; 1: in this process{note}). With --executor dask: the workers of the local "
        "cluster",
    )
    group.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local worker processes (default), or a Dask cluster (pip install 'forecast[dask]')",
    )
    group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="the Dask scheduler to send the work to, e.g. tcp://10.0.0.5:8786 (needs "
        "--executor dask; without it: a local Dask cluster)",
    )


def check_worker_args(args: argparse.Namespace) -> None:
    """``ValueError`` naming the option when the worker options do not go together: called
    first, so that a bad option is reported before the library loads."""
    from forecast.execution.sizing import check_executor_options

    check_executor_options(args.jobs, args.executor, args.scheduler)


def executor_from_args(
    args: argparse.Namespace,
    n_tasks: int | None = None,
    jobs: int | None = None,
    models: Iterable[str] = (),
) -> Executor:
    """The executor the options ask for; ``jobs`` is the default when ``--jobs`` is absent.

    Local worker processes import the ``models`` (registry names) as they start, so that
    ``with executor:`` lets them do it while this process loads the data.

    Raises ``ValueError`` naming the option (``--jobs must be an integer >= 1; got 0``).
    """
    if args.jobs is not None:
        jobs = args.jobs
    elif args.scheduler is not None:  # a cluster has its own workers: a config's jobs is moot
        jobs = None
    from forecast.execution.sizing import make_executor

    # what the models need to fit (torch for the nets), never an unknown name
    known = [m for m in dict.fromkeys(models) if split_model_name(m)[0] in available_models()]
    warm_up = tuple(partial(warm_up_model, m) for m in known)
    return make_executor(jobs, args.executor, args.scheduler, n_tasks, warm_up)
