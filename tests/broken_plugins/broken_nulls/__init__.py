"""A dataset format that drops nulls: it writes 0, "" or False where a value is missing.

Breaks DS-071 (every value written reads back, nulls included). Otherwise it is the reference
Arrow IPC format.
"""

from __future__ import annotations

from typing import Any

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class NullDroppingFormat(ArrowIpcFormat):
    name = "nulldrop"
    extensions = (".nulldrop",)
    priority = 0
    description = "Arrow IPC that fills nulls on write (deliberately broken)"

    def write(self, data: Any, path: str, filesystem: Any, *, options: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        def fill(column: Any) -> Any:
            kind = column.type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind):
                return pc.fill_null(column, 0)
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                return pc.fill_null(column, "")
            if pa.types.is_boolean(kind):
                return pc.fill_null(column, False)
            return column

        batches = (
            pa.RecordBatch.from_arrays([fill(c) for c in batch.columns], schema=batch.schema)
            for batch in data
        )
        filled = pa.RecordBatchReader.from_batches(data.schema, batches)
        super().write(filled, path, filesystem, options=options)


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [NullDroppingFormat()]
