"""An artifact store whose ``publish`` replaces a version that already exists.

Breaks ART-071 (versions are immutable: publishing an existing version raises
``ArtifactExistsError`` and changes nothing). Otherwise it is the reference fsspec store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock import FALLBACK_PRIORITY, ArtifactStore, hookimpl
from interlock_fsstore.store import FsspecArtifactStore


class OverwritingStore(FsspecArtifactStore):
    name = "overwriting"
    # Below the reference store, so that it never serves a URL the user did not name.
    priority = FALLBACK_PRIORITY - 1
    description = "fsspec store that overwrites existing versions (deliberately broken)"

    def publish(self, name: str, version: str, files: Mapping[str, Any]) -> str:
        if self.exists(name, version):
            fs, _ = self._filesystem()
            fs.rm(self._dir(name, version), recursive=True)
        return super().publish(name, version, files)


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    return [OverwritingStore]
