"""Walk-forward: the backtest engine and its run files.

Owns the settings (:mod:`~forecast.walkforward.config`), the inputs in one shape
(:mod:`~forecast.walkforward.inputs`: series and models by name, the random walk added as the
benchmark, here and nowhere else), the walk of one series (:mod:`~forecast.walkforward.walk`), the
walk of a global model over every series (:mod:`~forecast.walkforward.global_walk`), the
cross-sectional backtest and its files (:mod:`~forecast.walkforward.cross_section`), the volatility
scales of the conformal intervals (:mod:`~forecast.walkforward.scales`: EWMA and GARCH forecasts
made at each origin, once per series), the engine that runs the walks on an executor and scores them
(:mod:`~forecast.walkforward.engine`: ``backtest``; what its tasks and the volatility engine's
share, progress, failed tasks and the assembly of their parts, in
:mod:`~forecast.walkforward.tasks`), the run-level statistics it adds once per run
(:mod:`~forecast.walkforward.scoring`: the verdicts and the economic value), the run folder's files
(:mod:`~forecast.walkforward.runfiles`, the statistics tables' files in
:mod:`~forecast.walkforward.resultfiles`) and the pipeline config files' shared pieces
(:mod:`~forecast.walkforward.configfile`). The volatility backtest has the same parts, built
on those (settings checks, model names, tasks and run-file helpers):
:mod:`~forecast.walkforward.volatility` (``backtest_volatility``),
:mod:`~forecast.walkforward.volatility_walk`, :mod:`~forecast.walkforward.volatility_files` and
:mod:`~forecast.walkforward.volatility_config`.

May import: ``forecast.models`` (the protocol and the registry; the engine never imports a
concrete model), ``forecast.evaluation``, ``forecast.execution``, ``forecast.data`` and the
bottom modules. No store, service, report or command line.
"""
