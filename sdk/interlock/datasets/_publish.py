"""Publishing a staged write at its URI: the moves behind DS-055..DS-059 and DS-063..DS-065
of dataset.md.

A write is staged next to its target on the same filesystem; these functions move it into
place so that a reader never sees part of a dataset, and name the URI when storage refuses.
On Linux an overwrite is one ``renameat2(RENAME_EXCHANGE)``; where that is not available the
old dataset is moved aside into the writer's staging folder first, and :func:`recover` puts it
back if the writer died before the new one was in place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal

from interlock.staging import take_dead
from interlock.errors import DatasetError, SpecViolation

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "REPLACED",
    "STAGING_MARK",
    "Kind",
    "publish",
    "publish_append",
    "recover",
    "storage_step",
    "target_kind",
]

#: Marks the hidden staging folder of a write: ``.<target name><mark><32 hex digits>``.
STAGING_MARK = ".interlock-staging-"

#: The name, inside the staging folder, an overwritten dataset has until its replacement is in
#: place (only where the two cannot be exchanged in one step).
REPLACED = "replaced"

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2

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
    # replaces an existing file (or empty directory) silently, so a move that must not
    # clobber is a renameat2(RENAME_NOREPLACE), or else a hard link for a file.
    if replace:
        os.rename(source, target)
        return
    try:
        if _renameat2(source, target, _RENAME_NOREPLACE):
            return
    except FileExistsError:
        raise _TargetAppeared(target) from None
    if os.path.isdir(source):
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


def _renameat2(source: str, target: str, flags: int) -> bool:
    """``renameat2(2)`` with ``flags``; False where the OS or the filesystem lacks it."""
    if not sys.platform.startswith("linux"):
        return False
    call = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if call is None:  # a C library older than glibc 2.28
        return False
    result = call(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), source, None, target)


def publish(
    fs: AbstractFileSystem, staged: str, target: str, uri: str, *, replace: bool, aside: str
) -> None:
    """Move ``staged`` to ``target``; with ``replace``, swap out what is there (DS-056): in one
    exchange where the filesystem allows (DS-063), else by moving the old dataset to ``aside``
    (in the staging folder) first."""
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
    if is_local(fs):
        try:
            if _renameat2(staged, target, _RENAME_EXCHANGE):
                return  # the old dataset is now at ``staged``, removed with the staging folder
        except FileNotFoundError:  # removed by someone else since we looked
            _move(fs, staged, target)
            return
    # The old dataset is moved aside, not deleted, until the new one is in place.
    _move(fs, target, aside)
    try:
        _move(fs, staged, target)
    except BaseException:
        with contextlib.suppress(Exception):
            _move(fs, aside, target, replace=True)
        raise
    with contextlib.suppress(Exception):
        fs.rm(aside, recursive=True)


def recover(fs: AbstractFileSystem, target: str, *, clean: bool) -> None:
    """Finish what writers of ``target`` that died left (DS-064, DS-065): a dataset moved
    aside by an interrupted overwrite goes back to a missing ``target``; with ``clean``, the
    staging folders of dead writers are removed. Only on the local filesystem, where a
    writer's lock proves whether it is alive; a failure here never fails the caller."""
    if not is_local(fs):
        return
    parent, name = os.path.split(target)
    for owner in take_dead(parent or ".", f".{name}{STAGING_MARK}"):
        aside = os.path.join(owner.folder, REPLACED)
        restored = False
        with contextlib.suppress(OSError):
            if os.path.lexists(aside) and not os.path.lexists(target):
                restored = _put_back(aside, target)
        owner.release(remove=clean or restored)


def _put_back(aside: str, target: str) -> bool:
    """Move ``aside`` to ``target`` unless something is there now."""
    try:
        return _renameat2(aside, target, _RENAME_NOREPLACE) or _move_if_missing(aside, target)
    except FileExistsError:
        return False


def _move_if_missing(source: str, target: str) -> bool:
    if os.path.lexists(target):
        return False
    os.rename(source, target)
    return True


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

