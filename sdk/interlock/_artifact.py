"""Model artifacts: the :class:`Artifact` value and the :class:`ArtifactStore` component.

An artifact is a directory holding ``manifest.json`` and ``model.onnx`` (plus ONNX external
data and extra files), immutable and content-addressed by the manifest digest
(spec: artifact.md).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from interlock._component import Component

if TYPE_CHECKING:
    import onnx

    from interlock._manifest import Manifest
    from interlock._signature import ColumnMapping, Signature

__all__ = ["Artifact", "ArtifactStore"]


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
        """The ONNX model, with external data resolved inside the artifact only."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Artifact {self.name}:{self.version} {self.digest[:19]} at {self.uri!r}>"


class ArtifactStore(Component, ABC):
    """An artifact store component, bound to a root URI.

    Unlike the other components, the ``interlock_artifact_stores`` hook returns store
    *classes*; interlock instantiates one per root: ``Store(root, storage_options)``.
    ``protocols`` lists the fsspec protocols the store serves (``"*"``: any).

    A vendor implements the storage primitives (``publish``, ``names``, ``versions``,
    ``list_files``, ``read``, ``uri_of``); saving, resolving references, listing and
    verification are built on them here.
    """

    protocols: ClassVar[tuple[str, ...]] = ("*",)

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.root = root
        self.storage_options = dict(storage_options or {})

    @abstractmethod
    def publish(self, name: str, version: str, files: Mapping[str, bytes | os.PathLike[str]]) -> str:
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
        """Published versions of ``name``, oldest first."""

    @abstractmethod
    def list_files(self, name: str, version: str) -> list[str]:
        """Every file present in the artifact directory, relative, sorted (listed or not)."""

    @abstractmethod
    def read(self, name: str, version: str, path: str) -> bytes:
        """Raw bytes of one file of a published artifact (not verified)."""

    @abstractmethod
    def uri_of(self, name: str, version: str) -> str:
        """Directory URI of ``name:version``."""
