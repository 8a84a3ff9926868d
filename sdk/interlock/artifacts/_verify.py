"""Opening and verifying artifacts, wherever their files live (spec: artifact.md, ART-040...).

An artifact's files are reached through :class:`ArtifactFiles`: either a store's primitives
(:class:`StoreFiles`) or a bare directory on any fsspec filesystem (:class:`DirectoryFiles`).
Verification is the same for both, so a vendor's store cannot weaken it.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from interlock.artifacts._interfaces import Artifact, ArtifactStore
from interlock.errors import ArtifactIntegrityError, ArtifactNotFoundError
from interlock.artifacts._manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    FileEntry,
    Manifest,
    check_relative_path,
    parse_manifest,
)
from interlock.artifacts._onnx_checks import check_external_locations
from interlock.plugins import plugin_boundary

if TYPE_CHECKING:
    import onnx
    from fsspec import AbstractFileSystem

__all__ = [
    "ArtifactFiles",
    "DirectoryFiles",
    "list_local_dir",
    "StoreFiles",
    "StoredArtifact",
    "open_artifact",
    "read_onnx_model",
]

_CHUNK = 1024 * 1024
_REPUBLISH = "the artifact is damaged or was tampered with; publish it again from its source"


class ArtifactFiles(ABC):
    """The files of one artifact directory (unverified access)."""

    uri: str

    @abstractmethod
    def list(self) -> list[str]:
        """Every file present, relative and sorted; refuses symbolic links."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """Raw bytes of one file."""

    @abstractmethod
    def open(self, path: str) -> BinaryIO:
        """A binary stream over one file."""

    def local_dir(self) -> Path | None:
        """The directory on local disk, when the files are there."""
        return None


class StoreFiles(ArtifactFiles):
    """The files of ``name:version`` in a store, through the store's primitives."""

    def __init__(self, store: ArtifactStore, name: str, version: str) -> None:
        self.store, self.name, self.version = store, name, version
        with plugin_boundary(store, f"locating {name}:{version}"):
            self.uri = store.uri_of(name, version)

    def list(self) -> list[str]:
        with plugin_boundary(self.store, f"listing the files of {self.name}:{self.version}"):
            return sorted(self.store.list_files(self.name, self.version))

    def read(self, path: str) -> bytes:
        with plugin_boundary(self.store, f"reading {path!r} of {self.name}:{self.version}"):
            return self.store.read(self.name, self.version, path)

    def open(self, path: str) -> BinaryIO:
        with plugin_boundary(self.store, f"opening {path!r} of {self.name}:{self.version}"):
            return self.store.open_file(self.name, self.version, path)

    def local_dir(self) -> Path | None:
        with plugin_boundary(self.store, f"locating {self.name}:{self.version} on disk"):
            return self.store.local_path(self.name, self.version)


class DirectoryFiles(ArtifactFiles):
    """The files of an artifact directory on an fsspec filesystem, given by URI."""

    def __init__(self, fs: AbstractFileSystem, path: str, uri: str) -> None:
        from fsspec.implementations.local import LocalFileSystem

        self.fs, self.path, self.uri = fs, path.rstrip("/") or "/", uri
        self._local = isinstance(fs, LocalFileSystem)

    def _full(self, path: str) -> str:
        try:
            check_relative_path(path)
        except ValueError as exc:
            raise ArtifactIntegrityError(f"{self.uri}: {exc}", hint=_REPUBLISH) from None
        return f"{self.path}/{path}"

    def list(self) -> list[str]:
        if self._local:
            return list_local_dir(Path(self.path), self.uri)
        if not self.fs.isdir(self.path):
            raise ArtifactNotFoundError(
                f"no artifact directory at {self.uri!r}",
                hint="check the URI; an artifact directory holds manifest.json and model.onnx",
            )
        found = []
        prefix = self.path.rstrip("/") + "/"
        for full, info in self.fs.find(self.path, withdirs=True, detail=True).items():
            if not full.startswith(prefix):
                continue
            relative = full[len(prefix) :]
            if info.get("islink") or info.get("type") == "link":
                raise ArtifactIntegrityError(
                    f"{self.uri}/{relative} is a symbolic link; artifacts must not hold links",
                    hint=_REPUBLISH,
                )
            if info.get("type") == "file":
                found.append(relative)
            elif info.get("type") != "directory":
                raise ArtifactIntegrityError(
                    f"{self.uri}/{relative} is not a regular file", hint=_REPUBLISH
                )
        return sorted(found)

    def read(self, path: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._full(path)))
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"{self.uri} has no file {path!r}") from None

    def open(self, path: str) -> BinaryIO:
        try:
            stream: BinaryIO = self.fs.open(self._full(path), "rb")
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"{self.uri} has no file {path!r}") from None
        return stream

    def local_dir(self) -> Path | None:
        return Path(self.path) if self._local else None


