"""An artifact store that lists versions in name order instead of creation order.

Breaks ART-073 (``versions()`` is oldest first), and with it the core's resolution of a bare
name to the newest version (ART-060), which reads ``versions()``. Otherwise it is the reference
fsspec store.
"""

from __future__ import annotations

from interlock import FALLBACK_PRIORITY, ArtifactStore, hookimpl
from interlock_fsstore.store import FsspecArtifactStore


class NameOrderStore(FsspecArtifactStore):
    name = "nameorder"
    priority = FALLBACK_PRIORITY - 1
    description = "fsspec store listing versions by name (deliberately broken)"

    def versions(self, name: str) -> list[str]:
        return sorted(super().versions(name))


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    return [NameOrderStore]
