"""Model artifacts: the :class:`Artifact` value and the :class:`ArtifactStore` component.

An artifact is a directory holding ``manifest.json`` and ``model.onnx`` (plus ONNX external
data and extra files), immutable and content-addressed by the manifest digest
(spec: artifact.md).
"""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from interlock.errors import ArtifactError
from interlock.plugins import Component

if TYPE_CHECKING:
    import onnx

    from interlock.artifacts._manifest import Manifest
    from interlock.tensors import ColumnMapping, Signature

__all__ = ["Artifact", "ArtifactStore", "ReadOnlyStoreError"]


class ReadOnlyStoreError(ArtifactError):
    """``publish`` was called on a store that cannot write (capability ``read-only``,
    spec artifact.md ART-100); the hint says how artifacts get into such a store."""


class Artifact(ABC):
    """A verified model artifact, wherever it lives.

    Obtained from :func:`interlock.load_artifact` or :meth:`ArtifactStore.get`; every byte it
    hands out has been checked against the manifest.
    """

    manifest: Manifest
    #: URI of the artifact directory.
    uri: str

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def ref(self) -> str:
        """Content address: ``name@sha256:<hex>``."""
        return self.manifest.ref

    @property
    def signature(self) -> Signature:
        return self.manifest.signature

    @property
    def columns(self) -> ColumnMapping:
        return self.manifest.columns

    @abstractmethod
    def read_bytes(self, path: str) -> bytes:
        """The verified bytes of one listed file (``path`` relative to the artifact)."""

    @abstractmethod
    def local_dir(self) -> Path:
        """A local directory holding every verified file, for runtimes that need paths.

        Local artifacts return their own directory; remote ones are copied into a cache keyed
        by digest, verified, and reused.
        """

    def onnx_model(self, *, load_external_data: bool = True) -> onnx.ModelProto:
        """The ONNX model, parsed from verified bytes.

        External data is resolved inside the artifact only: every ``location`` must be a safe
        relative path listed in the manifest, and its bytes come from :meth:`read_bytes`
        (verified), never from a path ONNX opens itself. With ``load_external_data=False`` the
        references are checked the same way and left in place.
        """
        from interlock.artifacts._onnx_checks import read_onnx_model

        return read_onnx_model(self, load_external_data=load_external_data)

    def __repr__(self) -> str:
        return f"<Artifact {self.name}:{self.version} {self.digest[:19]} at {self.uri!r}>"


