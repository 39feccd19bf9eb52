"""Model files of the volatility models: the price models' format, for another registry.

The manifest is the one :mod:`forecast.models.io` writes (JSON, every fitted attribute,
arrays as raw little-endian bytes, a ``state_dict`` file with its sha256 for the nets, no
pickle) with one more key, ``"target": "volatility"``, that names the registry the model
comes from (``naive``, ``lstm`` and ``gru`` exist in both). Loading checks everything
``io`` checks, plus the target.

This module reuses io's private encoders: once ``io.model_files`` / ``io._build`` take the
registry from the manifest's ``target`` (and the fitted marker from the class), these
functions become thin wrappers or disappear.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from forecast.errors import ModelFileError
from forecast.models import io as model_io
from forecast.models.volatility import VOLATILITY_MODELS, available_volatility_models
from forecast.models.volatility.base import BaseVolatilityModel

TARGET = "volatility"


def save_volatility_model(model: BaseVolatilityModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (a ``.json`` file) and, for a net, its weights next to it."""
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path must end with .json; got {str(path)!r}")
    for name, data in volatility_model_files(model, path.name).items():
        model_io._write_atomic(path.parent / name, data)
    return path


def load_volatility_model(path: str | os.PathLike[str]) -> BaseVolatilityModel:
    """Load a volatility model written by ``model.save(path)``; ``ModelFileError`` if the
    file is missing, corrupt, of another format or target, or names an unknown model."""
    path = Path(path)
    if path.suffix != ".json":
        raise ModelFileError(f"{path}: a model file is a .json manifest; got {path.suffix!r}")
    return _from_manifest(
        model_io._read_file(path),
        path.name,
        lambda name: model_io._read_file(path.parent / name),
        path.parent,
    )


def volatility_model_files(
    model: BaseVolatilityModel, name: str = "model.json"
) -> dict[str, bytes]:
    """The files holding a fitted model, by file name: weights first, then the manifest."""
    if Path(name).name != name or not name.endswith(".json"):
        raise ValueError(f"name must be a plain file name ending in .json; got {name!r}")
    if not hasattr(model, "n_train_"):
        raise RuntimeError(f"{model.name}: call fit(prices) before save")
    if VOLATILITY_MODELS.get(model.name) is not type(model):
        raise ValueError(
            f"only registered volatility models can be saved; {type(model).__name__} is not "
            f"the class registered as {model.name!r}"
        )
    fitted = {
        attr: model_io._encode(value, f"fitted attribute {attr}")
        for attr, value in vars(model).items()
        if model_io._ATTRIBUTE.fullmatch(attr) and attr not in model._weights_attributes
    }
    manifest = {
        "format": model_io.FORMAT,
        "format_version": model_io.FORMAT_VERSION,
        "target": TARGET,
        "model": model.name,
        "params": model_io._encode(model.get_params(), "params"),
        "fitted": fitted,
        "weights": None,
        "versions": model_io._versions(with_torch=bool(model._weights_attributes)),
    }
    files = {}
    weights = model._weights_bytes()
    if weights is not None:
        weights_name = str(Path(name).with_suffix(model_io.WEIGHTS_SUFFIX))
        files[weights_name] = weights
        manifest["weights"] = {
            "file": weights_name,
            "bytes": len(weights),
            "sha256": hashlib.sha256(weights).hexdigest(),
        }
    files[name] = (json.dumps(manifest, indent=1, allow_nan=False) + "\n").encode()
    return files


def volatility_model_from_files(
    files: Mapping[str, bytes], name: str = "model.json", location: str = ""
) -> BaseVolatilityModel:
    """The model held by ``files`` (as :func:`volatility_model_files` returns them)."""

    def read(file_name: str) -> bytes:
        if file_name not in files:
            raise ModelFileError(f"{model_io._where(location, file_name)}: missing")
        return files[file_name]

    return _from_manifest(read(name), name, read, location)


def _from_manifest(
    raw: bytes, name: str, read: Callable[[str], bytes], location: str | os.PathLike[str]
) -> BaseVolatilityModel:
    source = model_io._where(location, name)
    manifest = model_io._parse_manifest(raw, source)
    if manifest.get("target") != TARGET:
        raise ModelFileError(
            f"{source}: not a volatility model file (target {manifest.get('target')!r}, "
            f"expected {TARGET!r}); a price model loads with forecast.load_model"
        )
    model = _build(manifest, source)
    for attr, value in manifest["fitted"].items():
        if not model_io._ATTRIBUTE.fullmatch(attr) or hasattr(type(model), attr):
            raise ModelFileError(f"{source}: {attr!r} is not a fitted attribute name")
        if attr in model._weights_attributes:
            raise ModelFileError(f"{source}: {attr!r} belongs in the weights file")
        setattr(model, attr, model_io._decode(value, f"{source}: fitted attribute {attr}"))
    weights = manifest["weights"]
    if weights is None and model._weights_attributes:
        raise ModelFileError(f"{source}: names no weights file; a {model.name} model needs one")
    if weights is not None:
        weights_name, sha256 = model_io._weights_entry(weights, source)
        data = read(weights_name)
        found = hashlib.sha256(data).hexdigest()
        if found != sha256:  # checked before anything reads the content
            raise ModelFileError(
                f"{model_io._where(location, weights_name)}: sha256 {found[:16]}... is not "
                f"the {sha256[:16]}... recorded in {source} (truncated, corrupt or replaced)"
            )
        try:
            model._restore_weights(data, model_io._where(location, weights_name))
        except (ValueError, TypeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"{source}: invalid parameters: {exc}") from exc
    if not hasattr(model, "n_train_"):
        raise ModelFileError(f"{source}: holds no fitted model (no n_train_)")
    return model


def _build(manifest: dict, source: str) -> BaseVolatilityModel:
    name = manifest["model"]
    if name not in VOLATILITY_MODELS:
        raise ModelFileError(
            f"{source}: unknown volatility model {name!r}; valid volatility models: "
            f"{', '.join(available_volatility_models())}"
        )
    cls = VOLATILITY_MODELS[name]
    params = {
        k: model_io._decode(v, f"{source}: parameter {k}") for k, v in manifest["params"].items()
    }
    expected = set(cls().get_params())
    if set(params) != expected:
        raise ModelFileError(
            f"{source}: parameters {sorted(params)} are not those of {name}: {sorted(expected)}"
        )
    return cls(**params)
