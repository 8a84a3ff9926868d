"""Hook implementations of the ``interlock_mlflow`` plugin: the ``mlflow`` artifact store.

Imported whenever interlock loads plugins, so it imports nothing heavy: the store module
imports MLflow and fsspec only when a store is used.
"""

from __future__ import annotations

from interlock.artifacts import ArtifactStore
from interlock.plugins import hookimpl

from interlock_mlflow.store import MlflowArtifactStore


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    """The ``mlflow`` store, serving ``mlflow+sqlite``, ``mlflow+http`` and ``mlflow+https``."""
    return [MlflowArtifactStore]
