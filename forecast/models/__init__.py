"""The model registry: names on the command line map to forecaster classes.

>>> from forecast.models import get_model
>>> get_model("ar", max_lags=5)
ARForecaster(max_lags=5)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

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


#: the neural models import torch (slow to import): named as "module:Class" and imported on
#: first use, so that ``import forecast`` and commands without them stay fast
_LAZY_MODELS = {
    "lecture_rnn": "forecast.models.lecture:LectureRNNForecaster",
    "lecture_rnn_direction": "forecast.models.lecture:LectureDirectionForecaster",
    "elman": "forecast.models.neural:ElmanForecaster",
    "rnn": "forecast.models.neural:RNNForecaster",
    "lstm": "forecast.models.neural:LSTMForecaster",
    "gru": "forecast.models.neural:GRUForecaster",
}


class _Registry(Mapping[str, type[BaseForecaster]]):
    """Name -> forecaster class, in registry order; ``"module:Class"`` entries load lazily."""

    def __init__(self, entries: Mapping[str, type[BaseForecaster] | str]):
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> type[BaseForecaster]:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attr)
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


MODELS = _Registry({**MODELS, **_LAZY_MODELS})


def __getattr__(name: str) -> type[BaseForecaster]:
    """``forecast.models.LSTMForecaster`` and the other lazy classes, imported on access."""
    for key, entry in _LAZY_MODELS.items():
        if entry.endswith(f":{name}"):
            return MODELS[key]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def available_models() -> list[str]:
    """Registered model names in registry order."""
    return list(MODELS)


def warm_up_model(name: str) -> None:
    """Import what model ``name`` needs to fit (torch for the nets): a worker's warm-up."""
    MODELS[name].warm_up()


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
    "warm_up_model",
]
