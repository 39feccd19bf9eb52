"""The model registry: names on the command line map to forecaster classes.

Every entry is ``"module:Class"`` and is imported on first use, so that naming a model (the
command line's checks, the engine's inputs, the model file format) imports no model: the
baselines pull in statsmodels and the nets torch, which take seconds to import.

>>> get_model("ar", max_lags=5)
ARForecaster(max_lags=5)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forecast.models.base import BaseForecaster

#: name -> "module:Class", in the order reports and ``--help`` list them
_ENTRIES = {
    "naive": "forecast.models.baselines:NaiveForecaster",
    "drift": "forecast.models.baselines:DriftForecaster",
    "ar": "forecast.models.ar:ARForecaster",
    "markov": "forecast.models.markov:MarkovChainForecaster",
    "msar": "forecast.models.msar:MSARForecaster",
    # the cross-sectional test's ranking baselines (forecast.models.signals)
    "reversal": "forecast.models.signals:ReversalForecaster",
    "momentum": "forecast.models.signals:MomentumForecaster",
    "lecture_rnn": "forecast.models.lecture:LectureRNNForecaster",
    "lecture_rnn_direction": "forecast.models.lecture:LectureDirectionForecaster",
    "elman": "forecast.models.neural:ElmanForecaster",
    "rnn": "forecast.models.neural:RNNForecaster",
    "lstm": "forecast.models.neural:LSTMForecaster",
    "gru": "forecast.models.neural:GRUForecaster",
    # global models: one model fitted on every series of a run (forecast.models.panel)
    "global_ridge": "forecast.models.ridge:GlobalRidgeForecaster",
    "global_lecture_rnn": "forecast.models.global_nets:GlobalLectureRNNForecaster",
    "global_elman": "forecast.models.global_nets:GlobalElmanForecaster",
    "global_rnn": "forecast.models.global_nets:GlobalRNNForecaster",
    "global_lstm": "forecast.models.global_nets:GlobalLSTMForecaster",
    "global_gru": "forecast.models.global_nets:GlobalGRUForecaster",
}


class _Registry(Mapping[str, "type[BaseForecaster]"]):
    """Name -> forecaster class, in registry order; each class is imported on first access."""

    def __init__(self, entries: Mapping[str, str]):
        self._entries = dict(entries)
        self._classes: dict[str, type[BaseForecaster]] = {}

    def __getitem__(self, name: str) -> type[BaseForecaster]:
        if name not in self._classes:
            module, _, attr = self._entries[name].partition(":")
            self._classes[name] = getattr(importlib.import_module(module), attr)
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> str:
        """The ``"module:Class"`` of ``name`` (without importing it)."""
        return self._entries[name]


MODELS = _Registry(_ENTRIES)

#: volatility models (:mod:`forecast.models.volatility`): name -> "module:Class"
_VOLATILITY_ENTRIES = {
    "naive": "forecast.models.volatility.baselines:NaiveVolatility",
    "ewma": "forecast.models.volatility.baselines:EWMAVolatility",
    "garch": "forecast.models.volatility.garch:GARCHVolatility",
    "gjr": "forecast.models.volatility.garch:GJRVolatility",
    "har": "forecast.models.volatility.har:HARVolatility",
    "msrv": "forecast.models.volatility.msrv:MSRVolatility",
    "lstm": "forecast.models.volatility.neural:LSTMVolatility",
    "gru": "forecast.models.volatility.neural:GRUVolatility",
}
VOLATILITY_MODELS = _Registry(_VOLATILITY_ENTRIES)
#: what a model forecasts -> its registry (model files record the target; no key: prices)
TARGETS = {"price": MODELS, "volatility": VOLATILITY_MODELS}


#: the suffix of a model name that reads past covariates: ``ar+x`` is ARX, ``lstm+x`` an LSTM
#: with the covariates as extra input channels (the model's ``covariates=True``)
COVARIATE_SUFFIX = "+x"


def available_models() -> list[str]:
    """Registered model names in registry order."""
    return list(MODELS)


def is_global(name: str) -> bool:
    """Whether model ``name`` is fitted on every series of a run at once (``global_*``)."""
    return bool(MODELS[split_model_name(name)[0]].global_model)


def is_ranking_baseline(name: str) -> bool:
    """Whether model ``name`` is one of the cross-sectional signals (reversal, momentum)."""
    return MODELS.entry(split_model_name(name)[0]).startswith("forecast.models.signals:")


def split_model_name(name: str) -> tuple[str, bool]:
    """``("lstm", True)`` for ``"lstm+x"``; ``(name, False)`` without the suffix."""
    if name.endswith(COVARIATE_SUFFIX):
        return name[: -len(COVARIATE_SUFFIX)], True
    return name, False


def takes_covariates(name: str) -> bool:
    """Whether registered model ``name`` can read past covariates (a ``covariates`` parameter)."""
    import inspect

    base, _ = split_model_name(name)
    return "covariates" in inspect.signature(MODELS[base].__init__).parameters


def check_model_name(name: object) -> str:
    """The registered model name ``name`` spells in any case (``"LSTM+X"`` is ``"lstm+x"``;
    ``+x`` allowed where the model takes covariates), or ``ValueError`` listing the valid ones."""
    key = name.lower() if isinstance(name, str) else name
    base, with_x = split_model_name(key) if isinstance(key, str) else (key, False)
    if base not in _ENTRIES:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(available_models())}")
    if with_x and not takes_covariates(base):
        valid = [m for m in available_models() if takes_covariates(m)]
        raise ValueError(
            f"model {base!r} takes no covariates, so {name!r} is not a model; the models that "
            f"take them (with {COVARIATE_SUFFIX}): {', '.join(valid)}"
        )
    return str(key)


def check_volatility_model_name(name: object) -> str:
    """The registered volatility model name ``name`` spells in any case, or ``ValueError``
    listing the valid ones."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _VOLATILITY_ENTRIES:
        raise ValueError(
            f"unknown volatility model {name!r}; valid volatility models: "
            f"{', '.join(available_volatility_models())}"
        )
    return str(key)


def warm_up_model(name: str) -> None:
    """Import what model ``name`` needs to fit (torch for the nets): a worker's warm-up."""
    MODELS[split_model_name(name)[0]].warm_up()


def get_model(name: str, **params: object) -> BaseForecaster:
    """A new, unfitted model by registry name, with keyword parameters.

    ``NAME+x`` is ``NAME`` with ``covariates=True`` (see :data:`COVARIATE_SUFFIX`).
    """
    base, with_x = split_model_name(check_model_name(name))
    if with_x:
        params = {"covariates": True, **params}
    return MODELS[base](**params)


def available_volatility_models() -> list[str]:
    """Registered volatility model names in registry order."""
    return list(VOLATILITY_MODELS)


def get_volatility_model(name: str, **params: object):
    """A new, unfitted volatility model by registry name, with keyword parameters."""
    if name not in _VOLATILITY_ENTRIES:
        raise ValueError(
            f"unknown volatility model {name!r}; valid volatility models: "
            f"{', '.join(available_volatility_models())}"
        )
    return VOLATILITY_MODELS[name](**params)
