"""Shared fixtures for interlock's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlock

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_interlock_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees no user plugin settings, no OpenLineage configuration from the
    environment (a CI machine that sets OPENLINEAGE_URL would get events from every test) and
    its own default store and cache."""
    for variable in list(os.environ):
        if variable.startswith(("INTERLOCK_", "OPENLINEAGE")):
            monkeypatch.delenv(variable)
    home = tmp_path_factory.mktemp("interlock-home")
    monkeypatch.setenv("INTERLOCK_STORE", str(home / "store"))
    monkeypatch.setenv("INTERLOCK_CACHE_DIR", str(home / "cache"))
    yield
    interlock.reset_registry()
