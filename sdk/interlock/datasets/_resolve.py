"""Choosing the dataset format of a URI (DS-010..DS-012, DS-015, DS-017): by name through the
plugin registry, by a format that claims a directory by its contents, or from the file
extension of the target or of the files in a directory."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from interlock.datasets._files import find_data_files
from interlock.datasets._interfaces import DatasetFormat
from interlock.datasets._publish import Kind
from interlock.errors import DatasetError, SpecViolation
from interlock.plugins import get_registry, plugin_boundary

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["format_by_name", "format_for_write", "infer_for_read", "matching_extension", "names_with"]


def _formats() -> list[DatasetFormat]:
    return list(get_registry().all("dataset_format"))


def _installed(formats: list[DatasetFormat] | None = None) -> str:
    names = [f"{f.name} ({', '.join(f.extensions) or 'no extensions'})" for f in formats or _formats()]
    return ", ".join(names) or "none"


def names_with(capability: str) -> list[str]:
    """The installed formats that claim ``capability``, for hints."""
    return [f.name for f in _formats() if capability in f.capabilities] or ["none installed"]


def format_by_name(name: object, uri: str) -> DatasetFormat:
    """The installed format called ``name`` (DS-010)."""
    if not isinstance(name, str) or not name:
        raise DatasetError(
            f"format must be a format name, got {name!r} for {uri!r}",
            hint=f"installed formats: {_installed()}",
        )
    registry = get_registry()
    if name not in registry.names("dataset_format"):
        raise DatasetError(
            f"unknown dataset format {name!r} for {uri!r}; installed: {_installed()}",
            hint="run 'interlock plugins' to see the installed plugins",
        )
    component = registry.get("dataset_format", name)
    if not isinstance(component, DatasetFormat):
        raise SpecViolation(
            f"dataset format {name!r} is not a DatasetFormat", requirement="PLG-010"
        )
    return component


def matching_extension(name: str, extensions: tuple[str, ...]) -> str | None:
    """The longest of ``extensions`` that ends ``name`` (case-insensitively), or None."""
    lower = name.lower()
    matches = [ext for ext in extensions if ext and lower.endswith(ext.lower())]
    return max(matches, key=len) if matches else None


def _formats_for_name(name: str, formats: list[DatasetFormat]) -> list[DatasetFormat]:
    """The formats whose longest matching extension is the longest among all formats."""
    scored = [(len(ext), f) for f in formats if (ext := matching_extension(name, f.extensions))]
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [f for score, f in scored if score == best]


def infer_for_read(fs: AbstractFileSystem, path: str, kind: Kind, uri: str) -> DatasetFormat:
    """The one format that the file's name, or the files of the directory, match (DS-011)."""
    formats = _formats()
    if kind == "file":
        candidates = _formats_for_name(posixpath.basename(path), formats)
        where = "its file extension"
    else:
        claimed = _claiming(fs, path, formats)
        if claimed:
            return _one_format(claimed, formats, uri, "the formats that claim the directory")
        found: dict[str, DatasetFormat] = {}
        for file in find_data_files(fs, path):
            for candidate in _formats_for_name(posixpath.basename(file), formats):
                found[candidate.name] = candidate
        candidates = list(found.values())
        where = "the files in the directory"
    return _one_format(candidates, formats, uri, where)


def _claiming(
    fs: AbstractFileSystem, path: str, formats: list[DatasetFormat]
) -> list[DatasetFormat]:
    """The formats that claim the directory by its contents (DS-017)."""
    claimed = []
    for candidate in formats:
        with plugin_boundary(candidate, f"checking whether it reads the directory {path!r}"):
            if candidate.claims_directory(path, fs) is True:
                claimed.append(candidate)
    return claimed


def _one_format(
    candidates: list[DatasetFormat], formats: list[DatasetFormat], uri: str, where: str
) -> DatasetFormat:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DatasetError(
            f"cannot infer the dataset format of {uri!r} from {where}; installed: "
            f"{_installed(formats)}",
            hint="pass format='<name>'",
        )
    names = ", ".join(sorted(c.name for c in candidates))
    raise DatasetError(
        f"the dataset format of {uri!r} is ambiguous from {where} ({names}); installed: "
        f"{_installed(formats)}",
        hint="pass format='<name>'",
    )


def format_for_write(
    format: str | None, fs: AbstractFileSystem, path: str, kind: Kind, uri: str
) -> DatasetFormat:
    """The format that writes ``path``: named, or from the target's name (DS-011, DS-015)."""
    if format is not None:
        component = format_by_name(format, uri)
    else:
        formats = _formats()
        claimed = _claiming(fs, path, formats) if kind == "directory" else []
        candidates = claimed or _formats_for_name(posixpath.basename(path), formats)
        if not candidates and kind == "directory":
            component = infer_for_read(fs, path, kind, uri)
        else:
            component = _one_format(candidates, formats, uri, "its file extension")
    if "write" not in component.capabilities:
        raise DatasetError(
            f"dataset format {component.name!r} cannot write {uri!r}: it is read-only",
            hint=f"formats that write: {', '.join(names_with('write'))}",
        )
    return component
