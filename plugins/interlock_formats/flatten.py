"""Fixed-size list columns as one CSV column per element (DS-106).

A ``fixed_size_list<T>[k]`` column ``name`` becomes the ``k`` columns ``name_0`` ...
``name_{k-1}`` in its place, element ``i`` of each row in ``name_i``; a null list gives nulls
in all ``k``. Batches are flattened as the writer reads them, with ``pyarrow.compute``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from interlock.errors import DatasetError

__all__ = ["flattened_reader", "flattened_schema", "list_columns", "refuse_list_columns"]


def list_columns(schema: pa.Schema) -> list[pa.Field]:
    """The fixed-size list columns of ``schema``."""
    return [field for field in schema if pa.types.is_fixed_size_list(field.type)]


def refuse_list_columns(schema: pa.Schema) -> None:
    """Refuse a fixed-size list column when ``flatten_lists`` is off, naming the option."""
    for field in list_columns(schema):
        size = field.type.list_size
        raise DatasetError(
            f"csv cannot hold column {field.name!r} of type {field.type} without "
            "flatten_lists",
            hint=f"pass flatten_lists=True to write it as {size} columns "
            f"{_element_names(field)}, or write Parquet or Arrow IPC, which keep lists",
        )


def flattened_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with each fixed-size list column replaced by its element columns."""
    fields: list[pa.Field] = []
    for field in schema:
        if not pa.types.is_fixed_size_list(field.type):
            fields.append(field)
            continue
        element = field.type.value_type
        fields.extend(pa.field(f"{field.name}_{i}", element) for i in range(field.type.list_size))
    names = [field.name for field in fields]
    taken = sorted({name for name in names if names.count(name) > 1})
    if taken:
        raise DatasetError(
            f"csv cannot flatten the list columns: {', '.join(map(repr, taken))} would be the "
            "name of two columns (a list column 'x' becomes 'x_0', 'x_1', ...)",
            hint="rename the column that has an element column's name",
        )
    return pa.schema(fields, metadata=schema.metadata)


def flattened_reader(data: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """``data`` with its fixed-size list columns flattened, batch by batch."""
    schema = flattened_schema(data.schema)
    return pa.RecordBatchReader.from_batches(schema, _batches(data, schema))


def _batches(data: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for batch in data:
        columns: list[pa.Array] = []
        for column in batch.columns:
            if pa.types.is_fixed_size_list(column.type):
                columns.extend(pc.list_element(column, i) for i in range(column.type.list_size))
            else:
                columns.append(column)
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _element_names(field: pa.Field) -> str:
    size = field.type.list_size
    shown = [f"{field.name}_{i}" for i in range(min(size, 2))]
    if size > 3:
        shown.append("...")
    if size > 2:
        shown.append(f"{field.name}_{size - 1}")
    return ", ".join(shown)
