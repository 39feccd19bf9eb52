"""Evaluation: statistics of forecasts, as pure functions of arrays and of the long table.

Owns the error metrics and the per-model significance tests (:mod:`~forecast.evaluation.metrics`,
with the Kupiec and Christoffersen tests of interval misses from
:mod:`~forecast.evaluation.coverage`) and the conformal prediction intervals calibrated on past
errors, unscaled or scaled by a volatility forecast given to them
(:mod:`~forecast.evaluation.conformal`).

May import: ``forecast.errors``, ``forecast.checks``. It imports no model, engine, store or
report: everything it computes is a function of the numbers it is given.
"""
