"""The local cache of remote artifacts (spec: artifact.md, ART-080...).

Runtimes that need file paths get a verified local copy of a remote artifact, keyed by its
digest, published into the cache atomically and reused by every later load of the same digest.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

from interlock.errors import ArtifactError, ArtifactIntegrityError
from interlock.artifacts._manifest import MANIFEST_FILE

if TYPE_CHECKING:
    from interlock.artifacts._verify import StoredArtifact

__all__ = ["cache_root", "materialize"]

_CHUNK = 1024 * 1024


def cache_root() -> Path:
    """Where cached artifacts live: ``$INTERLOCK_CACHE_DIR/artifacts``, else
    ``$XDG_CACHE_HOME/interlock/artifacts``, else ``~/.cache/interlock/artifacts``."""
    base = os.environ.get("INTERLOCK_CACHE_DIR")
    if base:
        return Path(base).expanduser() / "artifacts"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "interlock" / "artifacts"


def _discard(directory: Path) -> None:
    # Rename first, so that no reader ever sees a half-deleted entry under its digest name.
    doomed = directory.with_name(f".discard-{uuid.uuid4().hex}")
    try:
        os.rename(directory, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def materialize(artifact: StoredArtifact, *, check: Callable[[Path], None]) -> Path:
    """A verified local copy of ``artifact`` in the cache, made once and reused.

    A cached copy is verified again by ``check`` (sizes, sha256, digest, paths: it raises
    :class:`interlock.ArtifactIntegrityError`) every time it is handed out; one that fails is
    replaced. A new copy is written under a staging name and renamed
    into place in one step, so concurrent loaders never see a partial copy; when two race,
    the first rename wins and the other reuses it.
    """
    root = cache_root()
    target = root / artifact.digest.removeprefix("sha256:")
    if target.is_dir():
        try:
            check(target)
            return target
        except ArtifactIntegrityError:
            _discard(target)
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
    except OSError as exc:
        raise ArtifactError(
            f"cannot create the artifact cache at {str(root)!r}: {exc}",
            hint="set INTERLOCK_CACHE_DIR to a writable directory",
        ) from None
    try:
        for entry in artifact.manifest.files:
            destination = staging / entry.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            with artifact.files.open(entry.path) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
        (staging / MANIFEST_FILE).write_bytes(artifact.manifest_bytes)
        check(staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():
                raise
            # Another process published the same digest first: use its copy.
            shutil.rmtree(staging, ignore_errors=True)
            check(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
