"""A dataset format whose datasets ignore ``batch_size=``: batches are as large as stored.

Breaks DS-024 (``to_reader(batch_size=n)`` yields no batch of more than ``n`` rows).
Otherwise it is the reference Arrow IPC format.
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

    class BatchSizeIgnoringDataset(PyArrowDataset):
        def to_reader(
            self, columns: Any = None, filter: Any = None, batch_size: Any = None
        ) -> Any:
            valid = type(batch_size) is int and batch_size > 0
            # The broken part: a valid batch size is dropped (invalid ones are still refused).
            return super().to_reader(columns, filter, None if valid else batch_size)

    return BatchSizeIgnoringDataset


class BigBatchFormat(ArrowIpcFormat):
    name = "bigbatch"
    extensions = (".bigbatch",)
    priority = 0
    description = "Arrow IPC whose reads ignore batch_size= (deliberately broken)"

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> Dataset:
        dataset = super().open(path, filesystem, uri=uri, options=options)
        dataset.__class__ = _dataset_class()
        return dataset


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [BigBatchFormat()]
