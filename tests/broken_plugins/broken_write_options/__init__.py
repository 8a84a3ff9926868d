"""A dataset format that silently ignores the write options it is given, unknown ones included.

Breaks DS-045 (a format validates its write options and refuses unknown ones with
``DatasetError``). Otherwise it is the reference Arrow IPC format.
"""

from __future__ import annotations

from typing import Any

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class OptionsIgnoringFormat(ArrowIpcFormat):
    name = "ignoresoptions"
    extensions = (".ignoresoptions",)
    priority = 0
    description = "Arrow IPC that ignores every write option (deliberately broken)"

    def parse_options(self, options: Any) -> Any:
        return super().parse_options({})  # the broken part: whatever was given is dropped


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [OptionsIgnoringFormat()]
