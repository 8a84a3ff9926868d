"""The encoders of the reference formats: one data file each, written batch by batch.

:class:`interlock.datasets.PyArrowFileFormat` decides between a single file and part files,
opens each file as a pyarrow output stream and closes it; these write what goes in it. Only
Parquet buffers, up to one row group.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from interlock.errors import DatasetError
from interlock_formats.options import CsvWriteOptions, IpcWriteOptions, ParquetWriteOptions

__all__ = ["write_csv", "write_ipc", "write_parquet"]

# Parquet flushes a row group early once this much data is buffered, to bound memory.
_PARQUET_BUFFER_BYTES = 128 << 20


def write_parquet(data: pa.RecordBatchReader, sink: Any, opts: ParquetWriteOptions) -> None:
    """Write ``data`` as one Parquet file, in row groups of ``opts.row_group_size`` rows."""
    writer = pq.ParquetWriter(
        sink, data.schema, compression=opts.compression, compression_level=opts.compression_level
    )
    buffer = _RowGroupBuffer(writer, data.schema, opts.row_group_size)
    with _closing_on_failure(writer):
        for batch in data:
            buffer.add(batch)
        buffer.flush(whole_groups_only=False)
    writer.close()


def write_ipc(data: pa.RecordBatchReader, sink: Any, opts: IpcWriteOptions) -> None:
    """Write ``data`` as one Arrow IPC file, dictionaries unified across batches (DS-111)."""
    options = pa.ipc.IpcWriteOptions(
        compression=None if opts.compression == "none" else opts.compression,
        emit_dictionary_deltas=True,
    )
    writer = pa.ipc.new_file(sink, data.schema, options=options)
    dictionaries = _DictionaryUnifier(data.schema)
    with _closing_on_failure(writer):
        for batch in data:
            try:
                writer.write_batch(dictionaries.apply(batch))
            except pa.ArrowInvalid as exc:
                raise DatasetError(
                    f"cannot write a batch as Arrow IPC: {exc}",
                    hint="nested dictionary columns must keep one dictionary across batches; "
                    "cast them to their value type",
                ) from exc
    writer.close()


def write_csv(data: pa.RecordBatchReader, sink: Any, opts: CsvWriteOptions) -> None:
    """Write ``data`` as one CSV file with a header row, batch by batch.

    pyarrow's writer would print the float 1.0 as ``1``, read back as an integer; the encoder
    of :mod:`interlock_formats.csv_text` gives every float a decimal point (DS-104) and quotes
    every string value and no null, which the reader relies on (DS-102). Fixed-size list
    columns are flattened under ``flatten_lists`` and refused otherwise (DS-106).
    """
    from interlock_formats.csv_text import csv_header, csv_lines
    from interlock_formats.flatten import flattened_reader, refuse_list_columns

    if opts.flatten_lists:
        data = flattened_reader(data)
    else:
        refuse_list_columns(data.schema)
    header = csv_header(data.schema)
    if header:
        sink.write(header)
    for batch in data:
        lines = csv_lines(batch)
        if lines is not None:
            sink.write(lines)


@contextlib.contextmanager
def _closing_on_failure(writer: Any) -> Any:
    """Release ``writer`` when writing fails, without caring for the file: the core discards
    the staging directory it is in."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        raise


class _RowGroupBuffer:
    """Batches buffered into whole row groups, or flushed early past a byte budget."""

    def __init__(self, writer: pq.ParquetWriter, schema: pa.Schema, row_group: int) -> None:
        self._writer = writer
        self._schema = schema
        self._row_group = row_group
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0
        self._bytes = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._rows >= self._row_group:
            self.flush(whole_groups_only=True)
        elif self._bytes >= _PARQUET_BUFFER_BYTES:
            self.flush(whole_groups_only=False)

    def flush(self, *, whole_groups_only: bool) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, schema=self._schema)
        keep = table.num_rows % self._row_group if whole_groups_only else 0
        self._writer.write_table(table.slice(0, table.num_rows - keep), row_group_size=self._row_group)
        rest = table.slice(table.num_rows - keep)
        self._pending = rest.to_batches() if keep else []
        self._rows = keep
        self._bytes = rest.nbytes if keep else 0


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
