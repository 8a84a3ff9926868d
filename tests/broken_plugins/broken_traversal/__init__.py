"""An artifact store that does not check file paths: ``..``, absolute and backslash paths go
straight to the filesystem, so ``publish`` and ``read`` can reach outside the store's root.

Breaks ART-050 and ART-075 (paths are safe relative paths; a store refuses any other).
Otherwise it is the reference fsspec store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import interlock_fsstore.store as reference
from interlock import FALLBACK_PRIORITY, ArtifactNotFoundError, ArtifactStore, hookimpl
from interlock_fsstore.store import FsspecArtifactStore


class TraversableStore(FsspecArtifactStore):
    name = "traversable"
    priority = FALLBACK_PRIORITY - 1
    description = "fsspec store that does not check file paths (deliberately broken)"

    def publish(self, name: str, version: str, files: Mapping[str, Any]) -> str:
        check = reference._check_file_path
        reference._check_file_path = lambda path: None  # the broken part: no path check
        try:
            return super().publish(name, version, files)
        finally:
            reference._check_file_path = check

    def read(self, name: str, version: str, path: str) -> bytes:
        fs, _ = self._filesystem()
        try:
            return bytes(fs.cat_file(f"{self._dir(name, version)}/{path}"))
        except FileNotFoundError:
            where = self.uri_of(name, version)
            raise ArtifactNotFoundError(f"{where} has no file {path!r}") from None


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    return [TraversableStore]
