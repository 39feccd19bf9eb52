"""What the pipeline config files (``compare.toml``, ``daily.toml``) share.

Reading TOML with errors that name the file, the ``[models.NAME]`` tables with their
parameters checked against each model's own, and the prediction-interval keys. Each
pipeline builds its frozen config dataclass from these pieces once, and passes it down.
"""

from __future__ import annotations

import numbers
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from forecast.checks import DEFAULT_LEVEL, check_int, check_level
from forecast.errors import ConfigError
from forecast.evaluation.conformal import (
    DEFAULT_CALIBRATION,
    DEFAULT_METHOD,
    DEFAULT_SCALE,
    DEFAULT_WINDOW,
    METHODS,
    MIN_ERRORS,
    SCALES,
    IntervalSettings,
)
from forecast.models import check_model_name, get_model
from forecast.models.base import BaseForecaster

#: where the shipped pipeline configs are: a source checkout's ``pipelines/``, and the copy a
#: wheel carries inside the package (``forecast/_pipelines``, see ``pyproject.toml``)
_PACKAGE = Path(__file__).resolve().parents[1]
_SHIPPED_DIRS = (_PACKAGE.parent / "pipelines", _PACKAGE / "_pipelines")


def default_config_path(name: str) -> Path:
    """The config ``name`` (``compare.toml``, ``daily.toml``) when none is given:
    ``pipelines/NAME`` in the working directory, else the copy shipped with the project."""
    candidates = [Path("pipelines") / name, *(d / name for d in _SHIPPED_DIRS)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no config given and no default config found at "
        f"{', '.join(str(c) for c in candidates)}; pass --config PATH"
    )


#: the keys :func:`parse_intervals` reads
INTERVAL_KEYS = ("intervals", "level", "calibration_size", "interval_window", "scale")


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; any failure is a :class:`ConfigError` naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def check_keys(raw: dict[str, Any], valid: set[str] | frozenset[str], source: str) -> None:
    """Refuse a key that is not in ``valid``, listing the valid ones."""
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(valid))}"
        )


def check_config_int(
    value: object, key: str, minimum: int, source: str, maximum: int | None = None
) -> None:
    """Refuse anything but an integer in ``minimum..maximum``, naming the file and the key."""
    try:
        check_int(value, key, minimum, maximum)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: its registry name and the parameters its table sets."""

    name: str
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def build(self, seed: int | None = None) -> BaseForecaster:
        """A new, unfitted model; ``seed`` is set when the model has one and no table did."""
        params = dict(self.params)
        model = get_model(self.name)
        if seed is not None and "seed" in model.get_params() and "seed" not in params:
            params["seed"] = seed
        return model.set_params(**params) if params else model


def parse_models(value: object, source: str) -> tuple[ModelSpec, ...]:
    """The ``[models.NAME]`` tables, in file order, each parameter checked.

    An unknown model or parameter, a value of another type than the parameter's default,
    and a value the model's own rules refuse are errors naming ``models.NAME.param``.
    """
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: models must be tables such as [models.ar]; got {value!r}")
    specs = []
    for name, params in value.items():
        key = f"models.{name}"
        try:
            check_model_name(name)  # a registered name, or NAME+x for a model with covariates
        except ValueError as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
        if not isinstance(params, dict):
            raise ConfigError(f"{source}: {key} must be a table of parameters; got {params!r}")
        defaults = get_model(name).get_params()
        defaults.pop("covariates", None)  # the name says it (NAME+x)
        for param, val in params.items():
            if param not in defaults:
                raise ConfigError(
                    f"{source}: {key}.{param}: unknown parameter of {name}; valid: "
                    f"{', '.join(sorted(defaults)) or 'none'}"
                )
            _check_param(val, defaults[param], f"{key}.{param}", source)
        spec = ModelSpec(name, MappingProxyType(dict(params)))
        try:  # the model's own rules (ranges), before any work starts
            spec.build().min_train_size()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None
        specs.append(spec)
    return tuple(specs)


def _check_param(value: object, default: object, key: str, source: str) -> None:
    """The value must have the default's type (an int is accepted for a float).

    ``None`` passes (TOML cannot write it; a config built in Python can, e.g. ``patience``
    None turns early stopping off) and is left to the model's own check.
    """
    if value is None:
        return
    if default is None or isinstance(default, str | tuple | list | dict):
        ok = not isinstance(default, str) or isinstance(value, str)
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, numbers.Integral):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif isinstance(default, numbers.Real):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    else:  # no type to compare with; the model checks the value when it fits
        ok = True
    if not ok:
        raise ConfigError(
            f"{source}: {key} must be of type {type(default).__name__} (default "
            f"{default!r}); got {value!r}"
        )


def parse_intervals(raw: dict[str, Any], source: str) -> IntervalSettings | None:
    """``intervals`` (aci, conformal, model or none), ``level``, ``calibration_size``,
    ``interval_window`` and ``scale`` (none, ewma or garch), checked; ``None`` for
    ``intervals = "none"``."""
    method = raw.get("intervals", DEFAULT_METHOD)
    if method == "none":
        extra = sorted(set(INTERVAL_KEYS[1:]) & set(raw))
        if extra:
            raise ConfigError(
                f"{source}: {extra[0]} has no effect with intervals = 'none'; remove one of them"
            )
        return None
    if not isinstance(method, str) or method not in METHODS:
        raise ConfigError(
            f"{source}: intervals must be one of {', '.join((*METHODS, 'none'))}; got {method!r}"
        )
    level = raw.get("level", DEFAULT_LEVEL)
    try:
        check_level(level, "level")
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    size = raw.get("calibration_size", DEFAULT_CALIBRATION)
    check_config_int(size, "calibration_size", 0, source)
    window = raw.get("interval_window", DEFAULT_WINDOW)
    check_config_int(window, "interval_window", MIN_ERRORS, source)
    scale = raw.get("scale", DEFAULT_SCALE)
    if not isinstance(scale, str) or scale not in SCALES:
        raise ConfigError(f"{source}: scale must be one of {', '.join(SCALES)}; got {scale!r}")
    return IntervalSettings(method, float(level), calibration_size=size, window=window, scale=scale)
