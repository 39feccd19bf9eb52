"""The model registry: names on the command line map to forecaster classes.

>>> from forecast.models import get_model
>>> get_model("ar", max_lags=5)
ARForecaster(max_lags=5)
"""

from __future__ import annotations

from forecast.models.ar import ARForecaster
from forecast.models.base import BaseForecaster
from forecast.models.baselines import DriftForecaster, NaiveForecaster
from forecast.models.markov import MarkovChainForecaster
from forecast.models.msar import MSARForecaster

MODELS: dict[str, type[BaseForecaster]] = {
    cls.name: cls
    for cls in (
        NaiveForecaster,
        DriftForecaster,
        ARForecaster,
        MarkovChainForecaster,
        MSARForecaster,
    )
}


def available_models() -> list[str]:
    """Registered model names in registry order."""
    return list(MODELS)


def get_model(name: str, **params: object) -> BaseForecaster:
    """A new, unfitted model by registry name, with keyword parameters."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid models: {', '.join(available_models())}"
        ) from None
    return cls(**params)


__all__ = [
    "MODELS",
    "ARForecaster",
    "BaseForecaster",
    "DriftForecaster",
    "MSARForecaster",
    "MarkovChainForecaster",
    "NaiveForecaster",
    "available_models",
    "get_model",
]
