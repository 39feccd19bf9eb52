"""Evaluation: statistics of forecasts, as pure functions of arrays and of the long table.

Owns the error metrics and the per-model significance tests (:mod:`~forecast.evaluation.metrics`),
the conformal prediction intervals calibrated on past errors
(:mod:`~forecast.evaluation.conformal`), the verdicts that survive testing many models
(:mod:`~forecast.evaluation.verdicts` on :mod:`~forecast.evaluation.nested`: Clark-West, R²_OS,
and :mod:`~forecast.evaluation.bootstrap`: MCS, SPA, StepM from ``arch``) and the economic value
of forecasts (:mod:`~forecast.evaluation.economics` on :mod:`~forecast.evaluation.trading` and
:mod:`~forecast.evaluation.overfitting`: trading rules after costs, the deflated Sharpe ratio,
the PBO).

May import: ``forecast.errors``, ``forecast.checks``. It imports no model, engine, store or
report: everything it computes is a function of the numbers it is given.
"""
