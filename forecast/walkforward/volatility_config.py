"""Configured volatility models and the ``[volatility]`` tables of the pipeline configs.

``compare.toml`` and ``daily.toml`` may hold a ``[volatility]`` table whose
``[volatility.models.NAME]`` tables name volatility models (the registry of
:mod:`forecast.models.volatility`) and their parameters, checked like the price models'
(:func:`forecast.walkforward.configfile.parse_models`). Each pipeline reads its own other keys
and builds its settings from these pieces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from forecast.errors import ConfigError
from forecast.models.registry import available_volatility_models, get_volatility_model
from forecast.models.volatility.base import BaseVolatilityModel
from forecast.walkforward.configfile import _check_param
from forecast.walkforward.volatility_walk import PROXY_CHOICES


@dataclass(frozen=True)
class VolatilitySpec:
    """One configured volatility model: its registry name and the parameters set."""

    name: str
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def build(self, seed: int | None = None) -> BaseVolatilityModel:
        """A new, unfitted model; ``seed`` is set when the model has one and no table did."""
        params = dict(self.params)
        model = get_volatility_model(self.name)
        if seed is not None and "seed" in model.get_params() and "seed" not in params:
            params["seed"] = seed
        return model.set_params(**params) if params else model


def volatility_specs(
    names: Sequence[str], overrides: Mapping[str, object] | None = None
) -> tuple[VolatilitySpec, ...]:
    """Specs for registry ``names``, each ``overrides`` entry set on the models that have it
    (the command line's ``--epochs 5`` reaches the nets only)."""
    specs = []
    for name in dict.fromkeys(names):
        params = get_volatility_model(name).get_params()
        chosen = {k: v for k, v in (overrides or {}).items() if k in params}
        specs.append(VolatilitySpec(name, MappingProxyType(chosen)))
    return tuple(specs)


def parse_volatility_models(value: object, source: str, key: str = "volatility.models"):
    """The ``[volatility.models.NAME]`` tables, in file order, each parameter checked.

    Returns a tuple of :class:`VolatilitySpec`; an unknown model or parameter, a value of
    another type than the default's and a value the model refuses are errors naming the key.
    """
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"{source}: {key} must hold at least one table such as [{key}.garch]; got {value!r}"
        )
    valid = available_volatility_models()
    specs = []
    for name, params in value.items():
        where = f"{key}.{name}"
        if name not in valid:
            raise ConfigError(
                f"{source}: {where}: unknown volatility model {name!r}; valid volatility "
                f"models: {', '.join(valid)}"
            )
        if not isinstance(params, dict):
            raise ConfigError(f"{source}: {where} must be a table of parameters; got {params!r}")
        defaults = get_volatility_model(name).get_params()
        for param, val in params.items():
            if param not in defaults:
                raise ConfigError(
                    f"{source}: {where}.{param}: unknown parameter of {name}; valid: "
                    f"{', '.join(sorted(defaults)) or 'none'}"
                )
            _check_param(val, defaults[param], f"{where}.{param}", source)
        spec = VolatilitySpec(name, MappingProxyType(dict(params)))
        try:  # the model's own rules (ranges), before any work starts
            model = spec.build()
            model._check_params()
            model.min_train_size()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {where}: {exc}") from None
        specs.append(spec)
    return tuple(specs)


def parse_proxy(value: object, source: str, key: str = "volatility.proxy") -> str:
    """A target proxy name (:data:`~forecast.walkforward.volatility_walk.PROXY_CHOICES`)."""
    if value not in PROXY_CHOICES:
        raise ConfigError(
            f"{source}: {key} must be one of {', '.join(PROXY_CHOICES)}; got {value!r}"
        )
    return str(value)