def list_local_dir(root: Path, uri: str) -> list[str]:
    """Every regular file under ``root``, relative and sorted, without following links.

    A symbolic link, FIFO, socket or device anywhere inside is an
    :class:`interlock.ArtifactIntegrityError` naming it (reading a FIFO would hang, a link
    could lead outside the artifact).
    """
    if not root.is_dir():
        raise ArtifactNotFoundError(
            f"no artifact directory at {uri!r}",
            hint="check the path; an artifact directory holds manifest.json and model.onnx",
        )
    found: list[str] = []
    pending: list[tuple[str, Path]] = [("", root)]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                relative = prefix + entry.name
                if entry.is_symlink():
                    raise ArtifactIntegrityError(
                        f"{uri}/{relative} is a symbolic link; artifacts must not hold links",
                        hint=_REPUBLISH,
                    )
                if entry.is_dir(follow_symlinks=False):
                    pending.append((relative + "/", Path(entry.path)))
                elif entry.is_file(follow_symlinks=False):
                    found.append(relative)
                else:
                    raise ArtifactIntegrityError(
                        f"{uri}/{relative} is not a regular file", hint=_REPUBLISH
                    )
    return sorted(found)


def _check_entry(uri: str, entry: FileEntry, size: int, sha256: str) -> None:
    if size != entry.size:
        raise ArtifactIntegrityError(
            f"{uri}/{entry.path} has {size} bytes but the manifest says {entry.size}",
            hint=_REPUBLISH,
        )
    if sha256 != entry.sha256:
        raise ArtifactIntegrityError(
            f"{uri}/{entry.path} does not match its sha256 in the manifest (found {sha256})",
            hint=_REPUBLISH,
        )


def _hash_stream(stream: BinaryIO) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def open_artifact(
    files: ArtifactFiles, *, verify: bool = True, expected_digest: str | None = None
) -> StoredArtifact:
    """Open the artifact in ``files``; with ``verify``, check every rule of spec ART-040...

    The manifest is always parsed against the schema (unknown fields, unsafe paths and a
    foreign ``format`` are refused). ``verify`` adds: the digest recomputes; every listed
    file exists with its size and sha256; no unlisted file; every ONNX external-data location
    is a safe relative path naming a listed file. ``expected_digest`` (from a content
    address) must equal the manifest's.
    """
    present = files.list()
    if MANIFEST_FILE not in present:
        raise ArtifactNotFoundError(
            f"{files.uri} is not a published artifact: it holds no {MANIFEST_FILE}",
            hint="an artifact directory holds manifest.json and model.onnx; save one with "
            "interlock.save_artifact",
        )
    manifest_bytes = files.read(MANIFEST_FILE)
    manifest = parse_manifest(
        manifest_bytes, where=f"{files.uri}/{MANIFEST_FILE}", check_digest=verify
    )
    if expected_digest is not None and manifest.digest != expected_digest:
        raise ArtifactIntegrityError(
            f"{files.uri} has digest {manifest.digest}, not the requested {expected_digest}",
            hint=_REPUBLISH,
        )
    if verify:
        _verify_files(files, manifest, present)
    return StoredArtifact(files, manifest, manifest_bytes)


def _verify_files(files: ArtifactFiles, manifest: Manifest, present: list[str]) -> None:
    listed = {entry.path: entry for entry in manifest.files}
    found = set(present) - {MANIFEST_FILE}
    missing = sorted(listed.keys() - found)
    if missing:
        raise ArtifactIntegrityError(
            f"{files.uri}/{missing[0]} is listed in the manifest but missing"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            hint=_REPUBLISH,
        )
    extra = sorted(found - listed.keys())
    if extra:
        raise ArtifactIntegrityError(
            f"{files.uri}/{extra[0]} is not listed in the manifest"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""),
            hint="an artifact holds exactly the files its manifest lists; remove the file, "
            "or publish a new version that lists it",
        )
    model_bytes = files.read(MODEL_FILE)
    for entry in manifest.files:
        if entry.path == MODEL_FILE:
            size, sha256 = len(model_bytes), hashlib.sha256(model_bytes).hexdigest()
        else:
            size, sha256 = _hash_stream(files.open(entry.path))
        _check_entry(files.uri, entry, size, sha256)
    check_external_locations(model_bytes, manifest, files.uri)


class StoredArtifact(Artifact):
    """The :class:`interlock.Artifact` that :func:`interlock.load_artifact` returns."""

    def __init__(self, files: ArtifactFiles, manifest: Manifest, manifest_bytes: bytes) -> None:
        self.manifest = manifest
        self.uri = files.uri
        self.files = files
        self.manifest_bytes = manifest_bytes
        self._entries = {entry.path: entry for entry in manifest.files}
        self._local_dir: Path | None = None

    def read_bytes(self, path: str) -> bytes:
        """The bytes of one listed file, checked against its size and sha256 on every read."""
        entry = self._entries.get(path)
        if entry is None:
            raise ArtifactNotFoundError(
                f"{self.uri} has no file {path!r} (files: {', '.join(sorted(self._entries))})",
                hint="read_bytes takes a path listed in the manifest, relative to the artifact",
            )
        data = self.files.read(path)
        _check_entry(self.uri, entry, len(data), hashlib.sha256(data).hexdigest())
        return data

    def local_dir(self) -> Path:
        """The artifact's own directory when it is on local disk, else a verified cached copy
        (see :func:`interlock.artifacts._cache.cache_root`)."""
        if self._local_dir is None:
            own = self.files.local_dir()
            if own is None:
                from interlock.artifacts._cache import materialize

                own = materialize(self, check=self._check_copy)
            self._local_dir = own
        return self._local_dir

    def _check_copy(self, directory: Path) -> None:
        """Verify a local copy of this artifact in full, against this artifact's digest."""
        from fsspec.implementations.local import LocalFileSystem

        open_artifact(
            DirectoryFiles(LocalFileSystem(), str(directory), str(directory)),
            verify=True,
            expected_digest=self.digest,
        )
