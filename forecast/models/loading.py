"""Loading model files written by :mod:`forecast.models.saving`, trusting nothing in them.

Loading checks the format and its version, the model name against the registry, the
parameter names against the model's, every fitted attribute's name, dtype and byte count, and
the weights file's sha256 *before* the model reads it with
``torch.load(..., weights_only=True, map_location="cpu")``. Each refusal is a
:class:`~forecast.errors.ModelFileError` naming the file. :func:`model_from_files` works on
``{file name: bytes}``, :func:`load_model` on a path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from forecast.errors import ModelFileError
from forecast.models.base import BaseForecaster
from forecast.models.registry import TARGETS
from forecast.models.saving import (
    ATTRIBUTE_NAME,
    DTYPES,
    FORMAT,
    FORMAT_VERSION,
    MAX_FILE_BYTES,
    WEIGHTS_SUFFIX,
)


def load_model(path: str | os.PathLike[str], target: str | None = None) -> BaseForecaster:
    """Load a model written by ``model.save(path)``.

    Parameters
    ----------
    path
        The ``.json`` manifest; a neural model's weights file must sit next to it.
    target
        Refuse a file of another target (``"price"``, ``"volatility"``); default: either.

    Returns
    -------
    BaseForecaster
        The fitted model, ready to ``predict`` (a volatility model for a volatility file).

    Raises
    ------
    ModelFileError
        The file is missing, not a model file, truncated, of another format version, names
        an unknown model, or its weights are missing, altered or of the wrong shapes.
    """
    path = Path(path)
    if path.suffix != ".json":
        raise ModelFileError(f"{path}: a model file is a .json manifest; got {path.suffix!r}")
    return _from_manifest(
        _read_file(path),
        path.name,
        lambda name: _read_file(path.parent / name),
        path.parent,
        target,
    )


def model_from_files(
    files: Mapping[str, bytes],
    name: str = "model.json",
    location: str = "",
    target: str | None = None,
) -> BaseForecaster:
    """The model held by ``files`` (as :func:`model_files` returns them).

    ``location`` (a folder) prefixes the file names in error messages.
    """

    def read(file_name: str) -> bytes:
        if file_name not in files:
            raise ModelFileError(f"{_where(location, file_name)}: missing")
        return files[file_name]

    return _from_manifest(read(name), name, read, location, target)


# ---- loading ----------------------------------------------------------------------------
def _from_manifest(
    raw: bytes,
    name: str,
    read: Callable[[str], bytes],
    location: str | os.PathLike[str],
    target: str | None = None,
) -> BaseForecaster:
    source = _where(location, name)
    manifest = _parse_manifest(raw, source)
    found = manifest.get("target", "price")
    if target is not None and found != target:
        raise ModelFileError(
            f"{source}: not a {target} model file (target {found!r}, expected {target!r}); "
            f"load it with forecast.load_model"
        )
    model = _build(manifest, source)
    for attr, value in manifest["fitted"].items():
        if not ATTRIBUTE_NAME.fullmatch(attr) or hasattr(type(model), attr):
            raise ModelFileError(f"{source}: {attr!r} is not a fitted attribute name")
        if attr in model._weights_attributes:
            raise ModelFileError(f"{source}: {attr!r} belongs in the weights file")
        setattr(model, attr, _decode(value, f"{source}: fitted attribute {attr}"))
    weights = manifest["weights"]
    if weights is None and model._weights_attributes:
        raise ModelFileError(f"{source}: names no weights file; a {model.name} model needs one")
    if weights is not None:
        weights_name, sha256 = _weights_entry(weights, source)
        weights_source = _where(location, weights_name)
        data = read(weights_name)
        found = hashlib.sha256(data).hexdigest()
        if found != sha256:  # checked before anything reads the content
            raise ModelFileError(
                f"{weights_source}: sha256 {found[:16]}... is not the {sha256[:16]}... "
                f"recorded in {source} (truncated, corrupt or replaced)"
            )
        try:
            model._restore_weights(data, weights_source)
        except ModelFileError:
            raise
        except (ValueError, TypeError) as exc:  # parameters that the model refuses
            raise ModelFileError(f"{source}: invalid parameters: {exc}") from exc
    if not hasattr(model, model.fitted_marker):
        raise ModelFileError(f"{source}: holds no fitted model (no {model.fitted_marker})")
    return model


def _parse_manifest(raw: bytes, source: str) -> dict:
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(
            f"{source}: not a readable model file (invalid JSON, perhaps truncated): {exc}"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f'{source}: not a forecast model file (no "format": "{FORMAT}")')
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{source}: format version {version!r} is not supported; this version of "
            f"forecast reads format version {FORMAT_VERSION}"
        )
    for key, kind in (("model", str), ("params", dict), ("fitted", dict)):
        if not isinstance(manifest.get(key), kind):
            raise ModelFileError(f"{source}: {key!r} must be a {kind.__name__}")
    if manifest.get("weights") is not None and not isinstance(manifest["weights"], dict):
        raise ModelFileError(f"{source}: 'weights' must be an object or null")
    manifest.setdefault("weights", None)
    return manifest


def _build(manifest: dict, source: str) -> BaseForecaster:
    name, target = manifest["model"], manifest.get("target", "price")
    if target not in TARGETS:
        raise ModelFileError(
            f"{source}: unknown target {target!r}; valid targets: {', '.join(TARGETS)}"
        )
    registry = TARGETS[target]
    if name not in registry:
        kind = "model" if target == "price" else f"{target} model"
        raise ModelFileError(
            f"{source}: unknown {kind} {name!r}; valid {kind}s: {', '.join(registry)}"
        )
    cls = registry[name]
    params = {k: _decode(v, f"{source}: parameter {k}") for k, v in manifest["params"].items()}
    expected = set(cls().get_params())
    if set(params) != expected:
        raise ModelFileError(
            f"{source}: parameters {sorted(params)} are not those of {name}: {sorted(expected)}"
        )
    return cls(**params)


def _weights_entry(weights: dict, source: str) -> tuple[str, str]:
    name, sha256 = weights.get("file"), weights.get("sha256")
    plain = isinstance(name, str) and Path(name).name == name and not name.startswith(".")
    if not plain or not name.endswith(WEIGHTS_SUFFIX):
        raise ModelFileError(
            f"{source}: the weights file must be a plain {WEIGHTS_SUFFIX} file name next to "
            f"it; got {name!r}"
        )
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ModelFileError(f"{source}: the weights sha256 must be 64 hex digits; got {sha256!r}")
    return name, sha256


def _decode(value: object, where: str) -> object:
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value  # JSON null, booleans, numbers and strings
    if "__ndarray__" in value:
        return _decode_array(value, where)
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise ModelFileError(f"{where}: {text!r} is not nan, inf or -inf")
        return float(text)
    return {k: _decode(v, where) for k, v in value.items()}


def _decode_array(value: dict, where: str) -> np.ndarray:
    dtype, shape = value.get("dtype"), value.get("shape")
    if dtype not in DTYPES:
        raise ModelFileError(f"{where}: array dtype {dtype!r} is not one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ModelFileError(f"{where}: array shape must be a list of integers >= 0; got {shape!r}")
    try:
        data = base64.b64decode(value["__ndarray__"], validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: array data is not base64: {exc}") from exc
    kind = np.dtype(dtype).newbyteorder("<")
    expected = math.prod(shape) * kind.itemsize
    if len(data) != expected:
        raise ModelFileError(
            f"{where}: {len(data)} bytes do not make an array of shape {shape} and dtype "
            f"{dtype} ({expected} bytes)"
        )
    return np.frombuffer(data, dtype=kind).reshape(shape).astype(np.dtype(dtype))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# ---- files --------------------------------------------------------------------------------
def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ModelFileError(f"{path}: not a regular file")
        if size > MAX_FILE_BYTES:
            raise ModelFileError(f"{path}: {size} bytes; the limit is {MAX_FILE_BYTES}")
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def _where(location: str | os.PathLike[str], name: str) -> str:
    return os.path.join(location, name) if str(location) else name
