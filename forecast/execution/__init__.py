"""Execution: where tasks run (this process, local worker processes, a Dask cluster).

Owns the executor interface and the serial executor (:mod:`~forecast.execution.base`), the
local process pool (:mod:`~forecast.execution.process_pool`), the Dask executor
(:mod:`~forecast.execution.dask_cluster`), the one place that sizes them
(:mod:`~forecast.execution.sizing`) and progress lines (:mod:`~forecast.execution.progress`).

May import: ``forecast.errors``, ``forecast.checks``, ``forecast.version``. It runs callables
it is given and knows nothing about what they compute.
"""
