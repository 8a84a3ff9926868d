"""Entry point of the ``interlock_fsstore`` plugin: provides the ``fsspec`` artifact store."""

from __future__ import annotations

from interlock import ArtifactStore, hookimpl
from interlock_fsstore.store import FsspecArtifactStore


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    """The ``fsspec`` store, serving every protocol at fallback priority."""
    return [FsspecArtifactStore]
