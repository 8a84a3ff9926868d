"""A dataset format that lets a plain exception escape when a file cannot be read.

Breaks DS-028 (a data file that cannot be read raises ``DatasetError`` naming it); the core
reports the escaped exception as a ``PluginError`` instead. Otherwise it is the reference Arrow
IPC format.
"""

from __future__ import annotations

from typing import Any

from interlock import Dataset, DatasetError, DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class CarelessFormat(ArrowIpcFormat):
    name = "careless"
    extensions = (".careless",)
    priority = 0
    description = "Arrow IPC raising plain exceptions for unreadable files (deliberately broken)"

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> Dataset:
        try:
            return super().open(path, filesystem, uri=uri, options=options)
        except DatasetError as exc:
            raise RuntimeError(f"arrow decode failure: {exc.__cause__}") from None


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [CarelessFormat()]
