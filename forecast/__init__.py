"""forecast: honest walk-forward stock-price forecasting against the random walk.

Public API::

    import forecast
    prices = forecast.load_prices("GSPC")                 # embedded, CSV path or ticker
    result = forecast.backtest(prices, ["naive", "ar"])    # walk-forward, no look-ahead
    result.metrics                                         # one row per series/model/horizon
    forecast.write_report("runs/x")                        # after forecast.write_run(...)
    frame = forecast.load_price_frame("GSPC")              # open, high, low, close
    vol = forecast.backtest_volatility(frame, ["garch", "har"])  # variance and VaR forecasts

Every public name is imported on first use, so ``import forecast`` (and importing one room,
e.g. ``forecast.models``) loads only what it needs and never torch. The package is laid out
by role; see the README's "How the code is laid out".
"""

from importlib import import_module

from forecast.errors import ConfigError, DataError, ForecastError, ModelFileError, ModelFitError
from forecast.version import __version__

#: public names loaded on first use: name -> module
_LAZY = {
    "backtest": "forecast.walkforward.engine",
    "BacktestResult": "forecast.walkforward.engine",
    "load_prices": "forecast.data.loading",
    "embedded_tickers": "forecast.data.series",
    "series_hash": "forecast.data.series",
    "validate_ticker": "forecast.data.tickers",
    "IntervalSettings": "forecast.evaluation.conformal",
    "EconomicSettings": "forecast.evaluation.economics",
    "available_models": "forecast.models.registry",
    "get_model": "forecast.models.registry",
    "load_model": "forecast.models.loading",
    "write_run": "forecast.walkforward.runfiles",
    "read_run": "forecast.walkforward.runfiles",
    "write_report": "forecast.report",
    "BacktestPlan": "forecast.workflows.backtest",
    "run_backtest": "forecast.workflows.backtest",
    "model_specs": "forecast.workflows.backtest",
    "CompareConfig": "forecast.workflows.compare",
    "run_compare": "forecast.workflows.compare",
    "load_config": "forecast.job.config",
    "run_job": "forecast.job.runner",
    "scorecard": "forecast.store.scorecard",
    "load_price_frame": "forecast.data.ohlc",
    "backtest_volatility": "forecast.walkforward.volatility",
    "VolatilityResult": "forecast.walkforward.volatility",
    "write_volatility_run": "forecast.walkforward.volatility_files",
    "read_volatility_run": "forecast.walkforward.volatility_files",
    "available_volatility_models": "forecast.models.registry",
    "get_volatility_model": "forecast.models.registry",
    "VolatilityPlan": "forecast.workflows.volatility",
    "run_volatility_backtest": "forecast.workflows.volatility",
    "ProcessExecutor": "forecast.execution.process_pool",
    "DaskExecutor": "forecast.execution.dask_cluster",
    "load_universe": "forecast.data.universe",
    "build_covariates": "forecast.data.covariates",
    "cross_section_backtest": "forecast.walkforward.cross_section",
    "RankingSettings": "forecast.walkforward.cross_section",
    "run_cross_section": "forecast.workflows.cross_section",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # the next access is a plain attribute
        return value
    if name == "models":
        return import_module("forecast.models")
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ConfigError",
    "DataError",
    "ForecastError",
    "ModelFileError",
    "ModelFitError",
    "__version__",
    "models",
    *_LAZY,
]
