"""Workflows: one library function per user task that runs a backtest end to end.

Owns ``run_backtest`` (:mod:`~forecast.workflows.backtest`, what ``forecast backtest`` runs:
resolve the series, build the models, run, write the run folder and the report) and the
comparison pipeline (:mod:`~forecast.workflows.compare`: ``CompareConfig``, ``run_compare``),
which is ``run_backtest`` on a config file's series and models (and, with a ``[volatility]``
table, :mod:`~forecast.workflows.volatility`'s ``run_volatility_backtest``, which is also
``forecast backtest --target volatility``), and the cross-sectional backtest
(:mod:`~forecast.workflows.cross_section`: ``run_cross_section``, what ``forecast backtest
--cross-section`` runs), with what covariate runs and universes load besides the prices
(:mod:`~forecast.workflows.inputs`; where a plan's series come from:
:mod:`~forecast.workflows.sources`). The command line and the Python API call these; they do
not re-assemble them.

May import: ``forecast.report``, ``forecast.walkforward``, ``forecast.models``,
``forecast.execution``, ``forecast.data`` and the bottom modules.
"""
