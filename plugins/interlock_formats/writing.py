"""Streaming writers of the reference formats: one file, or a directory of part files.

Batches are written as they arrive; only Parquet buffers, up to one row group. The core hands
us a staging path and publishes it afterwards, so a failure here needs no cleanup beyond
closing what we opened.
"""

from __future__ import annotations

import contextlib
import posixpath
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from pydantic import ValidationError

from interlock.errors import DatasetError
from interlock_formats.options import (
    CsvWriteOptions,
    IpcWriteOptions,
    ParquetWriteOptions,
    WriteOptions,
)
from interlock_formats.reading import arrow_filesystem, has_extension

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from interlock.datasets import DatasetFormat

__all__ = ["write_csv", "write_ipc", "write_parquet"]

# Parquet flushes a row group early once this much data is buffered, to bound memory.
_PARQUET_BUFFER_BYTES = 128 << 20

_Options = TypeVar("_Options", bound=WriteOptions)


class _FileWriter(Protocol):
    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def write_parquet(
    component: DatasetFormat,
    data: pa.RecordBatchReader,
    path: str,
    fs: AbstractFileSystem,
    options: dict[str, Any],
) -> None:
    """Write ``data`` as Parquet at ``path``."""
    opts = _validated(ParquetWriteOptions, options, component.name)
    _write(component, data, path, fs, opts, lambda sink, schema: _ParquetFile(sink, schema, opts))


def write_ipc(
    component: DatasetFormat,
    data: pa.RecordBatchReader,
    path: str,
    fs: AbstractFileSystem,
    options: dict[str, Any],
) -> None:
    """Write ``data`` as Arrow IPC files at ``path``."""
    opts = _validated(IpcWriteOptions, options, component.name)
    _write(component, data, path, fs, opts, lambda sink, schema: _IpcFile(sink, schema, opts))


def write_csv(
    component: DatasetFormat,
    data: pa.RecordBatchReader,
    path: str,
    fs: AbstractFileSystem,
    options: dict[str, Any],
) -> None:
    """Write ``data`` as CSV at ``path``."""
    opts = _validated(CsvWriteOptions, options, component.name)
    _write(component, data, path, fs, opts, _CsvFile)


def _validated(model: type[_Options], options: dict[str, Any], format_name: str) -> _Options:
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise DatasetError(
            f"invalid {format_name} write option(s): {problems}",
            hint=f"{format_name} accepts: {', '.join(sorted(model.model_fields))}",
        ) from None


def _write(
    component: DatasetFormat,
    data: pa.RecordBatchReader,
    path: str,
    fs: AbstractFileSystem,
    opts: WriteOptions,
    open_writer: Callable[[pa.NativeFile, pa.Schema], _FileWriter],
) -> None:
    arrow_fs = arrow_filesystem(fs)
    schema = data.schema
    if has_extension(posixpath.basename(path), component.extensions):
        if opts.max_rows_per_file is not None:
            raise DatasetError(
                "max_rows_per_file applies to directory datasets, not to a single file",
                hint="write to a URI without a file extension to get part files",
            )
        with _OpenFile(arrow_fs, path, schema, open_writer) as writer:
            for batch in data:
                writer.write(batch)
        return

    fs.makedirs(path, exist_ok=True)
    # Time first so that a directory's files sort in the order they were appended (DS-044).
    prefix = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
    extension = component.extensions[0]
    limit = opts.max_rows_per_file
    index = 0

    def next_file() -> _OpenFile:
        nonlocal index
        name = f"{prefix}-{index:05d}{extension}"
        index += 1
        return _OpenFile(arrow_fs, posixpath.join(path, name), schema, open_writer)

    current = next_file()
    writer = current.__enter__()
    rows_in_file = 0
    try:
        for batch in data:
            while batch.num_rows:
                if limit is not None and rows_in_file >= limit:
                    current.__exit__(None, None, None)
                    current = next_file()
                    writer = current.__enter__()
                    rows_in_file = 0
                take = batch.num_rows if limit is None else min(batch.num_rows, limit - rows_in_file)
                writer.write(batch.slice(0, take))
                rows_in_file += take
                batch = batch.slice(take)
    except BaseException as exc:
        current.__exit__(type(exc), exc, exc.__traceback__)
        raise
    current.__exit__(None, None, None)


