"""Volatility models: forecasts of the variance of daily log returns, and their targets.

This folder owns the variance proxies and h-day realised-variance targets
(:mod:`.realized`), the volatility-model protocol (:mod:`.base`), the models, Value-at-Risk
from a variance forecast (:mod:`.value_at_risk`) and their model files (:mod:`.files`). It
imports :mod:`forecast.errors`, :mod:`forecast.models.networks` (the nets' building blocks)
and, for the model files, :mod:`forecast.models.io`; torch only inside the nets' methods.

>>> from forecast.models.volatility import get_volatility_model
>>> get_volatility_model("ewma", decay=0.97)
EWMAVolatility(decay=0.97)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from forecast.models.volatility.base import BaseVolatilityModel
from forecast.models.volatility.baselines import EWMAVolatility, NaiveVolatility
from forecast.models.volatility.garch import GARCHVolatility, GJRVolatility
from forecast.models.volatility.har import HARVolatility
from forecast.models.volatility.msrv import MSRVolatility

#: the econometric models, in registry order (the walk-forward benchmark runs these)
ECONOMETRIC_MODELS = ("naive", "ewma", "garch", "gjr", "har", "msrv")

#: the nets import torch (slow): named as "module:Class" and imported on first use
_LAZY = {
    "lstm": "forecast.models.volatility.neural:LSTMVolatility",
    "gru": "forecast.models.volatility.neural:GRUVolatility",
}


class _Registry(Mapping[str, type[BaseVolatilityModel]]):
    """Name -> volatility model class, in registry order; ``"module:Class"`` loads lazily."""

    def __init__(self, entries: Mapping[str, type[BaseVolatilityModel] | str]):
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> type[BaseVolatilityModel]:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attr)
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


VOLATILITY_MODELS: Mapping[str, type[BaseVolatilityModel]] = _Registry(
    {
        **{
            cls.name: cls
            for cls in (
                NaiveVolatility,
                EWMAVolatility,
                GARCHVolatility,
                GJRVolatility,
                HARVolatility,
                MSRVolatility,
            )
        },
        **_LAZY,
    }
)


def available_volatility_models() -> list[str]:
    """Registered volatility model names in registry order."""
    return list(VOLATILITY_MODELS)


def get_volatility_model(name: str, **params: object) -> BaseVolatilityModel:
    """A new, unfitted volatility model by registry name, with keyword parameters."""
    try:
        cls = VOLATILITY_MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown volatility model {name!r}; valid volatility models: "
            f"{', '.join(available_volatility_models())}"
        ) from None
    return cls(**params)


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
