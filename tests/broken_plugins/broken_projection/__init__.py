"""A dataset format whose datasets ignore ``columns=``: every column comes back, whatever was asked.

Breaks DS-022 and DS-091 (``to_reader(columns=[...])`` yields exactly the named columns, in
order, for every format). Otherwise it is the reference Arrow IPC format.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from interlock import Dataset, DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


@cache
def _dataset_class() -> type[Dataset]:
    # Built on first use: the reference dataset class imports pyarrow (PLG-006).
    from interlock.datasets import PyArrowDataset

    class ColumnsIgnoringDataset(PyArrowDataset):
        def to_reader(
            self, columns: Any = None, filter: Any = None, batch_size: Any = None
        ) -> Any:
            return super().to_reader(None, filter, batch_size)  # the broken part

    return ColumnsIgnoringDataset


class NoProjectionFormat(ArrowIpcFormat):
    name = "noprojection"
    extensions = (".noprojection",)
    priority = 0
    description = "Arrow IPC whose reads ignore columns= (deliberately broken)"

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> Dataset:
        dataset = super().open(path, filesystem, uri=uri, options=options)
        dataset.__class__ = _dataset_class()
        return dataset


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [NoProjectionFormat()]
