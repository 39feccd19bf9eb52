"""Statistics of forecasts: pure functions of arrays and of the long forecasts table; imports
no model, engine, store or report."""
