"""A plugin that misspells its hook: ``interlock_dataset_format`` instead of
``interlock_dataset_formats``.

Breaks PLG-003 (a plugin implements only declared hooks; interlock refuses it, naming the
unknown hook). The plugin does not load, so PLG-001, PLG-002 and PLG-007, which the same case
checks, are blocked by it. Its format would be the reference Arrow IPC format.
"""

from __future__ import annotations

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class MisspelledFormat(ArrowIpcFormat):
    name = "misspelled"
    extensions = (".misspelled",)
    priority = 0


@hookimpl
def interlock_dataset_format() -> list[DatasetFormat]:
    return [MisspelledFormat()]
