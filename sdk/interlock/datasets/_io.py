"""``open_dataset`` and ``write_dataset``: URIs, format resolution, modes and atomic publish.

The format component reads and writes bytes; everything a user relies on regardless of format
lives here (spec: dataset.md): fsspec URL handling, choosing the format, the write modes, and
staging every write next to its target so that a half-written dataset is never visible.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from interlock.datasets._interfaces import Dataset, DatasetFormat
from interlock.datasets._publish import Kind, publish, publish_append, storage_step, target_kind
from interlock.errors import DatasetError, InterlockError, SpecViolation
from interlock.plugins._registry import get_registry, plugin_boundary

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

__all__ = ["MODES", "open_dataset", "write_dataset"]

#: The write modes of :func:`write_dataset` (DS-050).
MODES = ("error", "overwrite", "append")

_STAGING_MARK = ".interlock-staging-"


def open_dataset(
    uri: str | os.PathLike[str],
    format: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Dataset:
    """Open the dataset at ``uri`` (any fsspec URL or local path).

    ``format`` names a dataset format component (``interlock plugins`` lists them); without
    it the format is inferred from the file extension, or from the files in a directory.
    ``storage_options`` go to the fsspec filesystem. Raises :class:`interlock.DatasetError`
    naming the URI when the dataset is missing or cannot be read.
    """
    text = _uri_text(uri)
    fs, path = _filesystem(text, storage_options)
    kind = target_kind(fs, path, text)
    if kind == "missing":
        raise DatasetError(
            f"dataset {text!r} not found",
            hint="check the URI; write one with interlock.write_dataset(data, uri)",
        )
    component = _format_by_name(format, text) if format is not None else None
    if component is None:
        component = _infer_for_read(fs, path, kind, text)
    if "read" not in component.capabilities:
        raise DatasetError(
            f"dataset format {component.name!r} cannot read {text!r}",
            hint=f"formats that read: {', '.join(_names_with('read'))}",
        )
    return _open_with(component, fs, path, text)


def write_dataset(
    data: object,
    uri: str | os.PathLike[str],
    format: str | None = None,
    mode: str = "error",
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> Dataset:
    """Write ``data`` as a dataset at ``uri`` and return it, opened.

    ``data`` is anything that exports ``__arrow_c_stream__`` (a pyarrow Table or
    RecordBatchReader, an interlock Dataset, a polars DataFrame, ...) or a pyarrow
    RecordBatch; it is streamed, never read whole. A URI whose name ends with one of the
    format's extensions becomes one file, any other a directory of part files. ``mode`` is
    ``"error"`` (refuse an existing dataset), ``"overwrite"`` or ``"append"`` (add part files to
    a directory dataset). ``options`` are the format's write options. The dataset appears at
    ``uri`` only once it is complete (DS-055).
    """
    text = _uri_text(uri)
    if mode not in MODES:
        raise DatasetError(
            f"invalid mode {mode!r} for writing {text!r}; allowed: {', '.join(MODES)}",
            hint="use mode='error' (the default), 'overwrite' or 'append'",
        )
    reader = _guarded_input(_as_reader(data, text), text)
    fs, path = _filesystem(text, storage_options)
    path = path.rstrip("/") or path
    name = posixpath.basename(path)
    if not name:
        raise DatasetError(
            f"cannot write a dataset at the root of a filesystem ({text!r})",
            hint="name a file or directory, e.g. memory://bucket/table.parquet",
        )
    kind = target_kind(fs, path, text)
    component = _format_for_write(format, fs, path, kind, mode, text)

    if kind != "missing" and mode == "error":
        raise DatasetError(
            f"dataset {text!r} already exists",
            hint="pass mode='overwrite' to replace it or mode='append' to add to it",
        )
    appending = mode == "append" and kind != "missing"
    if appending:
        if kind == "file":
            raise DatasetError(
                f"cannot append to {text!r}: it is a single-file dataset",
                hint="write to a directory URI (a name without a file extension) to be able "
                "to append, or use mode='overwrite'",
            )
        if "append" not in component.capabilities:
            raise DatasetError(
                f"dataset format {component.name!r} cannot append to {text!r}",
                hint=f"formats that append: {', '.join(_names_with('append'))}",
            )
    _check_unique_names(reader.schema, text)
    try:
        with plugin_boundary(component, f"checking the schema for {text!r}"):
            component.check_schema(reader.schema)
    except DatasetError as exc:
        raise _in_context(exc, f"cannot write {text!r} as {component.name}") from exc
    if appending:
        existing = _open_with(component, fs, path, text)
        _check_same_schema(existing.schema, reader.schema, text)

    single_file = not appending and _matching_extension(name, component.extensions) is not None
    staging = posixpath.join(posixpath.dirname(path), f".{name}{_STAGING_MARK}{uuid.uuid4().hex}")
    inner = posixpath.join(
        staging, "dataset" + (component.extensions[0] if single_file and component.extensions else "")
    )
    try:
        storage_step(lambda: fs.makedirs(staging, exist_ok=True), text, "cannot stage")
        try:
            with plugin_boundary(component, f"writing {text!r}"):
                component.write(reader, inner, fs, options=dict(options))
        except DatasetError as exc:
            raise _in_context(exc, f"cannot write {text!r} as {component.name}") from exc
        if not fs.exists(inner):
            raise SpecViolation(
                f"dataset format {component.name!r} wrote nothing for {text!r}",
                hint="DatasetFormat.write must create the file or directory at the path it gets",
                component=component.name,
                requirement="DS-055",
            )
        if appending:
            storage_step(lambda: publish_append(fs, inner, path, text), text, "cannot publish")
        else:
            replace = mode == "overwrite"
            storage_step(
                lambda: publish(fs, inner, path, text, replace=replace), text, "cannot publish"
            )
    finally:
        with contextlib.suppress(Exception):
            if fs.exists(staging):
                fs.rm(staging, recursive=True)
    return _open_with(component, fs, path, text)


# -- URIs and filesystems -----------------------------------------------------------------------


def _uri_text(uri: object) -> str:
    if isinstance(uri, str | os.PathLike):
        text = os.fspath(uri)
        if isinstance(text, str) and text:
            return text
    raise DatasetError(
        f"a dataset URI must be a non-empty string or path, got {uri!r}",
        hint="pass a local path or an fsspec URL such as 'memory://data/table.parquet'",
    )


def _filesystem(uri: str, storage_options: dict[str, Any] | None) -> tuple[AbstractFileSystem, str]:
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(uri, **(storage_options or {}))
    except ImportError as exc:
        raise DatasetError(
            f"cannot open {uri!r}: the filesystem for this URL needs a package that is not "
            f"installed ({exc})",
            hint="install the fsspec implementation for this protocol (e.g. s3fs, gcsfs)",
        ) from exc
    except (ValueError, TypeError) as exc:
        raise DatasetError(
            f"cannot open {uri!r}: {exc}",
            hint="use a local path or an fsspec URL (python -c 'import fsspec; "
            "print(fsspec.available_protocols())' lists protocols); check storage_options",
        ) from exc
    return fs, str(path)


def _is_hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def _data_files(fs: AbstractFileSystem, root: str) -> list[str]:
    """Non-hidden files under a directory (DS-004), sorted."""
    base = root.rstrip("/") + "/"
    return sorted(
        file for file in fs.find(root) if file.startswith(base) and not _is_hidden(file[len(base) :])
    )


# -- format resolution -------------------------------------------------------------------------


def _formats() -> list[DatasetFormat]:
    return list(get_registry().all("dataset_format"))


def _installed(formats: list[DatasetFormat] | None = None) -> str:
    names = [f"{f.name} ({', '.join(f.extensions) or 'no extensions'})" for f in formats or _formats()]
    return ", ".join(names) or "none"


def _names_with(capability: str) -> list[str]:
    return [f.name for f in _formats() if capability in f.capabilities] or ["none installed"]


def _format_by_name(name: object, uri: str) -> DatasetFormat:
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


def _matching_extension(name: str, extensions: tuple[str, ...]) -> str | None:
    lower = name.lower()
    matches = [ext for ext in extensions if ext and lower.endswith(ext.lower())]
    return max(matches, key=len) if matches else None


def _formats_for_name(name: str, formats: list[DatasetFormat]) -> list[DatasetFormat]:
    """The formats whose longest matching extension is the longest among all formats."""
    scored = [(len(ext), f) for f in formats if (ext := _matching_extension(name, f.extensions))]
    if not scored:
        return []
    best = max(score for score, _ in scored)
    return [f for score, f in scored if score == best]


def _infer_for_read(fs: AbstractFileSystem, path: str, kind: Kind, uri: str) -> DatasetFormat:
    formats = _formats()
    if kind == "file":
        candidates = _formats_for_name(posixpath.basename(path), formats)
        where = "its file extension"
    else:
        found: dict[str, DatasetFormat] = {}
        for file in _data_files(fs, path):
            for candidate in _formats_for_name(posixpath.basename(file), formats):
                found[candidate.name] = candidate
        candidates = list(found.values())
        where = "the files in the directory"
    return _one_format(candidates, formats, uri, where)


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


def _format_for_write(
    format: str | None, fs: AbstractFileSystem, path: str, kind: Kind, mode: str, uri: str
) -> DatasetFormat:
    if format is not None:
        component = _format_by_name(format, uri)
    else:
        formats = _formats()
        candidates = _formats_for_name(posixpath.basename(path), formats)
        if not candidates and kind == "directory":
            component = _infer_for_read(fs, path, kind, uri)
        else:
            component = _one_format(candidates, formats, uri, "its file extension")
    if "write" not in component.capabilities:
        raise DatasetError(
            f"dataset format {component.name!r} cannot write {uri!r}: it is read-only",
            hint=f"formats that write: {', '.join(_names_with('write'))}",
        )
    return component


def _open_with(component: DatasetFormat, fs: AbstractFileSystem, path: str, uri: str) -> Dataset:
    with plugin_boundary(component, f"opening {uri!r}"):
        dataset = component.open(path, fs, uri=uri)
    if not isinstance(dataset, Dataset):
        raise SpecViolation(
            f"dataset format {component.name!r} returned {type(dataset).__name__} from open(); "
            "it must return an interlock.Dataset",
            component=component.name,
            requirement="DS-016",
        )
    return dataset


# -- input and schema --------------------------------------------------------------------------


def _as_reader(data: object, uri: str) -> pa.RecordBatchReader:
    import pyarrow as pa

    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, Dataset):
        return data.to_reader()  # keeps its DatasetErrors as they are
    if isinstance(data, pa.Table):
        return data.to_reader()
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(data.schema, [data])
    if hasattr(type(data), "__arrow_c_stream__"):
        try:
            return pa.RecordBatchReader.from_stream(data)
        except Exception as exc:
            raise DatasetError(
                f"cannot read {type(data).__name__} as an Arrow stream to write {uri!r}: {exc}",
                hint="its __arrow_c_stream__ must return an ArrowArrayStream PyCapsule",
            ) from exc
    if hasattr(type(data), "__arrow_c_array__"):
        batch = pa.record_batch(data)
        return pa.RecordBatchReader.from_batches(batch.schema, [batch])
    raise DatasetError(
        f"cannot write {type(data).__name__} to {uri!r}: it does not export an Arrow stream",
        hint="pass a pyarrow Table, RecordBatch or RecordBatchReader, an interlock Dataset, or "
        "any object with __arrow_c_stream__ (polars, pandas >= 2.2, DuckDB results)",
    )


def _guarded_input(source: pa.RecordBatchReader, uri: str) -> pa.RecordBatchReader:
    """``source`` with its failures named as the input's, so that the format is not blamed."""
    import pyarrow as pa

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from source
        except InterlockError:
            raise
        except Exception as exc:
            raise DatasetError(
                f"the data being written to {uri!r} failed: {type(exc).__name__}: {exc}",
                hint="nothing was written; fix the input and write again",
            ) from exc

    return pa.RecordBatchReader.from_batches(source.schema, batches())


def _check_unique_names(schema: pa.Schema, uri: str) -> None:
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise DatasetError(
                f"cannot write {uri!r}: column name {name!r} appears more than once",
                hint="rename the columns so that every name is unique",
            )
        seen.add(name)


def _check_same_schema(existing: pa.Schema, new: pa.Schema, uri: str) -> None:
    if existing.names != new.names:
        raise DatasetError(
            f"cannot append to {uri!r}: its columns are {existing.names}, the data's are "
            f"{new.names}",
            hint="select and order the columns like the existing dataset's",
        )
    for old_field, new_field in zip(existing, new, strict=True):
        if not old_field.type.equals(new_field.type):
            raise DatasetError(
                f"cannot append to {uri!r}: column {new_field.name!r} is {new_field.type} in "
                f"the data but {old_field.type} in the dataset",
                hint=f"cast the column to {old_field.type} before appending",
            )


def _in_context(exc: DatasetError, context: str) -> DatasetError:
    wrapped = DatasetError(
        f"{context}: {exc.message}", hint=exc.hint, plugin=exc.plugin, component=exc.component
    )
    return wrapped
