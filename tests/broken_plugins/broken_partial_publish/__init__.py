"""An artifact store that publishes in place, manifest first, with no staging: a publish that
fails midway leaves a visible, incomplete version.

Breaks ART-072 (a failed ``publish`` leaves nothing visible through ``names``, ``versions`` or
a reference) while claiming ``atomic-publish``. Otherwise it is the reference fsspec store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interlock import FALLBACK_PRIORITY, ArtifactStore, hookimpl
from interlock_fsstore.store import MANIFEST_FILE, FsspecArtifactStore, _check_file_path


class InPlaceStore(FsspecArtifactStore):
    name = "inplace"
    priority = FALLBACK_PRIORITY - 1
    description = "fsspec store publishing in place, manifest first (deliberately broken)"

    def publish(self, name: str, version: str, files: Mapping[str, Any]) -> str:
        final = self._dir(name, version)
        for path in files:
            _check_file_path(path)
        if self.exists(name, version):
            raise self._exists_error(name, version)
        fs, _ = self._filesystem()
        for path in sorted(files, key=lambda p: p != MANIFEST_FILE):
            content = files[path]
            data = content if isinstance(content, bytes) else Path(content).read_bytes()
            target = f"{final}/{path}"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.pipe_file(target, data)
        return self.uri_of(name, version)


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    return [InPlaceStore]
