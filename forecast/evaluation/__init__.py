"""Evaluation: statistics of forecasts, as pure functions of arrays and of the long table.

Owns the error metrics and the per-model significance tests (:mod:`~forecast.evaluation.metrics`)
and the conformal prediction intervals calibrated on past errors
(:mod:`~forecast.evaluation.conformal`); the cross-sectional scores of a universe's forecasts
(:mod:`~forecast.evaluation.ranking`: rank IC, Newey-West t, the long-short book after costs)
and the tests of one model against another (:mod:`~forecast.evaluation.comparisons`: do
covariates help, does the global net beat the per-series net).

May import: ``forecast.errors``, ``forecast.checks``. It imports no model, engine, store or
report: everything it computes is a function of the numbers it is given.
"""
