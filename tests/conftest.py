"""Shared test set-up: no test may reach the network or the user's real cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch, tmp_path_factory):
    """Every test runs offline with a private cache folder, whatever the machine has."""
    monkeypatch.setenv("FORECAST_OFFLINE", "1")
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MPLBACKEND", "Agg")
