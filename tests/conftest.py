"""Shared test set-up: no test may reach the network or the user's real cache."""

from __future__ import annotations

import pytest


def _isolate(mp: pytest.MonkeyPatch, cache: object, factory: pytest.TempPathFactory) -> None:
    mp.setenv("FORECAST_OFFLINE", "1")
    mp.setenv("FORECAST_CACHE_DIR", str(cache))
    mp.setenv("MPLBACKEND", "Agg")
    # the compiled recurrent loops: built once for the whole run (all workers and the
    # commands the tests start), not once per test's private cache
    mp.setenv("FORECAST_KERNEL_DIR", str(factory.getbasetemp().parent / "kernels"))


@pytest.fixture(scope="session", autouse=True)
def _offline_session(tmp_path_factory):
    """The same for the whole session, so that a module- or session-scoped fixture (set up
    before any test's own fixtures) is offline and isolated too."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory.mktemp("session-cache"), tmp_path_factory)
        yield


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch, tmp_path_factory):
    """Every test runs offline with a private cache folder, whatever the machine has."""
    _isolate(monkeypatch, tmp_path_factory.mktemp("cache"), tmp_path_factory)
