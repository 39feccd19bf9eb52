"""forecast: honest walk-forward stock-price forecasting against the random walk.

Public API::

    import forecast
    prices = forecast.load_prices("GSPC")                 # embedded, CSV path or ticker
    result = forecast.backtest(prices, ["naive", "ar"])    # walk-forward, no look-ahead
    result.metrics                                         # one row per series/model/horizon
    forecast.write_report("runs/x")                        # after forecast.write_run(...)

The heavier pieces (reports, the compare pipeline, the scheduled job) are imported on first
use, so ``import forecast`` stays light and never imports torch.
"""

from importlib import import_module

from forecast import models
from forecast.backtest import BacktestResult, backtest
from forecast.data import embedded_tickers, load_prices, series_hash, validate_ticker
from forecast.errors import ConfigError, DataError, ForecastError, ModelFileError, ModelFitError
from forecast.intervals import IntervalSettings
from forecast.models import available_models, get_model
from forecast.models.io import load_model

__version__ = "0.1.0"

#: public names loaded on first use: name -> module
_LAZY = {
    "write_run": "forecast.runfiles",
    "read_run": "forecast.runfiles",
    "write_report": "forecast.report",
    "CompareConfig": "forecast.compare",
    "run_compare": "forecast.compare",
    "load_config": "forecast.jobconfig",
    "run_job": "forecast.job",
    "scorecard": "forecast.scorecard",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")


__all__ = [
    "BacktestResult",
    "ConfigError",
    "DataError",
    "ForecastError",
    "IntervalSettings",
    "ModelFileError",
    "ModelFitError",
    "__version__",
    "available_models",
    "backtest",
    "embedded_tickers",
    "get_model",
    "load_model",
    "load_prices",
    "models",
    "series_hash",
    "validate_ticker",
    *_LAZY,
]
