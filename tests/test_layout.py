"""The package's layout: what importing one room pulls in, and what each room says it owns.

The import rules themselves are import-linter contracts in ``pyproject.toml``, checked by
``lint-imports`` in CI; these tests check what a user sees at run time.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import forecast

ROOMS = [
    m.name
    for m in pkgutil.iter_modules(forecast.__path__, "forecast.")
    if m.ispkg and not m.name.split(".")[-1].startswith("_")
]


def _modules_after(statement: str) -> list[str]:
    code = f"{statement}; import sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_importing_the_models_loads_no_data_engine_store_service_or_report_module():
    loaded = [m for m in _modules_after("import forecast.models") if m.startswith("forecast")]
    banned = ("data", "walkforward", "store", "service", "report", "job", "workflows")
    assert [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in banned] == []
    assert "forecast.models.registry" in loaded


def test_the_service_never_imports_torch_or_the_models():
    loaded = _modules_after("import forecast.service.app")
    assert "torch" not in loaded
    assert not [m for m in loaded if m.startswith(("forecast.models", "forecast.walkforward"))]


def test_importing_the_package_face_loads_no_room():
    loaded = [m for m in _modules_after("import forecast") if m.startswith("forecast.")]
    assert sorted(loaded) == ["forecast.errors", "forecast.version"]


def test_the_public_names_resolve_and_backtest_is_the_function():
    for name in forecast.__all__:
        assert getattr(forecast, name) is not None, name
    assert callable(forecast.backtest) and forecast.backtest.__name__ == "backtest"
    assert forecast.models.get_model("naive").name == "naive"


@pytest.mark.parametrize("room", ROOMS)
def test_every_room_says_what_it_owns_and_what_it_may_import(room):
    doc = importlib.import_module(room).__doc__ or ""
    assert len(doc.split()) >= 20, f"{room} has no docstring saying what it owns"
    assert "import" in doc, f"{room}'s docstring does not say what it may import"
