"""Comparing Arrow tables the way the dataset cases and the matrix need: by value, NaN equal to NaN, with a
message that names the first difference."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

__all__ = ["cast_back", "table_mismatch"]


class _NaN:
    """NaN, made equal to itself so that rows compare by value."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NaN)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "nan"


def _normalized(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return _NaN()
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_normalized(v) for v in value)
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    return value


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cast_back(read: pa.Table, schema: pa.Schema) -> pa.Table | str:
    """``read`` cast column by column to ``schema`` (the written one), or why it cannot be."""
    columns = []
    for field in schema:
        column = read.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                return (
                    f"column {field.name!r} was written as {field.type} and read back as "
                    f"{read.schema.field(field.name).type}, which does not cast back: {exc}"
                )
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def table_mismatch(written: pa.Table, read: pa.Table) -> str | None:
    """Why ``read`` does not hold the values of ``written`` (None when it does).

    Column names and their order must be equal; types may differ where they cast back to the
    written ones (dataset.md DS-072); values must be equal, nulls in the same places.
    """
    if read.schema.names != written.schema.names:
        return f"columns {read.schema.names} were read back, {written.schema.names} were written"
    if read.num_rows != written.num_rows:
        return f"{read.num_rows} rows were read back, {written.num_rows} were written"
    restored = cast_back(read, written.schema)
    if isinstance(restored, str):
        return restored
    for field in written.schema:
        expected = _normalized(written.column(field.name).to_pylist())
        actual = _normalized(restored.column(field.name).to_pylist())
        if expected != actual:
            row = next(i for i, (e, a) in enumerate(zip(expected, actual)) if e != a)
            return (
                f"column {field.name!r} ({field.type}) row {row}: read back "
                f"{_short(actual[row])}, written {_short(expected[row])}"
            )
    return None
