"""Models: forecasters of daily prices behind one sklearn-style protocol.

Owns the protocol (:mod:`~forecast.models.base`; global models fitted on many series:
:mod:`~forecast.models.panel`), the registry of names (:mod:`~forecast.models.registry`;
``NAME+x`` reads past covariates), every model (baselines, Markov models, the nets, the global
nets and pooled ridge, the cross-sectional signals; what every net ensemble shares, its
training loop, seeds and weights file, is :mod:`~forecast.models.ensemble`) and the model file
format (:mod:`~forecast.models.saving`, :mod:`~forecast.models.loading`). Models see plain
data: they import nothing of the data, engine, store, service or report rooms, and only the
neural modules import torch. May import: ``forecast.errors``, ``forecast.checks``,
``forecast.version``.

>>> from forecast.models import get_model
>>> get_model("ar", max_lags=5)
ARForecaster(max_lags=5)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forecast.models.registry import (
    MODELS,
    available_models,
    check_model_name,
    get_model,
    warm_up_model,
)

if TYPE_CHECKING:
    from forecast.models.base import BaseForecaster


def __getattr__(name: str) -> type[BaseForecaster]:
    """``forecast.models.ARForecaster``, every other model class and ``BaseForecaster``,
    imported on access (the protocol pulls in scikit-learn: naming models needs none of it)."""
    if name == "BaseForecaster":
        from forecast.models.base import BaseForecaster

        return BaseForecaster
    for key in MODELS:
        if MODELS.entry(key).endswith(f":{name}"):
            return MODELS[key]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODELS",
    "BaseForecaster",
    "available_models",
    "check_model_name",
    "get_model",
    "warm_up_model",
]
