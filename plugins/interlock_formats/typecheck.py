"""Which Arrow types each reference format can hold, checked before anything is written."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from interlock.errors import DatasetError

__all__ = [
    "check_csv_schema",
    "check_ipc_schema",
    "check_parquet_schema",
    "csv_read_back_schema",
    "csv_refusal",
]


def check_parquet_schema(schema: pa.Schema) -> None:
    """Refuse the columns pyarrow cannot map to Parquet (unions, intervals, ...)."""
    for field in schema:
        try:
            pq.ParquetWriter(pa.BufferOutputStream(), pa.schema([field])).close()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(
                f"parquet cannot hold column {field.name!r} of type {field.type} ({exc})",
                hint="cast the column to a type Parquet supports, or write Arrow IPC, which holds "
                "every Arrow type",
            ) from None


def check_ipc_schema(schema: pa.Schema) -> None:
    """Arrow IPC holds every Arrow type; refuse only what pyarrow cannot serialize."""
    for field in schema:
        try:
            pa.ipc.new_file(pa.BufferOutputStream(), pa.schema([field])).close()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(
                f"arrow cannot hold column {field.name!r} of type {field.type} ({exc})",
                hint="cast the column to another type",
            ) from None


def check_csv_schema(schema: pa.Schema) -> None:
    """Refuse the columns whose values CSV text cannot bring back (DS-101)."""
    for field in schema:
        hint = csv_refusal(field.type)
        if hint is not None:
            raise DatasetError(
                f"csv cannot hold column {field.name!r} of type {field.type}",
                hint=hint,
            )


def csv_refusal(data_type: pa.DataType) -> str | None:
    """Why CSV cannot hold ``data_type`` (as a hint), or None when it can."""
    t = pa.types
    if t.is_dictionary(data_type):
        if t.is_string(data_type.value_type) or t.is_large_string(data_type.value_type):
            return None
        return "CSV holds dictionaries of strings only; cast the column to its value type"
    if (
        t.is_null(data_type)
        or t.is_boolean(data_type)
        or t.is_integer(data_type)
        or t.is_floating(data_type)
        or t.is_string(data_type)
        or t.is_large_string(data_type)
        or t.is_date(data_type)
        or t.is_timestamp(data_type)
        or t.is_duration(data_type)
    ):
        return None
    if t.is_fixed_size_list(data_type) and not t.is_nested(data_type.value_type):
        if csv_refusal(data_type.value_type) is None:
            return None  # one column per element under flatten_lists (DS-106)
    if t.is_list(data_type) or t.is_large_list(data_type) or t.is_list_view(data_type) or (
        t.is_large_list_view(data_type)
    ):
        return ("CSV has no nested values, and only a fixed-size list can be written one "
                "column per element (flatten_lists=True); write Parquet or Arrow IPC, which "
                "keep lists")
    if t.is_nested(data_type):
        return ("CSV has no nested values; write Parquet or Arrow IPC, or flatten the column "
                "(flatten_lists=True writes a fixed-size list of numbers one column per element)")
    if t.is_decimal(data_type):
        return "CSV reads decimals back as float64; cast to pa.string() to keep exact digits"
    if t.is_time(data_type):
        return "CSV reads times back as text; cast the column to pa.string()"
    if (
        t.is_binary(data_type)
        or t.is_large_binary(data_type)
        or t.is_fixed_size_binary(data_type)
        or t.is_binary_view(data_type)
    ):
        return "CSV holds text only; encode the bytes as base64 or hex strings"
    if t.is_string_view(data_type):
        return "cast the column to pa.string()"
    return "cast the column to a text, number, boolean, date or timestamp type"


def csv_read_back_schema(schema: pa.Schema) -> pa.Schema:
    """The types that columns of ``schema`` have once written as CSV and read back (DS-105),
    for a column with at least one value (one of nulls only reads back as ``null``); a
    fixed-size list column as its element columns (DS-106)."""
    from interlock_formats.flatten import flattened_schema

    flat = flattened_schema(schema)
    return pa.schema([field.with_type(_csv_read_type(field.type)) for field in flat])


def _csv_read_type(data_type: pa.DataType) -> pa.DataType:
    t = pa.types
    if t.is_integer(data_type) or t.is_duration(data_type):
        return pa.int64()
    if t.is_floating(data_type):
        return pa.float64()
    if t.is_dictionary(data_type) or t.is_large_string(data_type):
        return pa.string()
    if t.is_date(data_type):
        return pa.date32()
    if t.is_timestamp(data_type):
        unit = "s" if data_type.unit == "s" else "ns"
        return pa.timestamp(unit, None if data_type.tz is None else "UTC")
    return data_type
