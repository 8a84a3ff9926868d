"""Publishing a staged write at its URI: the moves behind DS-055..DS-059 of dataset.md.

A write is staged next to its target on the same filesystem; these functions move it into
place so that a reader never sees part of a dataset, and name the URI when storage refuses.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal

from interlock.errors import DatasetError, SpecViolation

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["REPLACED_MARK", "Kind", "publish", "publish_append", "storage_step", "target_kind"]

#: Marks the hidden name an overwritten dataset has until its replacement is in place.
REPLACED_MARK = ".interlock-replaced-"

Kind = Literal["file", "directory", "missing"]


def target_kind(fs: AbstractFileSystem, path: str, uri: str) -> Kind:
    """Whether ``path`` is a file, a directory, or missing; other failures name the URI."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return "missing"
    except Exception as exc:
        raise DatasetError(
            f"cannot access {uri!r}: {type(exc).__name__}: {exc}",
            hint="check the URI, credentials and storage_options",
        ) from exc
    return "directory" if info.get("type") == "directory" else "file"


def is_local(fs: AbstractFileSystem) -> bool:
    """Whether ``fs`` is fsspec's local filesystem (where rename(2) is atomic)."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def storage_step(step: Callable[[], object], uri: str, what: str) -> None:
    """Run a filesystem step of a write, naming the URI when the storage refuses it."""
    try:
        step()
    except OSError as exc:
        raise DatasetError(
            f"{what} {uri!r}: {type(exc).__name__}: {exc}",
            hint="check that the parent is a writable directory and the credentials allow writes",
        ) from exc


class _TargetAppeared(Exception):
    """The target was created by someone else between our check and our move."""


def _move(fs: AbstractFileSystem, source: str, target: str, *, replace: bool = False) -> None:
    """Move a file or directory to ``target``, which must not exist unless ``replace``."""
    if not is_local(fs):
        fs.mv(source, target, recursive=True)
        return
    # One rename(2): atomic, and the staging area is on the target's filesystem. rename
    # replaces an existing file silently, so a file that must not clobber is hard-linked first.
    if replace or os.path.isdir(source):
        os.rename(source, target)  # a directory never replaces a non-empty one
        return
    try:
        os.link(source, target)
    except FileExistsError:
        raise _TargetAppeared(target) from None
    except OSError:  # no hard links on this filesystem
        if os.path.lexists(target):
            raise _TargetAppeared(target) from None
        os.rename(source, target)
    else:
        os.unlink(source)


def publish(fs: AbstractFileSystem, staged: str, target: str, uri: str, *, replace: bool) -> None:
    """Move ``staged`` to ``target``; with ``replace``, swap out what is there (DS-056)."""
    kind = target_kind(fs, target, uri)
    try:
        if kind == "missing":
            _move(fs, staged, target)
            return
    except _TargetAppeared:
        kind = "file"
    if not replace:
        raise DatasetError(
            f"dataset {uri!r} appeared while it was being written",
            hint="another writer created it; retry with mode='overwrite' or another URI",
        )
    if kind == "file" and is_local(fs) and not fs.isdir(staged):
        _move(fs, staged, target, replace=True)  # rename over a file replaces it atomically
        return
    # The old dataset is moved aside, not deleted, until the new one is in place.
    parent, name = posixpath.split(target)
    backup = posixpath.join(parent, f".{name}{REPLACED_MARK}{uuid.uuid4().hex}")
    _move(fs, target, backup)
    try:
        _move(fs, staged, target)
    except BaseException:
        with contextlib.suppress(Exception):
            _move(fs, backup, target, replace=True)
        raise
    with contextlib.suppress(Exception):
        fs.rm(backup, recursive=True)


def publish_append(fs: AbstractFileSystem, staged: str, target: str, uri: str) -> None:
    """Move each staged file into the existing directory ``target`` (DS-059)."""
    base = staged.rstrip("/") + "/"
    for file in sorted(_iter_files(fs, staged)):
        relative = file[len(base) :]
        destination = posixpath.join(target, relative)
        if fs.exists(destination):
            raise SpecViolation(
                f"appending to {uri!r} would replace {relative!r}",
                hint="DatasetFormat.write must give part files names unique across writes",
                requirement="DS-044",
            )
        parent = posixpath.dirname(destination)
        if parent != target.rstrip("/"):
            fs.makedirs(parent, exist_ok=True)
        _move(fs, file, destination)


def _iter_files(fs: AbstractFileSystem, root: str) -> Iterator[str]:
    base = root.rstrip("/") + "/"
    for file in fs.find(root):
        if file.startswith(base):
            yield file

