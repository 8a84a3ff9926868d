"""A dataset format whose fingerprint changes on every call (it hashes the time too).

Breaks DS-060 (the fingerprint is the SHA-256 of the canonical listing of the files' paths and
contents, and nothing else); the checks of DS-062 that follow are blocked by it. Otherwise it is
the reference Arrow IPC format.
"""

from __future__ import annotations

import hashlib
import time
from functools import cache
from typing import Any

from interlock import Dataset, DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


@cache
def _dataset_class() -> type[Dataset]:
    # Built on first use: the reference dataset class imports pyarrow (PLG-006).
    from interlock.datasets import PyArrowDataset

    class UnstableFingerprintDataset(PyArrowDataset):
        def fingerprint(self) -> str:
            salted = f"{super().fingerprint()}:{time.time_ns()}"  # the broken part
            return "sha256:" + hashlib.sha256(salted.encode()).hexdigest()

    return UnstableFingerprintDataset


class UnstableFingerprintFormat(ArrowIpcFormat):
    name = "unstablefp"
    extensions = (".unstablefp",)
    priority = 0
    description = "Arrow IPC with a time-dependent fingerprint (deliberately broken)"

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> Dataset:
        dataset = super().open(path, filesystem, uri=uri, options=options)
        dataset.__class__ = _dataset_class()
        return dataset


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [UnstableFingerprintFormat()]
