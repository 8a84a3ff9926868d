"""A dataset format that buffers its output in a ``.partial`` file beside the target, outside
the staging location it is given, and leaves it there when the write fails.

Breaks DS-055 (a format writes only inside the staging location; only the core moves data to
the URI): a failed write leaves a file behind, outside the staging directory that the core
removes (DS-057). A write that succeeds is the reference Arrow IPC format's.
"""

from __future__ import annotations

import posixpath
from typing import Any

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat

_STAGING = ".interlock-staging-"


class PartialFileFormat(ArrowIpcFormat):
    name = "partialfile"
    extensions = (".partialfile",)
    priority = 0
    description = "Arrow IPC leaving a .partial file on failure (deliberately broken)"

    def write(self, data: Any, path: str, filesystem: Any, *, options: dict[str, Any]) -> None:
        import pyarrow as pa

        # The staging directory is ".<target>.interlock-staging-<hex>" next to the target: the
        # broken part is guessing the target from it and writing beside it.
        staging = path.rstrip("/").rsplit("/", 1)[0]
        parent, hidden = posixpath.split(staging)
        partial = f"{parent}/{hidden[1:].split(_STAGING)[0]}.partial"
        batches = []
        with filesystem.open(partial, "wb") as out:
            for batch in data:
                out.write(batch.serialize().to_pybytes())
                batches.append(batch)
        filesystem.rm(partial)
        reader = pa.RecordBatchReader.from_batches(data.schema, batches)
        super().write(reader, path, filesystem, options=options)


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [PartialFileFormat()]
