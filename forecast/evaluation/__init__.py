"""Evaluation: statistics of forecasts, as pure functions of arrays and of the long table.

Owns the error metrics and the per-model tests (:mod:`~forecast.evaluation.metrics`), the conformal
prediction intervals calibrated on past errors, unscaled or scaled by a volatility forecast given to
them (:mod:`~forecast.evaluation.conformal`) and the tests of their coverage
(:mod:`~forecast.evaluation.coverage`: Kupiec, Christoffersen); the verdicts that survive testing
many models (:mod:`~forecast.evaluation.verdicts` on :mod:`~forecast.evaluation.nested`: Clark-West,
R²_OS, and :mod:`~forecast.evaluation.bootstrap`: MCS, SPA, StepM from ``arch``); economic value
(:mod:`~forecast.evaluation.trading`, :mod:`~forecast.evaluation.economics`,
:mod:`~forecast.evaluation.overfitting`: trading rules with costs, the deflated Sharpe ratio, PBO);
the cross-sectional scores of a universe's forecasts (:mod:`~forecast.evaluation.ranking`: rank IC,
Newey-West t, the long-short book after costs) and the tests of one model against another
(:mod:`~forecast.evaluation.comparisons`: do covariates help, does the global net beat the
per-series net); volatility scores (:mod:`~forecast.evaluation.volatility`: QLIKE, MSE, VaR
backtests, and :mod:`~forecast.evaluation.volatility_verdicts`: the model confidence set of
volatility models); and anytime-valid monitoring (:mod:`~forecast.evaluation.sequential`,
:mod:`~forecast.evaluation.monitoring`, :mod:`~forecast.evaluation.alerts`: confidence sequences for
the live scorecard).

May import: ``forecast.errors``, ``forecast.checks``. It imports no model, engine, store or
report: everything it computes is a function of the numbers it is given.
"""
