"""The fixtures every conformance case may use; registered as a pytest plugin by the session.

``component`` itself is not here: the session parametrizes it directly, one value per component
of the kind the case targets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from interlock.plugins import PluginInfo

from interlock_conformance.vectors import VectorIndex, load_vector_index

if TYPE_CHECKING:
    from interlock_conformance.session import ConformanceSession

__all__ = ["SESSION", "conformance", "golden_store", "memory_root", "plugin_info", "vectors"]

#: Where the running session puts itself when it registers these fixtures (session.py).
SESSION: pytest.StashKey[ConformanceSession] = pytest.StashKey()


@pytest.fixture(scope="session")
def conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    """The running conformance session (a fixture every case may use)."""
    return request.config.stash[SESSION]


@pytest.fixture(scope="session")
def plugin_info(conformance: ConformanceSession) -> PluginInfo:
    """The plugin under test, as the registry loaded it."""
    return conformance.plugin


@pytest.fixture(scope="session")
def vectors() -> VectorIndex:
    """The golden vectors (``specs/v1/vectors``), checked against their checksums."""
    return load_vector_index()


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh ``memory://`` directory URI, removed after the case."""
    import uuid

    import fsspec

    path = f"/interlock-conformance/{uuid.uuid4().hex}"
    yield f"memory://{path}"
    fs = fsspec.filesystem("memory")
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture(scope="session")
def golden_store(vectors: VectorIndex, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local artifact store holding every golden model vector as ``NAME:1`` (its root)."""
    import onnx

    import interlock

    root = tmp_path_factory.mktemp("golden-store")
    for name in vectors.models:
        model = onnx.load_from_string(vectors.model_bytes(name))
        interlock.save_artifact(model, str(root), name=name, version="1")
    return str(root)
