"""Which files make a dataset (DS-004, DS-005): shared by the core and the file-format base.

Light on purpose: no pyarrow, so that format plugins can subclass the base at load time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from interlock.errors import DatasetError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["dataset_files", "find_data_files", "has_extension", "is_hidden", "relative_path"]


def is_hidden(relative: str) -> bool:
    """Whether a path relative to a dataset directory has a segment starting with . or _."""
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def has_extension(name: str, extensions: Sequence[str]) -> bool:
    """Whether a file name ends with one of ``extensions``, compared case-insensitively."""
    lower = name.lower()
    return any(ext and lower.endswith(ext.lower()) for ext in extensions)


def relative_path(root: str, file: str) -> str:
    """``file``'s POSIX path below the dataset root ``root`` ("" for the root itself)."""
    base = root.rstrip("/")
    return "" if file == base else file[len(base) + 1 :]


def find_data_files(
    fs: AbstractFileSystem, root: str, extensions: Sequence[str] | None = None
) -> list[str]:
    """The non-hidden files below the directory ``root``, at any depth, sorted (DS-004).

    With ``extensions``, only the files whose names end with one of them.
    """
    base = root.rstrip("/") + "/"
    found = []
    for file in fs.find(root):
        if not file.startswith(base):
            continue
        relative = file[len(base) :]
        if is_hidden(relative):
            continue
        if extensions is None or has_extension(relative.rsplit("/", 1)[-1], extensions):
            found.append(file)
    return sorted(found)


def dataset_files(
    fs: AbstractFileSystem, path: str, *, uri: str, format_name: str, extensions: Sequence[str]
) -> list[str]:
    """The data files of the dataset at ``path``: the file itself, or the directory's data
    files; a missing path or a directory without data files raises ``DatasetError``."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise DatasetError(
            f"dataset {uri!r} not found", hint="check the URI or write the dataset first"
        ) from None
    if info.get("type") != "directory":
        return [path]
    files = find_data_files(fs, path, extensions)
    if not files:
        raise DatasetError(
            f"directory {uri!r} has no {format_name} data files",
            hint=f"data files end with {', '.join(extensions) or '(no extension declared)'} "
            "and no part of their path below the directory starts with '.' or '_'",
        )
    return files
