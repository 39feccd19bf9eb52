"""Volatility models: forecasts of the variance of daily log returns, and their targets.

This folder owns the variance proxies and h-day realised-variance targets
(:mod:`.realized`), the volatility-model protocol (:mod:`.base`), the models, Value-at-Risk
from a variance forecast (:mod:`.value_at_risk`) and thin wrappers over the one model file
format (:mod:`.files`). It imports :mod:`forecast.errors`, the registry, the file format and
:mod:`forecast.models.networks` (the nets' building blocks); torch only inside the nets'
methods.

>>> from forecast.models.volatility import get_volatility_model
>>> get_volatility_model("ewma", decay=0.97)
EWMAVolatility(decay=0.97)
"""

from __future__ import annotations

from forecast.models.registry import (
    VOLATILITY_MODELS,
    available_volatility_models,
    get_volatility_model,
)
from forecast.models.volatility.base import BaseVolatilityModel
from forecast.models.volatility.baselines import EWMAVolatility, NaiveVolatility
from forecast.models.volatility.garch import GARCHVolatility, GJRVolatility
from forecast.models.volatility.har import HARVolatility
from forecast.models.volatility.msrv import MSRVolatility

#: the econometric models, in registry order (the walk-forward benchmark runs these)
ECONOMETRIC_MODELS = ("naive", "ewma", "garch", "gjr", "har", "msrv")

__all__ = [
    "ECONOMETRIC_MODELS",
    "VOLATILITY_MODELS",
    "BaseVolatilityModel",
    "EWMAVolatility",
    "GARCHVolatility",
    "GJRVolatility",
    "HARVolatility",
    "MSRVolatility",
    "NaiveVolatility",
    "available_volatility_models",
    "get_volatility_model",
]
