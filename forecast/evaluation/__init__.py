"""Statistics of forecasts: pure functions of arrays and of the long forecasts table.

Imports no model, engine, store or report (only numpy, pandas, scipy, statsmodels, arch and
:mod:`forecast.errors`).
"""