class ArtifactStore(Component, ABC, kind="artifact_store"):
    """An artifact store component, bound to a root URI.

    Unlike the other components, the ``interlock_artifact_stores`` hook returns store
    *classes*; interlock instantiates one per root: ``Store(root, storage_options)``.
    ``protocols`` lists the fsspec protocols the store serves (``"*"``: any).

    A vendor implements the storage primitives (``publish``, ``names``, ``versions``,
    ``list_files``, ``read``, ``uri_of``); saving, resolving references, listing and
    verification are built on them here. ``open_file``, ``exists``, ``local_path`` and
    ``find_digest`` have working defaults that a store may override for speed.

    Capabilities a store may claim (spec: artifact.md): ``atomic-publish`` (readers never see
    a partial version, even if the writer dies), ``immutable-versions`` (publishing an
    existing version is refused), ``race-safe-publish`` (that refusal holds between
    concurrent writers), ``digest-refs`` (``name@sha256:...`` resolves), ``external-data``
    (artifacts with ``model.onnx.data`` round-trip), ``nested-files`` (extra files in
    subdirectories round-trip), ``read-only`` (``publish`` always raises
    :class:`ReadOnlyStoreError`; artifacts are written by another tool, and
    :meth:`populate` lays them out for tests and certification).
    """

    protocols: ClassVar[tuple[str, ...]] = ("*",)

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.root = root
        self.storage_options = dict(storage_options or {})

    @abstractmethod
    def publish(
        self, name: str, version: str, files: Mapping[str, bytes | os.PathLike[str]]
    ) -> str:
        """Atomically make ``files`` (relative path -> bytes or a local file) the artifact
        ``name:version``, and return its directory URI.

        Readers never see a partial artifact. Raise :class:`interlock.ArtifactExistsError`
        if the version exists.
        """

    @abstractmethod
    def names(self) -> list[str]:
        """Names of the published artifacts, sorted."""

    @abstractmethod
    def versions(self, name: str) -> list[str]:
        """Published versions of ``name``, oldest first (by manifest ``created_at``); an empty
        list for an unknown name. A version is published once its ``manifest.json`` is."""

    @abstractmethod
    def list_files(self, name: str, version: str) -> list[str]:
        """Every file present in the artifact directory, relative, ``/``-separated, sorted
        (listed in the manifest or not).

        Raise :class:`interlock.ArtifactNotFoundError` if the directory does not exist and
        :class:`interlock.ArtifactIntegrityError` (naming it) if it holds a symbolic link.
        """

    @abstractmethod
    def read(self, name: str, version: str, path: str) -> bytes:
        """Raw bytes of one file of a published artifact (not verified).

        Raise :class:`interlock.ArtifactNotFoundError` naming the file if it is missing.
        """

    @abstractmethod
    def uri_of(self, name: str, version: str) -> str:
        """Directory URI of ``name:version``."""

    # -- defaults built on the primitives; override for speed ------------------------------

    def open_file(self, name: str, version: str, path: str) -> BinaryIO:
        """A binary stream over one file (not verified); used to hash large files in chunks."""
        return io.BytesIO(self.read(name, version, path))

    def exists(self, name: str, version: str) -> bool:
        """Whether ``name:version`` is published."""
        return version in self.versions(name)

    def local_path(self, name: str, version: str) -> Path | None:
        """The artifact directory on local disk, if the store keeps it there, else ``None``.

        Lets :meth:`Artifact.local_dir` hand out the store's own directory instead of a copy.
        """
        return None

    def find_digest(self, name: str, digest: str) -> str | None:
        """The version of ``name`` whose manifest digest is ``digest``, or ``None``.

        The default reads the manifests newest first; the digest is checked again when the
        artifact is loaded.
        """
        from interlock.artifacts._manifest import MANIFEST_FILE, parse_manifest

        for version in reversed(self.versions(name)):
            data = self.read(name, version, MANIFEST_FILE)
            where = f"{self.uri_of(name, version)}/{MANIFEST_FILE}"
            if parse_manifest(data, where=where, check_digest=False).digest == digest:
                return version
        return None

    def unavailable_reason(self, name: str) -> str | None:
        """Why ``name``, which the store does not list, exists in its storage but cannot be
        served (a model in a format the store cannot present), or ``None``.

        Said in the :class:`interlock.ArtifactNotFoundError` of a reference to ``name``.
        """
        return None

    @classmethod
    def populate(cls, directory: Path, artifacts: Sequence[Artifact]) -> str:
        """Lay ``artifacts`` out under the local ``directory`` in this store's own layout,
        keeping each one's name, version and digest, and return the root URI that opens this
        store over it (spec: artifact.md ART-101).

        The conformance suite stocks stores through it. The default publishes each artifact
        into a store opened on ``directory``; a ``read-only`` store, which cannot publish,
        overrides it with the tool that writes its storage.
        """
        from interlock.artifacts._manifest import MANIFEST_FILE

        root = str(directory)
        store = cls(root, None)
        for artifact in artifacts:
            files: dict[str, bytes | os.PathLike[str]] = {
                entry.path: artifact.read_bytes(entry.path) for entry in artifact.manifest.files
            }
            files[MANIFEST_FILE] = artifact.manifest.to_json_bytes()
            store.publish(artifact.name, artifact.version, files)
        return root

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.root!r}>"