class _OpenFile:
    """An output stream and a format writer on it; closes both, in order, whatever happens."""

    def __init__(
        self,
        arrow_fs: Any,
        path: str,
        schema: pa.Schema,
        open_writer: Callable[[pa.NativeFile, pa.Schema], _FileWriter],
    ) -> None:
        self._arrow_fs = arrow_fs
        self._path = path
        self._schema = schema
        self._open_writer = open_writer
        self._stream: pa.NativeFile | None = None
        self._writer: _FileWriter | None = None

    def __enter__(self) -> _FileWriter:
        self._stream = self._arrow_fs.open_output_stream(self._path, compression=None)
        self._writer = self._open_writer(self._stream, self._schema)
        return self._writer

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        try:
            if self._writer is not None:
                if error is None:
                    self._writer.close()
                else:
                    # Release the writer without caring for the file: the core discards it.
                    with contextlib.suppress(Exception):
                        self._writer.abort()
        finally:
            self._writer = None
            if self._stream is not None:
                self._stream.close()
                self._stream = None


class _ParquetFile:
    def __init__(self, sink: pa.NativeFile, schema: pa.Schema, opts: ParquetWriteOptions) -> None:
        self._schema = schema
        self._writer = pq.ParquetWriter(
            sink,
            schema,
            compression=opts.compression,
            compression_level=opts.compression_level,
        )
        self._row_group = opts.row_group_size
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0
        self._bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._rows >= self._row_group:
            self._flush(whole_groups_only=True)
        elif self._bytes >= _PARQUET_BUFFER_BYTES:
            self._flush(whole_groups_only=False)

    def _flush(self, *, whole_groups_only: bool) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self._schema)
        keep = table.num_rows % self._row_group if whole_groups_only else 0
        self._writer.write_table(table.slice(0, table.num_rows - keep), row_group_size=self._row_group)
        rest = table.slice(table.num_rows - keep)
        self._pending = rest.to_batches() if keep else []
        self._rows = keep
        self._bytes = rest.nbytes if keep else 0

    def close(self) -> None:
        self._flush(whole_groups_only=False)
        self._writer.close()

    def abort(self) -> None:
        self._pending = []
        self._writer.close()


class _IpcFile:
    def __init__(self, sink: pa.NativeFile, schema: pa.Schema, opts: IpcWriteOptions) -> None:
        options = pa.ipc.IpcWriteOptions(
            compression=None if opts.compression == "none" else opts.compression,
            emit_dictionary_deltas=True,
        )
        self._writer = pa.ipc.new_file(sink, schema, options=options)
        self._dictionaries = _DictionaryUnifier(schema)

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self._writer.write_batch(self._dictionaries.apply(batch))
        except pa.ArrowInvalid as exc:
            raise DatasetError(
                f"cannot write a batch as Arrow IPC: {exc}",
                hint="nested dictionary columns must keep one dictionary across batches; "
                "cast them to their value type",
            ) from exc

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.close()


class _CsvFile:
    def __init__(self, sink: pa.NativeFile, schema: pa.Schema) -> None:
        # "needed" quotes every string value and no null, which the reader relies on (DS-102).
        options = pcsv.WriteOptions(include_header=True, quoting_style="needed")
        self._writer = pcsv.CSVWriter(sink, schema, write_options=options)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.close()


class _DictionaryUnifier:
    """Rewrites top-level dictionary columns so that each batch's dictionary extends the
    previous one: an IPC file holds one dictionary per column, growing only by deltas."""

    def __init__(self, schema: pa.Schema) -> None:
        self._positions = [i for i, f in enumerate(schema) if pa.types.is_dictionary(f.type)]
        self._known: dict[int, pa.Array] = {}

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self._positions:
            return batch
        columns = list(batch.columns)
        for position in self._positions:
            column = columns[position]
            known = self._known.get(position)
            dictionary = column.dictionary
            if known is None or _extends(dictionary, known):
                self._known[position] = dictionary
                continue
            columns[position] = self._remap(position, column, known, batch.schema.field(position))
        return pa.RecordBatch.from_arrays(columns, schema=batch.schema)

    def _remap(
        self, position: int, column: pa.DictionaryArray, known: pa.Array, field: pa.Field
    ) -> pa.DictionaryArray:
        import pyarrow.compute as pc

        dictionary = column.dictionary
        missing = dictionary.filter(pc.invert(pc.is_in(dictionary, value_set=known)))
        merged = pa.concat_arrays([known, pc.unique(missing)]) if len(missing) else known
        mapping = pc.index_in(dictionary, value_set=merged)
        try:
            indices = mapping.take(column.indices).cast(field.type.index_type)
        except pa.ArrowInvalid as exc:
            raise DatasetError(
                f"column {field.name!r} has more distinct values than its {field.type.index_type} "
                "dictionary indices can address",
                hint=f"cast it to pa.dictionary(pa.int32(), {field.type.value_type})",
            ) from exc
        self._known[position] = merged
        return pa.DictionaryArray.from_arrays(indices, merged, ordered=field.type.ordered)


def _extends(dictionary: pa.Array, known: pa.Array) -> bool:
    return len(dictionary) >= len(known) and dictionary.slice(0, len(known)).equals(known)
