"""An artifact store that claims ``read-only`` but whose ``publish`` still writes.

Breaks ART-100 (a read-only store refuses every ``publish`` with ``ReadOnlyStoreError`` and
changes nothing). Otherwise it is the reference fsspec store, stocked by the default
``populate``.
"""

from __future__ import annotations

from interlock import FALLBACK_PRIORITY, ArtifactStore, hookimpl
from interlock_fsstore.store import FsspecArtifactStore


class LeakyReadOnlyStore(FsspecArtifactStore):
    name = "leaky-read-only"
    # Below the reference store, so that it never serves a URL the user did not name.
    priority = FALLBACK_PRIORITY - 1
    description = "fsspec store that claims read-only and still publishes (deliberately broken)"
    capabilities = FsspecArtifactStore.capabilities | {"read-only"}


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    return [LeakyReadOnlyStore]
