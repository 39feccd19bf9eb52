"""Evaluation: statistics of forecasts, as pure functions of arrays and of the long table.

Owns the error metrics and the per-model significance tests (:mod:`~forecast.evaluation.metrics`)
and the conformal prediction intervals calibrated on past errors
(:mod:`~forecast.evaluation.conformal`); among the others, the scores of variance forecasts
and VaR backtests (:mod:`~forecast.evaluation.volatility`, :mod:`~forecast.evaluation.coverage`)
and the model confidence set of volatility models (:mod:`~forecast.evaluation.volatility_verdicts`).

May import: ``forecast.errors``, ``forecast.checks``. It imports no model, engine, store or
report: everything it computes is a function of the numbers it is given.
"""
