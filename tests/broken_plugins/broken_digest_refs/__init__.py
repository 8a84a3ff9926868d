"""An artifact store that claims ``digest-refs`` but resolves ``name@sha256:...`` to the newest
version without comparing digests.

Breaks ART-060 (``NAME@sha256:<hex>`` resolves to the version with that manifest digest, and
to nothing else). Otherwise it is the reference fsspec store.
"""

from __future__ import annotations

from interlock import FALLBACK_PRIORITY, ArtifactStore, hookimpl
from interlock_fsstore.store import FsspecArtifactStore


class DigestBlindStore(FsspecArtifactStore):
    name = "digestblind"
    priority = FALLBACK_PRIORITY - 1
    description = "fsspec store that ignores digests in references (deliberately broken)"

    def find_digest(self, name: str, digest: str) -> str | None:
        versions = self.versions(name)
        return versions[-1] if versions else None


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    return [DigestBlindStore]
