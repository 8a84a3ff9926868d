"""Which Arrow types a Delta table holds (dataset.md DS-134), and the types they are written as.

Delta's primitive types have no unsigned integers, half floats, times of day, durations or
256-bit decimals; deltalake stores timestamps in microseconds. Unsigned integers are written in
the next wider signed type, fixed-size lists as lists and nanosecond timestamps as microseconds
(a value that is not a whole microsecond is refused while writing, never truncated).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from interlock.errors import DatasetError

__all__ = ["check_delta_schema", "converted", "read_back_schema", "stored_schema"]

_WIDER = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),
}


def _held(data_type: pa.DataType) -> bool:
    """Whether deltalake stores ``data_type`` (checked against deltalake 1.x)."""
    t = pa.types
    if t.is_dictionary(data_type):
        return _held(data_type.value_type)
    if t.is_list(data_type) or t.is_large_list(data_type) or t.is_fixed_size_list(data_type):
        return _held(data_type.value_type)
    if t.is_struct(data_type):
        return all(_held(data_type.field(i).type) for i in range(data_type.num_fields))
    if t.is_map(data_type):
        return _held(data_type.key_type) and _held(data_type.item_type)
    if t.is_floating(data_type):
        return not t.is_float16(data_type)
    return bool(
        t.is_null(data_type)
        or t.is_boolean(data_type)
        or t.is_integer(data_type)
        or t.is_string(data_type)
        or t.is_large_string(data_type)
        or t.is_string_view(data_type)
        or t.is_binary(data_type)
        or t.is_large_binary(data_type)
        or t.is_fixed_size_binary(data_type)
        or t.is_date(data_type)
        or t.is_timestamp(data_type)
        or t.is_decimal128(data_type)
    )


def check_delta_schema(schema: pa.Schema) -> None:
    """Refuse the first column whose type, at any depth, Delta cannot hold."""
    for field in schema:
        if not _held(field.type):
            raise DatasetError(
                f"delta cannot hold column {field.name!r} of type {field.type}",
                hint="Delta tables have no float16, time32/time64, duration, decimal256, "
                "interval or union types: cast the column (e.g. float16 to float32, "
                "duration to int64, time64 to string) before writing",
            )


def _stored(data_type: pa.DataType) -> pa.DataType:
    t = pa.types
    if data_type in _WIDER:
        return _WIDER[data_type]
    if t.is_timestamp(data_type) and data_type.unit == "ns":
        return pa.timestamp("us", data_type.tz)
    if t.is_fixed_size_list(data_type) or t.is_list(data_type) or t.is_large_list(data_type):
        item = data_type.value_field
        inner = item.with_type(_stored(item.type))
        return pa.large_list(inner) if t.is_large_list(data_type) else pa.list_(inner)
    if t.is_struct(data_type):
        fields = [data_type.field(i) for i in range(data_type.num_fields)]
        return pa.struct([f.with_type(_stored(f.type)) for f in fields])
    if t.is_map(data_type):
        return pa.map_(
            _stored(data_type.key_type),
            data_type.item_field.with_type(_stored(data_type.item_type)),
            keys_sorted=data_type.keys_sorted,
        )
    return data_type


def stored_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with each type replaced by the one it is written as."""
    return pa.schema([f.with_type(_stored(f.type)) for f in schema], metadata=schema.metadata)


def converted(data: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches of ``data`` cast to ``schema`` (from :func:`stored_schema`), safely: a
    value the stored type cannot hold raises :class:`interlock.DatasetError` naming the column."""
    if schema.equals(data.schema):
        yield from data
        return
    for batch in data:
        columns = []
        for field, column in zip(schema, batch.columns, strict=True):
            if column.type.equals(field.type):
                columns.append(column)
                continue
            try:
                columns.append(column.cast(field.type, safe=True))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DatasetError(
                    f"column {field.name!r} of type {column.type} holds a value that Delta's "
                    f"{field.type} cannot hold exactly: {exc}",
                    hint="nothing was committed; cast or round the column before writing",
                ) from exc
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _read_back(data_type: pa.DataType) -> pa.DataType:
    """The type a column of ``data_type`` has when read back from a Delta table (DS-134)."""
    t = pa.types
    if data_type in _WIDER:
        return _WIDER[data_type]
    if t.is_dictionary(data_type):
        return _read_back(data_type.value_type)
    if t.is_large_string(data_type) or t.is_string_view(data_type):
        return pa.string()
    if t.is_large_binary(data_type) or t.is_fixed_size_binary(data_type):
        return pa.binary()
    if t.is_date64(data_type):
        return pa.date32()
    if t.is_timestamp(data_type):
        return pa.timestamp("us", "UTC" if data_type.tz is not None else None)
    if t.is_fixed_size_list(data_type) or t.is_list(data_type) or t.is_large_list(data_type):
        return pa.list_(data_type.value_field.with_type(_read_back(data_type.value_type)))
    if t.is_struct(data_type):
        fields = [data_type.field(i) for i in range(data_type.num_fields)]
        return pa.struct([f.with_type(_read_back(f.type)) for f in fields])
    if t.is_map(data_type):
        return pa.map_(
            _read_back(data_type.key_type),
            data_type.item_field.with_type(_read_back(data_type.item_type)),
        )
    return data_type


def read_back_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as a Delta table reads it back."""
    return pa.schema([f.with_type(_read_back(f.type)) for f in schema])
