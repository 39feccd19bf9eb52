"""Saving and loading fitted models, without pickle.

A saved model is a JSON file (the manifest)::

    {"format": "forecast-model", "format_version": 1, "model": "ar",
     "params": {"max_lags": 10},
     "fitted": {"const_": 0.0003, "lags_": [1, 2],
                "coef_": {"__ndarray__": "<base64>", "dtype": "float64", "shape": [2]}, ...},
     "weights": null, "versions": {...}}

plus, for the neural models, a ``state_dict`` file next to it (the JSON name with suffix
``.pt``) whose name, size and sha256 the manifest records under ``"weights"``.

Loading trusts nothing in the files: it checks the format and its version, the model name
against the registry, the parameter names against the model's, every fitted attribute's
name, dtype and byte count, and the weights file's sha256 *before* the model reads it with
``torch.load(..., weights_only=True, map_location="cpu")``. Each refusal is a
:class:`~forecast.errors.ModelFileError` naming the file.

Floats are written as their shortest round-trip text and arrays as raw little-endian bytes,
so a loaded model forecasts bit for bit what the saved one did. :func:`model_files` and
:func:`model_from_files` work on ``{file name: bytes}`` for callers that keep the files
elsewhere (a versioned store); :func:`save_model` and :func:`load_model` on paths.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from forecast.errors import ModelFileError
from forecast.models import MODELS, available_models
from forecast.models.base import BaseForecaster

FORMAT = "forecast-model"
FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".pt"
#: the largest file read: far above any model here, small enough to refuse a wrong file
MAX_FILE_BYTES = 256 * 2**20
#: array dtypes a model file may hold (never ``object``, which would need pickle)
DTYPES = frozenset(
    ["bool", "float16", "float32", "float64"]
    + [f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)]
)
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]*_")


# ---- the public functions ------------------------------------------------------------------
def save_model(model: BaseForecaster, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (a ``.json`` file) and, for a neural model, its weights.

    Each file is written to a temporary name, synced and renamed into place; the weights go
    first, so a manifest on disk always has its weights. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path must end with .json; got {str(path)!r}")
    for name, data in model_files(model, path.name).items():
        _write_atomic(path.parent / name, data)
    return path


def load_model(path: str | os.PathLike[str]) -> BaseForecaster:
    """Load a model written by ``model.save(path)``.

    Parameters
    ----------
    path
        The ``.json`` manifest; a neural model's weights file must sit next to it.

    Returns
    -------
    BaseForecaster
        The fitted model, ready to ``predict``.

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
        _read_file(path), path.name, lambda name: _read_file(path.parent / name), path.parent
    )


def model_files(model: BaseForecaster, name: str = "model.json") -> dict[str, bytes]:
    """The files that hold a fitted model, by file name, weights first then the manifest.

    ``name`` is the manifest's file name; a neural model adds ``name`` with suffix ``.pt``.
    """
    if Path(name).name != name or not name.endswith(".json"):
        raise ValueError(f"name must be a plain file name ending in .json; got {name!r}")
    if not hasattr(model, "train_log_prices_"):
        raise RuntimeError(f"{model.name}: call fit(series) before save")
    if MODELS.get(model.name) is not type(model):
        raise ValueError(
            f"only registered models can be saved; {type(model).__name__} is not the class "
            f"registered as {model.name!r}"
        )
    fitted = {
        attr: _encode(value, f"fitted attribute {attr}")
        for attr, value in vars(model).items()
        if _ATTRIBUTE.fullmatch(attr) and attr not in model._weights_attributes
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "params": _encode(model.get_params(), "params"),
        "fitted": fitted,
        "weights": None,
        "versions": _versions(with_torch=bool(model._weights_attributes)),
    }
    files = {}
    weights = model._weights_bytes()
    if weights is not None:
        weights_name = str(Path(name).with_suffix(WEIGHTS_SUFFIX))
        files[weights_name] = weights
        manifest["weights"] = {
            "file": weights_name,
            "bytes": len(weights),
            "sha256": hashlib.sha256(weights).hexdigest(),
        }
    files[name] = (json.dumps(manifest, indent=1, allow_nan=False) + "\n").encode()
    return files


def model_from_files(
    files: Mapping[str, bytes], name: str = "model.json", location: str = ""
) -> BaseForecaster:
    """The model held by ``files`` (as :func:`model_files` returns them).

    ``location`` (a folder) prefixes the file names in error messages.
    """

    def read(file_name: str) -> bytes:
        if file_name not in files:
            raise ModelFileError(f"{_where(location, file_name)}: missing")
        return files[file_name]

    return _from_manifest(read(name), name, read, location)


# ---- loading ----------------------------------------------------------------------------
def _from_manifest(
    raw: bytes, name: str, read: Callable[[str], bytes], location: str | os.PathLike[str]
) -> BaseForecaster:
    source = _where(location, name)
    manifest = _parse_manifest(raw, source)
    model = _build(manifest, source)
    for attr, value in manifest["fitted"].items():
        if not _ATTRIBUTE.fullmatch(attr) or hasattr(type(model), attr):
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
    if not hasattr(model, "train_log_prices_"):
        raise ModelFileError(f"{source}: holds no fitted model (no train_log_prices_)")
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
    name = manifest["model"]
    if name not in MODELS:
        raise ModelFileError(
            f"{source}: unknown model {name!r}; valid models: {', '.join(available_models())}"
        )
    cls = MODELS[name]
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


# ---- JSON encoding of parameters and fitted attributes ------------------------------------
def _encode(value: object, what: str) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):  # numpy's float64 too
        value = float(value)
        return value if math.isfinite(value) else {"__float__": str(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.name not in DTYPES:
            raise TypeError(f"{what}: arrays of dtype {value.dtype} cannot be saved")
        data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
        return {
            "__ndarray__": base64.b64encode(data).decode("ascii"),
            "dtype": value.dtype.name,
            "shape": list(value.shape),
        }
    if isinstance(value, np.generic):
        return _encode(value.item(), what)
    if isinstance(value, list | tuple):
        return [_encode(v, what) for v in value]
    if isinstance(value, dict) and all(
        isinstance(k, str) and not k.startswith("__") for k in value
    ):
        return {k: _encode(v, f"{what}[{k!r}]") for k, v in value.items()}
    raise TypeError(f"{what}: a {type(value).__name__} cannot be saved as JSON")


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


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    finally:
        tmp.unlink(missing_ok=True)


def _where(location: str | os.PathLike[str], name: str) -> str:
    return os.path.join(location, name) if str(location) else name


def _versions(with_torch: bool) -> dict[str, str]:
    """The versions a model file records: torch only for the models whose weights it holds.

    Never whether torch happens to be imported: the same fit gives the same bytes in any
    process (a serial run and a worker process write identical files).
    """
    from forecast import __version__

    versions = {"forecast": __version__, "python": sys.version.split()[0]}
    versions["numpy"] = np.__version__
    if with_torch:  # a neural model: it has imported torch
        versions["torch"] = sys.modules["torch"].__version__
    return versions
