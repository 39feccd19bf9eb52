"""The Dask executor: the same tasks on the workers of a Dask distributed cluster.

Dask is an optional extra (``pip install "forecast[dask]"``), imported only when a batch
starts. See :mod:`forecast.execution` for the interface and the guarantees.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Hashable

from forecast.checks import check_int
from forecast.execution.base import (
    Batch,
    Executor,
    ExecutorError,
    Outcome,
    available_cores,
    run_task,
)

log = logging.getLogger(__name__)


class DaskExecutor(Executor):
    """The workers of a Dask distributed cluster (``pip install "forecast[dask]"``).

    Parameters
    ----------
    scheduler
        The scheduler's address, e.g. ``tcp://10.0.0.5:8786``. ``None``: a local cluster of
        ``workers`` processes with one thread each, started and stopped with the batch (or
        with the ``with executor:`` block, kept for all its batches).
    workers
        Worker processes of the local cluster (default: one per core); not with ``scheduler``.
    timeout
        Seconds to wait for the scheduler to answer, and for the cluster to shut down.

    Start cluster workers with one thread each (``dask worker ADDRESS --nthreads 1
    --nworkers N``): a worker process runs one of these tasks at a time whatever its thread
    count. Every worker needs the same version of ``forecast``; the prices are sent with the
    tasks (workers read no files and use no network), and only the driver writes results.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None, timeout=30.0):
        if scheduler is not None and workers is not None:
            raise ValueError(
                f"workers sizes a local cluster; a cluster at a scheduler address has its own "
                f"workers; got scheduler={scheduler!r} and workers={workers!r}"
            )
        if workers is not None:
            check_int(workers, "workers", 1)
        self.scheduler, self.timeout = scheduler, float(timeout)
        self.workers = int(workers) if workers is not None else available_cores()
        self._connection = None  # (distributed, client, cluster) between __enter__ and __exit__

    def start(self, ordered: bool = False) -> Batch:
        if self._connection is not None:  # the executor's open cluster: kept after the batch
            return _DaskBatch(*self._connection, self.timeout, ordered, own=False)
        return _DaskBatch(*self._connect(), self.timeout, ordered)

    def __enter__(self) -> DaskExecutor:
        if self._connection is None:
            self._connection = self._connect()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            _close(*connection[1:], self.timeout)

    def _connect(self):
        """Dask's module, a client, and the local cluster started for it (or ``None``)."""
        distributed = _import_distributed()
        cluster = None
        if self.scheduler is None:
            cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            address = cluster.scheduler_address
        else:
            address = self.scheduler
        try:
            client = distributed.Client(address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close(timeout=self.timeout)
            raise ExecutorError(
                f"--scheduler: no Dask scheduler answered at {address!r} within "
                f"{self.timeout:g} s ({type(exc).__name__}: {exc})"
            ) from None
        try:
            _check_workers(client)
        except BaseException:
            _close(client, cluster, self.timeout)
            raise
        return distributed, client, cluster

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        return f"a local Dask cluster of {self.workers} worker{'s' * (self.workers != 1)}"

    def __repr__(self) -> str:
        if self.scheduler is not None:
            return f"DaskExecutor(scheduler={self.scheduler!r})"
        return f"DaskExecutor(workers={self.workers})"


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ExecutorError(
            f"--executor dask needs Dask's distributed scheduler: pip install "
            f"'forecast[dask]' ({exc})"
        ) from None
    return distributed


def _worker_version() -> str:
    from forecast.version import __version__

    return __version__


def _check_workers(client) -> None:
    """Every worker must import the same ``forecast`` as the driver."""
    from forecast.version import __version__

    try:
        versions = client.run(_worker_version)
    except Exception as exc:
        raise ExecutorError(
            f"the Dask workers cannot run forecast ({type(exc).__name__}: {exc}); install "
            f"forecast {__version__} on every worker"
        ) from None
    if not versions:
        log.warning("the Dask cluster has no workers yet; tasks wait until one joins")
    other = {w: v for w, v in versions.items() if v != __version__}
    if other:
        raise ExecutorError(
            f"Dask workers run another forecast version than this driver ({__version__}): "
            + ", ".join(f"{w} has {v}" for w, v in sorted(other.items()))
        )


class _DaskBatch(Batch):
    """Tasks on a client; ``own``: the batch made the client (and cluster) and closes them."""

    def __init__(self, distributed, client, cluster, timeout: float, ordered: bool, own=True):
        super().__init__(ordered)
        self._client, self._cluster, self._timeout, self._own = client, cluster, timeout, own
        self._futures = distributed.as_completed(loop=client.loop)
        self._keys: dict[str, Hashable] = {}
        self._prefix, self._count = f"forecast-{uuid.uuid4().hex[:8]}", itertools.count()

    def _submit(self, key, function, args):
        name = f"{self._prefix}-{next(self._count)}"
        # a failing task returns its error (so it is not retried); a dead worker's task is
        # rerun by the scheduler (allowed-failures), then fails with KilledWorker
        future = self._client.submit(run_task, function, *args, key=name, pure=False)
        self._keys[name] = key
        self._futures.add(future)

    def _poll(self, wait):
        out = []
        if self._futures.is_empty():
            return out
        for future in self._futures.next_batch(block=wait):
            key = self._keys.pop(future.key)
            if future.status == "finished":
                out.append(Outcome(key, *future.result()))
            elif future.status == "error":
                error = future.exception()
                out.append(Outcome(key, error=f"{type(error).__name__}: {error}"))
            else:
                out.append(Outcome(key, error=f"Cancelled: the task was {future.status}"))
            future.release()
        return out

    def close(self, cancel=False):
        if cancel:
            self._client.cancel(list(self._futures.futures), force=True)
        if self._own:
            _close(self._client, self._cluster, self._timeout)


def _close(client, cluster, timeout: float) -> None:
    try:
        client.close(timeout=timeout)
    finally:
        if cluster is not None:
            cluster.close(timeout=timeout)
