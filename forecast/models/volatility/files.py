"""Model files of the volatility models: the one model file format, for another registry.

The manifest is the one :mod:`forecast.models.saving` writes (JSON, every fitted attribute,
arrays as raw little-endian bytes, a ``state_dict`` file with its sha256 for the nets, no
pickle) with one more key, ``"target": "volatility"``, that names the registry the model
comes from (``naive``, ``lstm`` and ``gru`` exist in both). These wrappers only insist on
that target when loading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from forecast.models.loading import load_model, model_from_files
from forecast.models.saving import model_files, save_model
from forecast.models.volatility.base import BaseVolatilityModel

TARGET = "volatility"


def save_volatility_model(model: BaseVolatilityModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (a ``.json`` file) and, for a net, its weights next to it."""
    return save_model(model, path)


def load_volatility_model(path: str | os.PathLike[str]) -> BaseVolatilityModel:
    """Load a volatility model written by ``model.save(path)``; ``ModelFileError`` if the
    file is missing, corrupt, of another format or target, or names an unknown model."""
    return load_model(path, target=TARGET)


def volatility_model_files(
    model: BaseVolatilityModel, name: str = "model.json"
) -> dict[str, bytes]:
    """The files holding a fitted model, by file name: weights first, then the manifest."""
    return model_files(model, name)


def volatility_model_from_files(
    files: Mapping[str, bytes], name: str = "model.json", location: str = ""
) -> BaseVolatilityModel:
    """The model held by ``files`` (as :func:`volatility_model_files` returns them)."""
    return model_from_files(files, name, location, target=TARGET)
