"""``open_dataset`` and ``write_dataset``: URIs, format resolution, options, modes and atomic
publish.

The format component reads and writes bytes; everything a user relies on regardless of format
lives here (spec: dataset.md): fsspec URL handling, choosing the format, validating its options,
the write modes, and staging every write next to its target so that a half-written dataset is
never visible (or, for a ``transactional`` format, handing the target to the format, which
commits atomically itself).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from interlock.datasets._interfaces import Dataset, DatasetFormat
from interlock.staging import StagingOwner
from interlock.datasets._publish import (
    REPLACED,
    STAGING_MARK,
    Kind,
    is_local,
    publish,
    publish_append,
    recover,
    storage_step,
    target_kind,
)
from interlock.datasets._resolve import (
    format_by_name,
    format_for_write,
    infer_for_read,
    matching_extension,
    names_with,
)
from interlock.errors import DatasetError, InterlockError, SpecViolation
from interlock.plugins import plugin_boundary

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

__all__ = ["MODES", "open_dataset", "write_dataset"]

#: The write modes of :func:`write_dataset` (DS-050).
MODES = ("error", "overwrite", "append")


def open_dataset(
    uri: str | os.PathLike[str],
    format: str | None = None,
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> Dataset:
    """Open the dataset at ``uri`` (any fsspec URL or local path).

    ``format`` names a dataset format component (``interlock plugins`` lists them); without
    it the format is inferred from the file extension, or from the files in a directory.
    ``storage_options`` go to the fsspec filesystem. ``options`` are the format's read
    options, validated before anything is read (DS-045). Raises
    :class:`interlock.DatasetError` naming the URI when the dataset is missing or cannot be
    read.
    """
    text = _uri_text(uri)
    fs, path = _filesystem(text, storage_options)
    kind = target_kind(fs, path, text)
    if kind == "missing":
        recover(fs, path.rstrip("/") or path, clean=False)  # an overwrite a kill interrupted
        kind = target_kind(fs, path, text)
    if kind == "missing":
        raise DatasetError(
            f"dataset {text!r} not found",
            hint="check the URI; write one with interlock.write_dataset(data, uri)",
        )
    component = format_by_name(format, text) if format is not None else None
    if component is None:
        component = infer_for_read(fs, path, kind, text)
    if "read" not in component.capabilities:
        raise DatasetError(
            f"dataset format {component.name!r} cannot read {text!r}",
            hint=f"formats that read: {', '.join(names_with('read'))}",
        )
    return _open_with(component, fs, path, text, options)


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
    a directory dataset). ``options`` are the format's write options, validated before
    anything is written (DS-045). The dataset appears at ``uri`` only once it is complete
    (DS-055); it is returned opened with the format's default read options.
    """
    text = _uri_text(uri)
    if mode not in MODES:
        raise DatasetError(
            f"invalid mode {mode!r} for writing {text!r}; allowed: {', '.join(MODES)}",
            hint="use mode='error' (the default), 'overwrite' or 'append'",
        )
    guard = _InputGuard(_as_reader(data, text), text)
    reader = guard.reader
    fs, path = _filesystem(text, storage_options)
    path = path.rstrip("/") or path
    if not posixpath.basename(path):
        raise DatasetError(
            f"cannot write a dataset at the root of a filesystem ({text!r})",
            hint="name a file or directory, e.g. memory://bucket/table.parquet",
        )
    recover(fs, path, clean=True)  # what writers of this URI killed before left (DS-064)
    kind = target_kind(fs, path, text)
    component = format_for_write(format, fs, path, kind, text)
    try:
        with plugin_boundary(component, f"parsing the write options for {text!r}"):
            parsed = component.parse_options(options)
    except DatasetError as exc:
        raise _in_context(exc, f"cannot write {text!r} as {component.name}") from exc
    appending = _check_target(component, kind, mode, text)
    _check_schema(component, reader.schema, text)
    if appending:
        existing = _open_with(component, fs, path, text, {})
        with plugin_boundary(component, f"mapping the schema to append to {text!r}"):
            incoming = component.read_back_schema(reader.schema)
        _check_same_schema(existing.schema, incoming, text)
    if "transactional" in component.capabilities:
        effective = mode if appending or mode != "append" else "error"
        _commit_in_place(component, guard, fs, path, text, parsed, effective)
    else:
        _stage_and_publish(component, reader, fs, path, text, parsed, mode, appending)
    return _open_with(component, fs, path, text, {})


def _check_target(component: DatasetFormat, kind: Kind, mode: str, uri: str) -> bool:
    """Refuse what ``mode`` forbids on the target (DS-051, DS-053); whether this is an append
    to an existing directory."""
    if kind != "missing" and mode == "error":
        raise DatasetError(
            f"dataset {uri!r} already exists",
            hint="pass mode='overwrite' to replace it or mode='append' to add to it",
        )
    if mode != "append" or kind == "missing":
        return False
    if kind == "file":
        raise DatasetError(
            f"cannot append to {uri!r}: it is a single-file dataset",
            hint="write to a directory URI (a name without a file extension) to be able "
            "to append, or use mode='overwrite'",
        )
    if "append" not in component.capabilities:
        raise DatasetError(
            f"dataset format {component.name!r} cannot append to {uri!r}",
            hint=f"formats that append: {', '.join(names_with('append'))}",
        )
    return True


def _check_schema(component: DatasetFormat, schema: pa.Schema, uri: str) -> None:
    """Unique column names and the format's own check, before anything is written (DS-043)."""
    _check_unique_names(schema, uri)
    try:
        with plugin_boundary(component, f"checking the schema for {uri!r}"):
            component.check_schema(schema)
    except DatasetError as exc:
        raise _in_context(exc, f"cannot write {uri!r} as {component.name}") from exc


