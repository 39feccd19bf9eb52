"""forecast: honest walk-forward stock-price forecasting against the random walk.

Public API::

    import forecast
    prices = forecast.load_prices("GSPC")                 # embedded, CSV path or ticker
    result = forecast.backtest(prices, ["naive", "ar"])    # walk-forward, no look-ahead
    result.metrics                                         # one row per series/model/horizon
"""

from forecast import models
from forecast.data import embedded_tickers, load_prices, series_hash, validate_ticker
from forecast.errors import ConfigError, DataError, ForecastError, ModelFileError, ModelFitError
from forecast.models import available_models, get_model
from forecast.models.io import load_model

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "ForecastError",
    "ModelFileError",
    "ModelFitError",
    "__version__",
    "available_models",
    "embedded_tickers",
    "get_model",
    "load_model",
    "load_prices",
    "models",
    "series_hash",
    "validate_ticker",
]
