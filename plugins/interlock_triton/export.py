"""Exporting an interlock artifact into a Triton model repository::

    REPO_DIR/<name>/config.pbtxt             generated from the signature
    REPO_DIR/<name>/<version>/model.onnx
    REPO_DIR/<name>/<version>/model.onnx.data   (when the artifact has external data)
    REPO_DIR/<name>/<version>/manifest.json  the interlock manifest (Triton ignores it)
    REPO_DIR/<name>/<version>/<extra files>

A version appears in one directory rename of a fully written staging directory inside the
model directory (Triton ignores a version directory whose name is not a number), so neither
Triton nor interlock ever sees half of it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from interlock.artifacts import MANIFEST_FILE, Artifact, compute_digest, load_artifact
from interlock.errors import ArtifactError, ArtifactExistsError

from interlock_triton.config import DEFAULT_MAX_BATCH_SIZE, config_for, config_text

if TYPE_CHECKING:
    from interlock.artifacts import ArtifactStore, Manifest

__all__ = ["CONFIG_FILE", "TritonExport", "export_triton", "triton_version_of"]

CONFIG_FILE = "config.pbtxt"
#: Triton versions are positive integers; interlock writes them without leading zeros.
TRITON_VERSION = re.compile(r"^[1-9][0-9]{0,17}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STAGING_PREFIX = ".interlock-staging-"


@dataclass(frozen=True)
class TritonExport:
    """Where :func:`export_triton` put a model."""

    #: The model directory (``REPO_DIR/<name>``).
    model_dir: Path
    #: The version directory (``REPO_DIR/<name>/<version>``).
    version_dir: Path
    name: str
    version: int
    #: The manifest kept beside the model (re-sealed when name or version changed).
    manifest: Manifest
    #: The generated configuration text.
    config: str


def triton_version_of(artifact_version: str, version: int | None) -> int:
    """The Triton version to export to: ``version`` when given (a positive integer), else the
    artifact's own version when it is one (``"3"``); anything else is refused."""
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ArtifactError(
                f"Triton version {version!r} is not a positive integer",
                hint="give version=N with N = 1, 2, ...",
            )
        return version
    if TRITON_VERSION.match(artifact_version):
        return int(artifact_version)
    raise ArtifactError(
        f"the artifact's version {artifact_version!r} is not a Triton version (Triton "
        "versions are positive integers)",
        hint="choose the Triton version with version=N",
    )


def _resealed(manifest: Manifest, name: str, version: str) -> Manifest:
    """``manifest`` under another name or version, sealed again; its files and their sha256
    are unchanged and metadata ``triton.source`` keeps the original content address."""
    if (manifest.name, manifest.version) == (name, version):
        return manifest
    metadata = dict(manifest.metadata)
    metadata["triton"] = {"source": manifest.ref}
    draft = manifest.model_copy(update={"name": name, "version": version, "metadata": metadata})
    digest = compute_digest(draft.model_dump(mode="json"))
    return draft.model_copy(update={"digest": digest})


def export_triton(
    artifact: Artifact | str | os.PathLike[str],
    repo_dir: str | os.PathLike[str],
    *,
    store: ArtifactStore | str | None = None,
    name: str | None = None,
    version: int | None = None,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    overwrite: bool = False,
) -> TritonExport:
    """Write ``artifact`` (an :class:`interlock.Artifact`, or a reference loaded from
    ``store``) into the Triton model repository ``repo_dir`` as ``<name>/<version>``.

    ``name`` defaults to the artifact's name; ``version`` (a positive integer) to the
    artifact's version when that is a positive integer. ``config.pbtxt`` is generated from
    the signature (see :func:`interlock_triton.config.config_for`). An existing version is
    refused with :class:`interlock.ArtifactExistsError` unless ``overwrite``, and so is an
    existing ``config.pbtxt`` that describes the model otherwise. Every byte written comes
    from the verified artifact.
    """
    source = artifact if isinstance(artifact, Artifact) else load_artifact(artifact, store)
    model_name = name if name is not None else source.name
    if not isinstance(model_name, str) or not _MODEL_NAME.match(model_name):
        raise ArtifactError(
            f"Triton model name {model_name!r} is not valid",
            hint="give name=NAME: 1-128 letters, digits, '.', '_' or '-'",
        )
    number = triton_version_of(source.version, version)
    repo = Path(os.path.expanduser(os.fspath(repo_dir)))
    if repo.exists() and not repo.is_dir():
        raise ArtifactError(
            f"the model repository {str(repo)!r} is a file, not a directory",
            hint="give the directory of a Triton model repository (it is created if missing)",
        )
    manifest = _resealed(source.manifest, model_name, str(number))
    text = config_text(config_for(source.signature, model_name, max_batch_size=max_batch_size))
    model_dir = repo / model_name
    version_dir = model_dir / str(number)
    _check_targets(model_dir, version_dir, text, overwrite)
    created = [p for p in (repo, model_dir) if not p.exists()]
    config = model_dir / CONFIG_FILE
    new_config = not config.exists()
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        if new_config:  # a new model: its configuration first, then its first version
            _write_config(config, text)
        _place_version(source, manifest, model_dir, version_dir, overwrite)
        if not new_config:
            _write_config(config, text)
    except BaseException:
        if new_config:
            with contextlib.suppress(OSError):
                config.unlink()
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if still empty: what was there stays
        raise
    return TritonExport(model_dir, version_dir, model_name, number, manifest, text)


def _check_targets(model_dir: Path, version_dir: Path, text: str, overwrite: bool) -> None:
    for path in (model_dir, version_dir):
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise ArtifactError(
                f"{str(path)!r} exists and is not a directory",
                hint="remove it, or export under name=NAME or version=N",
            )
    if version_dir.exists() and not overwrite:
        raise ArtifactExistsError(
            f"version {version_dir.name} of the Triton model {model_dir.name!r} already exists "
            f"at {str(version_dir)!r}",
            hint="export under another version (version=N), or replace it with overwrite=True",
        )
    config = model_dir / CONFIG_FILE
    if config.is_file() and not overwrite and config.read_text(encoding="utf-8") != text:
        raise ArtifactExistsError(
            f"{str(config)!r} already describes the model {model_dir.name!r} otherwise (one "
            "config.pbtxt serves every version of a Triton model)",
            hint="export under another name (name=NAME), or replace the configuration with "
            "overwrite=True",
        )


def _place_version(
    source: Artifact, manifest: Manifest, model_dir: Path, version_dir: Path, overwrite: bool
) -> None:
    staging = model_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    replaced = model_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        for entry in manifest.files:
            target = staging.joinpath(*entry.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_durably(target, source.read_bytes(entry.path))
        _write_durably(staging / MANIFEST_FILE, manifest.to_json_bytes())
        moved_away = overwrite and version_dir.exists()
        if moved_away:
            os.rename(version_dir, replaced)
        try:
            os.rename(staging, version_dir)
        except OSError:
            if moved_away:
                os.rename(replaced, version_dir)
            elif os.path.exists(version_dir):
                raise ArtifactExistsError(
                    f"version {version_dir.name} of {model_dir.name!r} appeared while exporting",
                    hint="another export wrote it first; export under another version (version=N)",
                ) from None
            raise
        _fsync_dir(model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)


def _write_config(path: Path, text: str) -> None:
    temporary = path.with_name(f"{STAGING_PREFIX}{uuid.uuid4().hex}.pbtxt")
    try:
        _write_durably(temporary, text.encode("utf-8"))
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "xb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
