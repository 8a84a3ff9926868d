"""CSV text of record batches, column by column with ``pyarrow.compute`` (DS-102, DS-104).

pyarrow's CSV writer prints the float 1.0 as ``1``, which its reader then takes for an
integer, so a float64 column read back as int64. This encoder writes what pyarrow's writer
writes for every other type (each value cast to text, string values quoted) and gives every
float a decimal point or an exponent: ``1.0``, ``2.5``, ``1e+20``, ``nan``, ``inf``. Each batch
becomes one buffer of lines, with no Python loop per value or row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interlock.errors import DatasetError

__all__ = ["csv_header", "csv_lines"]

# A float printed as a bare integer ("1", "-0"): the only text that reads back as an integer.
_INTEGRAL = r"^(-?[0-9]+)$"
_INT64_MAX = 2**63 - 1


def csv_header(schema: pa.Schema) -> bytes:
    """The header row: every column name quoted, as pyarrow's writer quotes them."""
    if not schema.names:
        return b""
    return (",".join(_quoted(name) for name in schema.names) + "\n").encode()


def csv_lines(batch: pa.RecordBatch) -> pa.Buffer | None:
    """The rows of ``batch`` as CSV lines, each ending with ``\\n``, in one buffer (None for a
    batch without rows or columns)."""
    if batch.num_rows == 0 or batch.num_columns == 0:
        return None
    names = batch.schema.names
    texts = [_field_text(column, name) for column, name in zip(batch.columns, names)]
    row = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, _text(","))
    lines = pc.binary_join_element_wise(row, _text("\n"), _text(""))
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return data.slice(int(bounds[0]), int(bounds[-1] - bounds[0]))


def _field_text(column: pa.Array, name: str) -> pa.Array:
    """Each value of ``column`` as its CSV field: a large_string array without nulls."""
    data_type = column.type
    if pa.types.is_dictionary(data_type):
        column = column.cast(data_type.value_type)
        data_type = column.type
    if pa.types.is_null(data_type):
        return pc.fill_null(pa.nulls(len(column), pa.large_string()), "")
    if pa.types.is_timestamp(data_type) and data_type.tz is not None:
        # In UTC ("...Z"): a local time's offset is printed in whole minutes, which shifts
        # instants in zones whose historical offsets have seconds (Paris before 1911).
        column = column.cast(pa.timestamp(data_type.unit, "UTC"))
    if pa.types.is_uint64(data_type):
        _check_fits_int64(column, name)
    text = pc.cast(column, pa.large_string())
    if pa.types.is_floating(data_type):
        text = pc.replace_substring_regex(text, pattern=_INTEGRAL, replacement=r"\1.0")
    elif pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        doubled = pc.replace_substring(text, pattern='"', replacement='""')
        text = pc.binary_join_element_wise(_text('"'), doubled, _text('"'), _text(""))
    return pc.fill_null(text, "")


def _check_fits_int64(column: pa.Array, name: str) -> None:
    """CSV reads integers as int64, so a larger uint64 would come back as a rounded float."""
    largest = pc.max(column).as_py()
    if largest is not None and largest > _INT64_MAX:
        raise DatasetError(
            f"csv cannot hold value {largest} of uint64 column {name!r}: CSV integers read "
            "back as int64, and values above 2**63-1 would come back as rounded floats",
            hint="write the dataset as Parquet or Arrow IPC, which keep uint64 values exactly",
        )


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
