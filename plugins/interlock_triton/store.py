"""The ``triton`` artifact store: a Triton model repository on local disk, read-only.

``open_store("triton:///srv/models")`` serves ``/srv/models/<model>/<version>/`` as the
artifact ``<model>:<version>``:

- a version directory that holds ``manifest.json`` (written by :func:`export_triton`) is an
  interlock artifact as it stands, verified against its manifest like any;
- a version directory without one (a model Triton users made) is presented with a manifest
  derived from ``config.pbtxt`` and the ONNX graph (spec: artifact.md ART-102), listing the
  sha256 of every file as first read, so every later read is checked against it;
- a model in another format than ONNX is not listed (ART-103); :meth:`unsupported` and the
  error of a reference to it say why.

Nothing is read outside the repository: names and versions must be plain directory names and
no symbolic link is followed (ART-104). ``publish`` is refused (ART-100).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interlock.artifacts import (
    MANIFEST_FILE,
    MODEL_FILE,
    Artifact,
    ArtifactStore,
    ReadOnlyStoreError,
)
from interlock.errors import ArtifactError, ArtifactIntegrityError, ArtifactNotFoundError

__all__ = ["SCHEME", "TritonRepositoryStore"]

#: The root URI scheme: ``triton:///absolute/path`` or ``triton://relative/path``.
SCHEME = "triton"
_PREFIX = f"{SCHEME}://"
_VERSION = re.compile(r"^[1-9][0-9]{0,17}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CONFIG = "config.pbtxt"


def _refuse_outside(kind: str, value: str, root: str) -> None:
    raise ArtifactNotFoundError(
        f"{value!r} is not a {kind} of the Triton repository at {root!r}",
        hint="model and version directories are plain names inside the repository "
        "(versions are positive integers); nothing outside it is read",
    )


class TritonRepositoryStore(ArtifactStore):
    """A Triton model repository (local directory), served read-only as artifacts."""

    name = "triton"
    description = "Triton model repositories (read-only): ONNX models, with or without manifest"
    protocols = (SCHEME,)
    capabilities = frozenset({"read-only", "digest-refs", "external-data", "nested-files"})

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(root, storage_options)
        if not root.startswith(_PREFIX):
            raise ArtifactError(
                f"{root!r} is not a Triton repository URI",
                hint=f"write {_PREFIX}/absolute/path or {_PREFIX}relative/path",
            )
        if self.storage_options:
            raise ArtifactError(
                "the Triton store reads local repositories and takes no storage_options",
                hint="copy the repository to local disk, or mount it",
            )
        self.path = Path(os.path.expanduser(root[len(_PREFIX) :] or ".")).absolute()
        self._derived: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    # -- where things are -------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path:
        if not _NAME.match(name):
            _refuse_outside("model", name, self.root)
        directory = self.path / name
        if directory.is_symlink():
            raise ArtifactIntegrityError(
                f"the model directory {str(directory)!r} is a symbolic link; the Triton store "
                "follows none",
                hint="put the model itself in the repository",
            )
        return directory

    def _version_dir(self, name: str, version: str) -> Path:
        if not _VERSION.match(version):
            _refuse_outside("version", version, self.root)
        directory = self._model_dir(name) / version
        if directory.is_symlink():
            raise ArtifactIntegrityError(
                f"the version directory {str(directory)!r} is a symbolic link; the Triton "
                "store follows none",
                hint="put the model itself in the repository",
            )
        return directory

    # -- what is there ----------------------------------------------------------------------

    def _candidates(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.path)
            if _NAME.match(entry.name) and entry.is_dir(follow_symlinks=False)
        )

    def _version_dirs(self, name: str) -> list[str]:
        directory = self._model_dir(name)
        if not directory.is_dir():
            return []
        return [
            entry.name
            for entry in os.scandir(directory)
            if _VERSION.match(entry.name) and entry.is_dir(follow_symlinks=False)
        ]

    def _problem(self, name: str) -> str | None:
        """Why the model ``name`` cannot be served, or None."""
        from interlock_triton.config import onnx_problem, parse_config

        config_path = self._model_dir(name) / _CONFIG
        if config_path.is_symlink():
            return "its config.pbtxt is a symbolic link"
        if not config_path.is_file():
            return None  # versions with a manifest need none; derived ones say so when read
        try:
            config = parse_config(config_path.read_bytes(), str(config_path))
        except ArtifactError as exc:
            return exc.message
        return onnx_problem(config)

    def unsupported(self) -> dict[str, str]:
        """The models of the repository that interlock cannot serve, each with the reason."""
        found = {}
        if self.path.is_dir():
            for entry in os.scandir(self.path):
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    if not _NAME.match(entry.name):
                        found[entry.name] = (
                            "its name is not an artifact name (1-128 letters, digits, '.', "
                            "'_' or '-', starting with a letter or digit)"
                        )
        for name in self._candidates():
            reason = self.unavailable_reason(name)
            if reason is not None:
                found[name] = reason
        return dict(sorted(found.items()))

    def unavailable_reason(self, name: str) -> str | None:
        """Why the repository's model ``name``, which has version directories, is not listed
        (see :meth:`unsupported`); None for a listed or an absent model."""
        if not _NAME.match(name) or not self._version_dirs(name):
            return None
        problem = self._problem(name)
        if problem is None and not self.versions(name):
            problem = (
                "its versions hold no interlock manifest.json and the model has no "
                "config.pbtxt to derive one from (interlock does not guess a configuration)"
            )
        return problem

    def _servable(self, name: str, version: str) -> bool:
        directory = self.path / name / version
        manifest = directory / MANIFEST_FILE
        if manifest.is_file() and not manifest.is_symlink():
            return True
        model = directory / MODEL_FILE
        return model.is_file() and not model.is_symlink() and (self.path / name / _CONFIG).is_file()

    # -- the primitives ---------------------------------------------------------------------

    def publish(
        self, name: str, version: str, files: Mapping[str, bytes | os.PathLike[str]]
    ) -> str:
        """Refused: a Triton repository is written by :func:`interlock_triton.export_triton`."""
        raise ReadOnlyStoreError(
            f"the Triton store at {self.root!r} is read-only: cannot publish {name}:{version}",
            hint="write a Triton repository with 'interlock artifact export-triton REF "
            "REPO_DIR' (interlock_triton.export_triton), or save to a writable store",
        )

    def names(self) -> list[str]:
        """The ONNX models with at least one servable version, sorted."""
        return [n for n in self._candidates() if self._problem(n) is None and self.versions(n)]

    def versions(self, name: str) -> list[str]:
        """The servable versions of ``name``: by manifest ``created_at`` (a derived manifest
        says 1970), then by number."""
        if not _NAME.match(name) or self._problem(name) is not None:
            return []
        from interlock_triton.derive import created_at_of

        found = [v for v in self._version_dirs(name) if self._servable(name, v)]
        keyed = []
        for version in found:
            manifest = self.path / name / version / MANIFEST_FILE
            stamp = created_at_of(manifest.read_bytes() if manifest.is_file() else None)
            keyed.append((stamp, int(version), version))
        return [version for _, _, version in sorted(keyed)]

    def _has_manifest(self, directory: Path) -> bool:
        manifest = directory / MANIFEST_FILE
        return manifest.exists() or manifest.is_symlink()

    def list_files(self, name: str, version: str) -> list[str]:
        """Every file of the version directory (refusing links), plus ``manifest.json`` for a
        model presented with a derived manifest."""
        from interlock.artifacts import list_local_dir

        directory = self._version_dir(name, version)
        found = list_local_dir(directory, str(directory))
        if not self._has_manifest(directory):
            found = sorted([*found, MANIFEST_FILE])
        return found

    def read(self, name: str, version: str, path: str) -> bytes:
        """The bytes of one file; ``manifest.json`` of a model without one is derived."""
        from interlock.artifacts import check_relative_path

        directory = self._version_dir(name, version)
        try:
            check_relative_path(path)
        except ValueError as exc:
            raise ArtifactIntegrityError(f"{directory}: {exc}") from None
        if path == MANIFEST_FILE and not self._has_manifest(directory):
            return self._derived_manifest(name, version, directory)
        target = directory.joinpath(*path.split("/"))
        current = directory
        for part in path.split("/"):
            current = current / part
            if current.is_symlink():
                raise ArtifactIntegrityError(
                    f"{current} is a symbolic link; the Triton store follows none",
                    hint="put the file itself in the version directory",
                )
        try:
            data = target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFoundError(f"{directory} has no file {path!r}") from None
        if path == MANIFEST_FILE:
            _check_names(data, name, version, target)
        return data

    def uri_of(self, name: str, version: str) -> str:
        """The version directory (which ``load_artifact`` opens directly when it holds a
        manifest; a derived one exists only through this store)."""
        return str(self._version_dir(name, version))

    def local_path(self, name: str, version: str) -> Path | None:
        """The version directory: runtimes load ``model.onnx`` from it."""
        return self._version_dir(name, version)

    # -- derived manifests ------------------------------------------------------------------

    def _derived_manifest(self, name: str, version: str, directory: Path) -> bytes:
        key = (name, version)
        with self._lock:
            known = self._derived.get(key)
        if known is not None:
            return known
        from interlock_triton.derive import derive_manifest

        config_path = self._model_dir(name) / _CONFIG
        if config_path.is_symlink() or not config_path.is_file():
            raise ArtifactNotFoundError(
                f"{directory} holds no manifest.json and its model has no config.pbtxt",
                hint="give the model a config.pbtxt (platform \"onnxruntime_onnx\"), or export "
                "it with 'interlock artifact export-triton'",
            )
        data = derive_manifest(name, version, directory, config_path.read_bytes())
        with self._lock:
            return self._derived.setdefault(key, data)

    # -- stocking a repository --------------------------------------------------------------

    @classmethod
    def populate(cls, directory: Path, artifacts: Sequence[Artifact]) -> str:
        """Export each artifact into the Triton repository ``directory`` under its own name and
        version (which must be a positive integer) and return ``triton://<directory>``."""
        from interlock_triton.export import export_triton

        for artifact in artifacts:
            export_triton(artifact, directory)
        return f"{_PREFIX}{Path(directory).absolute()}"


def _check_names(data: bytes, name: str, version: str, where: Path) -> None:
    """A manifest in ``<name>/<version>/`` must be that artifact's: a directory copied under
    another name would otherwise serve as something it is not."""
    from interlock.artifacts import parse_manifest

    manifest = parse_manifest(data, where=str(where), check_digest=False)
    if (manifest.name, manifest.version) != (name, version):
        raise ArtifactIntegrityError(
            f"{where} is the manifest of {manifest.name}:{manifest.version}, but it lies in "
            f"the Triton model {name!r} version {version}",
            hint="export the artifact again under this name and version (export-triton "
            "re-seals the manifest under the Triton name and version)",
        )

