"""A dataset format whose writer reads its whole input into memory before writing it.

Breaks DS-041 (the input MUST be streamed: whatever exceeds a bounded buffer reaches storage
while the input is still being produced). Otherwise it is the reference Arrow IPC format, so
every round trip passes: only the memory it holds shows the fault.
"""

from __future__ import annotations

from typing import Any

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class BufferingFormat(ArrowIpcFormat):
    name = "buffering"
    extensions = (".buffering",)
    priority = 0
    description = "Arrow IPC that reads its whole input before writing (deliberately broken)"

    def write(self, data: Any, path: str, filesystem: Any, *, options: dict[str, Any]) -> None:
        import pyarrow as pa

        whole = data.read_all()  # every batch held at once
        reader = pa.RecordBatchReader.from_batches(whole.schema, whole.to_batches())
        super().write(reader, path, filesystem, options=options)


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [BufferingFormat()]