def _stage_and_publish(
    component: DatasetFormat,
    reader: pa.RecordBatchReader,
    fs: AbstractFileSystem,
    path: str,
    uri: str,
    options: Any,
    mode: str,
    appending: bool,
) -> None:
    """Have the format write in a staging directory next to ``path``, then move the result
    into place (DS-055..DS-059); the staging directory is removed whatever happens."""
    name = posixpath.basename(path)
    single_file = not appending and matching_extension(name, component.extensions) is not None
    staging = posixpath.join(posixpath.dirname(path), f".{name}{STAGING_MARK}{uuid.uuid4().hex}")
    extension = component.extensions[0] if single_file and component.extensions else ""
    inner = posixpath.join(staging, "dataset" + extension)
    # The lock on the owner record, held until the folder is gone, tells later writers that
    # this folder is in use (DS-064); the record exists before the folder and outlives it.
    owner = StagingOwner.claim(staging) if is_local(fs) else None
    try:
        storage_step(lambda: fs.makedirs(staging, exist_ok=True), uri, "cannot stage")
        try:
            with plugin_boundary(component, f"writing {uri!r}"):
                component.write(reader, inner, fs, options=options)
        except DatasetError as exc:
            raise _in_context(exc, f"cannot write {uri!r} as {component.name}") from exc
        if not fs.exists(inner):
            raise SpecViolation(
                f"dataset format {component.name!r} wrote nothing for {uri!r}",
                hint="DatasetFormat.write must create the file or directory at the path it gets",
                component=component.name,
                requirement="DS-055",
            )
        if appending:
            storage_step(lambda: publish_append(fs, inner, path, uri), uri, "cannot publish")
        else:
            replace = mode == "overwrite"
            aside = posixpath.join(staging, REPLACED)
            storage_step(
                lambda: publish(fs, inner, path, uri, replace=replace, aside=aside),
                uri,
                "cannot publish",
            )
    finally:
        with contextlib.suppress(Exception):
            if fs.exists(staging):
                fs.rm(staging, recursive=True)
        if owner is not None:
            owner.release()


def _commit_in_place(
    component: DatasetFormat,
    guard: _InputGuard,
    fs: AbstractFileSystem,
    path: str,
    uri: str,
    options: Any,
    mode: str,
) -> None:
    """Hand the target and the mode to a ``transactional`` format, which commits the write
    itself (DS-120, DS-121); a failure of the input is reported as the input's (DS-046) even
    when the format's library replaced it with an error of its own."""
    try:
        with plugin_boundary(component, f"committing a write to {uri!r}"):
            component.commit(guard.reader, path, fs, uri=uri, mode=mode, options=options)
    except BaseException as exc:
        failure = guard.failure
        if failure is not None and failure is not exc:
            raise failure
        if isinstance(exc, DatasetError) and failure is None:
            raise _in_context(exc, f"cannot write {uri!r} as {component.name}") from exc
        raise
    if not fs.exists(path):
        raise SpecViolation(
            f"dataset format {component.name!r} committed nothing at {uri!r}",
            hint="DatasetFormat.commit must create or update the dataset at the path it gets",
            component=component.name,
            requirement="DS-120",
        )


def _open_with(
    component: DatasetFormat,
    fs: AbstractFileSystem,
    path: str,
    uri: str,
    options: Mapping[str, Any],
) -> Dataset:
    try:
        with plugin_boundary(component, f"parsing the read options for {uri!r}"):
            parsed = component.parse_read_options(options)
    except DatasetError as exc:
        raise _in_context(exc, f"cannot open {uri!r} as {component.name}") from exc
    with plugin_boundary(component, f"opening {uri!r}"):
        dataset = component.open(path, fs, uri=uri, options=parsed)
    if not isinstance(dataset, Dataset):
        raise SpecViolation(
            f"dataset format {component.name!r} returned {type(dataset).__name__} from open(); "
            "it must return an interlock.Dataset",
            component=component.name,
            requirement="DS-016",
        )
    return dataset


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


def write_format(uri: str | os.PathLike[str], format: str | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> str:
    """The name of the format :func:`write_dataset` would write ``uri`` with, or the
    :class:`DatasetError` it would raise (no format named and none told by the name, a
    read-only format): for callers that must refuse a job before it starts (batch.md)."""
    text = os.fspath(uri)
    fs, path = _filesystem(text, dict(storage_options or {}))
    path = path.rstrip("/") or path
    return format_for_write(format, fs, path, target_kind(fs, path, text), text).name


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


class _InputGuard:
    """The input as a reader whose failures are named as the input's, so that the format is
    not blamed (DS-046); the first failure is kept in ``failure``, for formats whose library
    consumes the stream and reports an error of its own."""

    def __init__(self, source: pa.RecordBatchReader, uri: str) -> None:
        import pyarrow as pa

        self.failure: BaseException | None = None
        self._source = source
        self._uri = uri
        self.reader = pa.RecordBatchReader.from_batches(source.schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._source
        except InterlockError as exc:
            self.failure = exc
            raise
        except Exception as exc:
            error = DatasetError(
                f"the data being written to {self._uri!r} failed: {type(exc).__name__}: {exc}",
                hint="nothing was written; fix the input and write again",
            )
            error.__cause__ = exc
            self.failure = error
            raise error from exc
        except BaseException as exc:
            self.failure = exc
            raise


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
