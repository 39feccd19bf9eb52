"""Saving fitted models without pickle: the model file format, written in one place.

A saved model is a JSON file (the manifest)::

    {"format": "forecast-model", "format_version": 1, "model": "ar",
     "params": {"max_lags": 10},
     "fitted": {"const_": 0.0003, "lags_": [1, 2],
                "coef_": {"__ndarray__": "<base64>", "dtype": "float64", "shape": [2]}, ...},
     "weights": null, "versions": {...}}

plus, for the neural models, a ``state_dict`` file next to it (the JSON name with suffix
``.pt``) whose name, size and sha256 the manifest records under ``"weights"``.

Floats are written as their shortest round-trip text and arrays as raw little-endian bytes,
so a loaded model forecasts bit for bit what the saved one did. :func:`model_files` works on
``{file name: bytes}`` for callers that keep the files elsewhere (a versioned store);
:func:`save_model` on paths. Reading them back, with every check, is
:mod:`forecast.models.loading`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from forecast.errors import ModelFileError
from forecast.models.registry import TARGETS
from forecast.version import __version__

if TYPE_CHECKING:
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


#: the fitted attributes a file may set: lower-case names ending in "_"
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]*_")


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


def model_files(model: BaseForecaster, name: str = "model.json") -> dict[str, bytes]:
    """The files that hold a fitted model, by file name, weights first then the manifest.

    ``name`` is the manifest's file name; a neural model adds ``name`` with suffix ``.pt``.
    """
    if Path(name).name != name or not name.endswith(".json"):
        raise ValueError(f"name must be a plain file name ending in .json; got {name!r}")
    if not hasattr(model, model.fitted_marker):
        raise RuntimeError(f"{model.name}: call fit(series) before save")
    target = model.target
    if TARGETS[target].get(model.name) is not type(model):
        kind = "models" if target == "price" else f"{target} models"
        raise ValueError(
            f"only registered {kind} can be saved; {type(model).__name__} is not the class "
            f"registered as {model.name!r}"
        )
    fitted = {
        attr: _encode(value, f"fitted attribute {attr}")
        for attr, value in vars(model).items()
        if ATTRIBUTE_NAME.fullmatch(attr) and attr not in model._weights_attributes
    }
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **({} if target == "price" else {"target": target}),  # price files: as they always were
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


def _versions(with_torch: bool) -> dict[str, str]:
    """The versions a model file records: torch only for the models whose weights it holds.

    Never whether torch happens to be imported: the same fit gives the same bytes in any
    process (a serial run and a worker process write identical files).
    """
    versions = {"forecast": __version__, "python": sys.version.split()[0]}
    versions["numpy"] = np.__version__
    if with_torch:  # a neural model: it has imported torch
        versions["torch"] = sys.modules["torch"].__version__
    return versions


class SavedModel:
    """What the model file format asks of a model class: the hooks :func:`model_files` and
    the loader call, with the defaults of a model that has no weights file.

    A neural model lists its torch modules in ``_weights_attributes`` and overrides
    ``_weights_bytes`` / ``_restore_weights``; ``target`` names its registry (``"price"`` or
    ``"volatility"``) and ``fitted_marker`` the attribute a fitted model always has.
    """

    name: ClassVar[str]
    _weights_attributes: ClassVar[tuple[str, ...]] = ()
    target: ClassVar[str] = "price"
    fitted_marker: ClassVar[str] = "train_log_prices_"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model to ``path``, a ``.json`` file; returns the path.

        The JSON file holds the model name, the parameters and every fitted attribute (the
        names ending in ``_``); a neural model adds its ``state_dict`` next to it (``path``
        with suffix ``.pt``), whose sha256 the JSON file records. No pickle. Read it back
        with :func:`forecast.load_model`.
        """
        return save_model(self, path)

    def _weights_bytes(self) -> bytes | None:
        """The content of the weights file, or ``None`` when the JSON file holds everything."""
        return None

    def _restore_weights(self, data: bytes, source: str) -> None:
        """Rebuild the ``_weights_attributes`` from the weights file's content."""
        raise ModelFileError(f"{source}: a {self.name} model has no weights file")
