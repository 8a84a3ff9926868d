"""The ``fsspec`` artifact store: artifacts as directories on any fsspec filesystem.

Layout under the root URI::

    ROOT/<name>/<version>/manifest.json
    ROOT/<name>/<version>/model.onnx
    ROOT/<name>/<version>/model.onnx.data     (large models)
    ROOT/<name>/<version>/<extra files>
    ROOT/.staging/<uuid>/...                   (publications in progress; never listed)
    ROOT/.staging/<uuid>.owner                 (locked by the writer while it lives: ART-079)

A version is published when its ``manifest.json`` is. fsspec is imported on first use.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from interlock import (
    FALLBACK_PRIORITY,
    ArtifactError,
    ArtifactExistsError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStore,
)
from interlock.artifacts import list_local_dir
from interlock.staging import OWNER_SUFFIX, StagingOwner, remove_dead

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["FsspecArtifactStore"]

MANIFEST_FILE = "manifest.json"
STAGING_DIR = ".staging"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def _check_segment(kind: str, value: str) -> None:
    if not _SEGMENT.match(value):
        raise ArtifactNotFoundError(
            f"{value!r} is not a valid artifact {kind}",
            hint="names and versions are 1-128 letters, digits, '.', '_' or '-'",
        )


def _check_file_path(path: str) -> None:
    parts = path.split("/")
    if (
        not path
        or "\\" in path
        or path.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(c) < 0x20 for c in path)
    ):
        raise ArtifactIntegrityError(
            f"artifact file path {path!r} is not a safe relative path",
            hint="file paths are relative, '/'-separated, without '.' or '..' segments",
        )


def _created_at(data: bytes | None) -> datetime:
    # Unreadable manifests sort first, so they never become "the newest version".
    try:
        text = json.loads(data or b"")["created_at"]
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return _OLDEST
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


class FsspecArtifactStore(ArtifactStore):
    """Artifacts as plain directories on any filesystem fsspec reaches.

    On local disk a version is published by one ``rename`` of a fully written (and fsynced)
    staging directory, which also refuses an existing version atomically between concurrent
    writers. Elsewhere (object stores, memory) the files are staged, then moved into place
    with ``manifest.json`` last, so the version appears only once complete.
    """

    name = "fsspec"
    description = "Artifact directories on any fsspec filesystem (local, memory, s3, gcs, ...)"
    protocols = ("*",)
    priority = FALLBACK_PRIORITY
    capabilities = frozenset(
        {"atomic-publish", "immutable-versions", "digest-refs", "external-data", "nested-files"}
    )

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(root.rstrip("/") or root, storage_options)
        self._fs: AbstractFileSystem | None = None
        self._root_path = ""
        self._local = False

    # -- plumbing ---------------------------------------------------------------------------

    def _filesystem(self) -> tuple[AbstractFileSystem, str]:
        if self._fs is None:
            import fsspec.core
            from fsspec.implementations.local import LocalFileSystem

            try:
                fs, path = fsspec.core.url_to_fs(self.root, **self.storage_options)
            except (ImportError, ValueError) as exc:
                raise _filesystem_error(self.root, exc) from None
            self._fs, self._root_path = fs, path.rstrip("/") or "/"
            self._local = isinstance(fs, LocalFileSystem)
        return self._fs, self._root_path

    def _dir(self, name: str, version: str) -> str:
        _check_segment("name", name)
        _check_segment("version", version)
        root = self._filesystem()[1]
        if self._local:  # a planted link must not lead reads out of the store (ART-104)
            for linked in (f"{root}/{name}", f"{root}/{name}/{version}"):
                if os.path.islink(linked):
                    raise ArtifactIntegrityError(
                        f"{self.root}/{linked[len(root) + 1:]} is a symbolic link; a store "
                        "holds no links, so nothing outside it is read",
                        hint="replace the link with the artifact's own directory",
                    )
        return f"{root}/{name}/{version}"

    # -- the primitives ---------------------------------------------------------------------

    def publish(
        self, name: str, version: str, files: Mapping[str, bytes | os.PathLike[str]]
    ) -> str:
        """Stage every file under ``ROOT/.staging/<uuid>/`` (manifest last), then move the
        whole version into place; a failure leaves nothing behind."""
        final = self._dir(name, version)
        for path in files:
            _check_file_path(path)
        if MANIFEST_FILE not in files:
            raise ArtifactIntegrityError(f"publishing {name}:{version} without {MANIFEST_FILE}")
        if self.exists(name, version):
            raise self._exists_error(name, version)
        fs, root = self._filesystem()
        staging = f"{root}/{STAGING_DIR}/{uuid.uuid4().hex}"
        ordered = sorted(files, key=lambda path: path == MANIFEST_FILE)
        owner = self._claim(staging) if self._local else None
        try:
            if self._local:
                self._publish_local(staging, final, ordered, files, name, version)
            else:
                self._publish_remote(fs, staging, final, ordered, files, name, version)
        except BaseException:
            with contextlib.suppress(Exception):
                if self._local:
                    shutil.rmtree(staging, ignore_errors=True)
                elif fs.exists(staging):
                    fs.rm(staging, recursive=True)
            raise
        finally:
            if owner is not None:
                owner.release()  # after the rename there is no folder left, only the record
        return self.uri_of(name, version)

    def _claim(self, staging: str) -> StagingOwner | None:
        """Remove what publishers that died left in ``.staging/``, then lock this one's owner
        record, so later publishers know it is in use (ART-079)."""
        base = os.path.dirname(staging)
        os.makedirs(base, exist_ok=True)
        remove_dead(base, "")
        return StagingOwner.claim(staging)

    def _exists_error(self, name: str, version: str) -> ArtifactExistsError:
        return ArtifactExistsError(
            f"artifact {name}:{version} already exists in the store at {self.root!r}",
            hint="versions are immutable; publish under a new version",
        )

    def _publish_local(
        self,
        staging: str,
        final: str,
        ordered: list[str],
        files: Mapping[str, bytes | os.PathLike[str]],
        name: str,
        version: str,
    ) -> None:
        directories = {staging}
        os.makedirs(staging)
        for path in ordered:
            target = os.path.join(staging, *path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            directories.add(os.path.dirname(target))
            content = files[path]
            with open(target, "xb") as out:
                if isinstance(content, bytes | bytearray | memoryview):
                    out.write(content)
                else:
                    with open(content, "rb") as source:
                        shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
        for directory in directories:
            _fsync_dir(directory)
        parent = os.path.dirname(final)
        os.makedirs(parent, exist_ok=True)
        try:
            # rename() of a directory onto an existing non-empty one fails (ENOTEMPTY or
            # EEXIST): exactly one of several concurrent writers of a version wins.
            os.rename(staging, final)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR) or os.path.exists(final):
                raise self._exists_error(name, version) from None
            raise
        _fsync_dir(parent)

    def _publish_remote(
        self,
        fs: AbstractFileSystem,
        staging: str,
        final: str,
        ordered: list[str],
        files: Mapping[str, bytes | os.PathLike[str]],
        name: str,
        version: str,
    ) -> None:
        for path in ordered:
            target = f"{staging}/{path}"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            content = files[path]
            if isinstance(content, bytes | bytearray | memoryview):
                fs.pipe_file(target, bytes(content))
            else:
                fs.put_file(os.fspath(content), target)
        # Object stores have no directory rename: move file by file, manifest last, so that
        # the version (defined by its manifest) appears only when every file is in place.
        if fs.exists(f"{final}/{MANIFEST_FILE}"):
            raise self._exists_error(name, version)
        if fs.exists(final):
            fs.rm(final, recursive=True)  # files of a writer that died before its manifest
        for path in ordered:
            destination = f"{final}/{path}"
            fs.makedirs(destination.rsplit("/", 1)[0], exist_ok=True)
            fs.mv(f"{staging}/{path}", destination)
        if fs.exists(staging):
            fs.rm(staging, recursive=True)

    def names(self) -> list[str]:
        """Names with at least one published version, sorted."""
        fs, root = self._filesystem()
        found = set()
        for path in fs.find(root, maxdepth=3):
            parts = path[len(root) :].strip("/").split("/")
            if len(parts) == 3 and parts[2] == MANIFEST_FILE and _SEGMENT.match(parts[0]):
                found.add(parts[0])
        return sorted(found)

    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first by manifest ``created_at``."""
        if not _SEGMENT.match(name):
            return []
        fs, root = self._filesystem()
        base = f"{root}/{name}"
        if self._local and os.path.islink(base):
            return []  # not published here: a link to somewhere else (ART-104)
        manifests = {}
        for path in fs.find(base, maxdepth=2):
            parts = path[len(base) :].strip("/").split("/")
            if len(parts) == 2 and parts[1] == MANIFEST_FILE and _SEGMENT.match(parts[0]):
                manifests[path] = parts[0]
        contents = fs.cat(list(manifests), on_error="omit") if manifests else {}
        keyed = [(_created_at(contents.get(path)), version) for path, version in manifests.items()]
        return [version for _, version in sorted(keyed)]

    def list_files(self, name: str, version: str) -> list[str]:
        """Every file of the version directory, relative and sorted; refuses links."""
        fs, _ = self._filesystem()
        directory = self._dir(name, version)
        uri = self.uri_of(name, version)
        if self._local:
            return list_local_dir(Path(directory), uri)
        if not fs.isdir(directory):
            raise ArtifactNotFoundError(f"no artifact directory at {uri!r}")
        prefix = directory + "/"
        found = []
        for full, info in fs.find(directory, withdirs=True, detail=True).items():
            if not full.startswith(prefix):
                continue
            if info.get("islink") or info.get("type") not in ("file", "directory"):
                raise ArtifactIntegrityError(f"{uri}/{full[len(prefix) :]} is not a regular file")
            if info["type"] == "file":
                found.append(full[len(prefix) :])
        return sorted(found)

    def read(self, name: str, version: str, path: str) -> bytes:
        """Raw bytes of one file."""
        _check_file_path(path)
        fs, _ = self._filesystem()
        try:
            return bytes(fs.cat_file(f"{self._dir(name, version)}/{path}"))
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"{self.uri_of(name, version)} has no file {path!r}"
            ) from None

    def uri_of(self, name: str, version: str) -> str:
        """``ROOT/name/version`` (an absolute path for a local root)."""
        directory = self._dir(name, version)
        return directory if self._local else f"{self.root}/{name}/{version}"

    # -- faster versions of the defaults ----------------------------------------------------

    def open_file(self, name: str, version: str, path: str) -> BinaryIO:
        """A stream over one file, read in chunks from the filesystem."""
        _check_file_path(path)
        fs, _ = self._filesystem()
        try:
            stream: BinaryIO = fs.open(f"{self._dir(name, version)}/{path}", "rb")
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"{self.uri_of(name, version)} has no file {path!r}"
            ) from None
        return stream

    def exists(self, name: str, version: str) -> bool:
        """Whether ``ROOT/name/version/manifest.json`` exists."""
        if not (_SEGMENT.match(name) and _SEGMENT.match(version)):
            return False
        fs, _ = self._filesystem()
        return bool(fs.exists(f"{self._dir(name, version)}/{MANIFEST_FILE}"))

    def local_path(self, name: str, version: str) -> Path | None:
        """The version directory itself when the root is on local disk."""
        directory = self._dir(name, version)
        return Path(directory) if self._local else None

    # -- housekeeping -----------------------------------------------------------------------

    def remove_stale_staging(self, older_than_s: float = 24 * 3600) -> int:
        """Delete what publishers that died left in ``.staging/`` (never visible as
        artifacts); return how many were removed. On local disk a staging directory whose
        owner record a publisher still locks is never touched, one whose publisher is dead
        goes at once (every publish does this too), and one without a record (from an older
        interlock) once it is older than ``older_than_s`` seconds; elsewhere, where there
        are no locks, those older than ``older_than_s``."""
        fs, root = self._filesystem()
        base = f"{root}/{STAGING_DIR}"
        if not fs.isdir(base):
            return 0
        removed = remove_dead(base, "") if self._local else 0
        now = time.time()
        for info in fs.ls(base, detail=True):
            entry = str(info["name"]).rstrip("/")
            owned = entry.endswith(OWNER_SUFFIX) or os.path.lexists(entry + OWNER_SUFFIX)
            if self._local and owned:
                continue  # the lock decides, above
            modified = info.get("mtime") or info.get("created")
            if isinstance(modified, datetime):
                modified = modified.timestamp()
            if modified is not None and now - float(modified) > older_than_s:
                fs.rm(entry, recursive=True)
                removed += 1
        return removed


def _fsync_dir(path: str) -> None:
    # Makes a rename or a new entry durable across power loss; not possible on every OS.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: The extra of interlock that installs the filesystem of a protocol.
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure",
           "abfss": "azure", "adl": "azure"}


def _filesystem_error(root: str, exc: Exception) -> ArtifactError:
    """interlock's filesystem store cannot reach ``root``: say why and how to fix it."""
    protocol = root.split("://", 1)[0] if "://" in root else "file"
    if isinstance(exc, ImportError):
        extra = _EXTRAS.get(protocol)
        install = f"pip install 'interlock[{extra}]'" if extra else "install the fsspec package"
        return ArtifactError(
            f"interlock's filesystem store cannot open {root!r}: the {protocol!r} filesystem needs "
            f"a package that is not installed ({exc})",
            hint=f"{install} (the fsspec implementation for {protocol}://)",
        )
    return ArtifactError(
        f"interlock's filesystem store cannot open {root!r}: {exc}",
        hint="use a local path or a URL whose protocol fsspec knows (file, memory, s3, gs, az, ...)",
    )
