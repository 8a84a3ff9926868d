"""Owner records of staging folders: which leftovers of killed writers are provably dead.

A writer that stages work in a hidden folder ``F`` first creates ``F.owner`` (a small JSON
record: pid, host, start time, for humans) and holds an exclusive ``flock`` on it for as long
as ``F`` exists; it removes ``F`` and then ``F.owner`` before it lets go. The kernel drops the
lock when the process dies, however it dies (SIGKILL included), so a cleaner that can take the
lock without waiting knows that no process uses ``F`` any more, and removes it while holding
the lock. A folder whose record is locked is never touched.

Because the record exists before its folder and outlives it, a folder without a record was not
made by this protocol (an older interlock, a person): it is left alone. Locks are taken only on
the local filesystem, where ``flock`` exists; elsewhere nothing is claimed and nothing removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator

__all__ = [
    "OWNER_SUFFIX",
    "StagingOwner",
    "owned_temp_dir",
    "owner_path",
    "remove_dead",
    "take_dead",
]

#: Appended to a staging folder's path to name its owner record.
OWNER_SUFFIX = ".owner"

#: What follows the prefix in the name of an owner record: the folder's unique id.
_NAME = re.compile(r"[0-9a-f]{32}" + re.escape(OWNER_SUFFIX))

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; nothing is claimed there
    fcntl = None  # type: ignore[assignment]


def owner_path(folder: str) -> str:
    """The owner record of the staging folder ``folder``."""
    return folder.rstrip("/") + OWNER_SUFFIX


class StagingOwner:
    """The exclusive lock on a staging folder's owner record, held by its writer."""

    def __init__(self, folder: str, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def claim(cls, folder: str) -> StagingOwner | None:
        """Create and lock the owner record of ``folder`` (which must not exist yet); ``None``
        where this platform has no ``flock`` or the filesystem refuses it."""
        if fcntl is None:
            return None
        record = owner_path(folder)
        while True:
            try:
                fd = os.open(record, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except OSError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # a cleaner may hold it for an instant
                if _same_file(fd, record):
                    break
            except OSError:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(record)
                return None
            os.close(fd)  # a cleaner took it for a dead writer's and removed it: create again
        os.write(fd, _describe().encode())
        return cls(folder, fd)

    def release(self, *, remove: bool = True) -> None:
        """Remove the folder (with ``remove``), then the record, then let go of the lock."""
        if self._fd is None:
            return
        try:
            if remove:
                shutil.rmtree(self.folder, ignore_errors=True)
            if not os.path.lexists(self.folder):  # else kept, so a later cleaner retries
                with contextlib.suppress(OSError):
                    os.unlink(owner_path(self.folder))
        finally:
            os.close(self._fd)
            self._fd = None


def take_dead(parent: str, prefix: str) -> Iterator[StagingOwner]:
    """The staging folders ``parent/<prefix><32 hex digits>`` whose writer is dead, each
    yielded locked (the caller may look inside, then :meth:`StagingOwner.release` it); live
    ones are skipped."""
    if fcntl is None:
        return
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return
    for name in names:
        if not _NAME.fullmatch(name[len(prefix) :]) or not name.startswith(prefix):
            continue
        record = os.path.join(parent, name)
        try:
            fd = os.open(record, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:  # gone meanwhile, a link, or another user's
            continue
        if os.fstat(fd).st_uid != os.getuid():  # in a shared folder such as /tmp
            os.close(fd)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return  # the filesystem has no locks: nothing can be proved dead
            continue  # a live writer holds it
        if not _same_file(fd, record):  # its writer finished and removed it meanwhile
            os.close(fd)
            continue
        yield StagingOwner(record[: -len(OWNER_SUFFIX)], fd)


def remove_dead(parent: str, prefix: str) -> int:
    """Remove the staging folders ``parent/<prefix><32 hex digits>`` whose writer is dead;
    return how many."""
    removed = 0
    for owner in take_dead(parent, prefix):
        owner.release()
        removed += 1
    return removed


@contextlib.contextmanager
def owned_temp_dir(prefix: str) -> Iterator[str]:
    """A new private folder ``<system temp folder>/<prefix><32 hex digits>``, with its owner
    record held while the block runs and removed after it; leftovers of killed processes with
    the same prefix are removed first."""
    parent = tempfile.gettempdir()
    remove_dead(parent, prefix)
    folder = os.path.join(parent, f"{prefix}{uuid.uuid4().hex}")
    owner = StagingOwner.claim(folder)
    try:
        os.mkdir(folder, 0o700)
        yield folder
    finally:
        if owner is not None:
            owner.release()
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _describe() -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
    return json.dumps(record, sort_keys=True) + "\n"
