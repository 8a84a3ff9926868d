"""A plugin that imports NumPy and pyarrow when it is loaded, rather than when its format is
first used.

Breaks PLG-006 (a plugin module imports only light modules). Its format is the reference Arrow
IPC format under another name.
"""

from __future__ import annotations

import numpy  # noqa: F401  - the broken part: a heavy import at module level
import pyarrow  # noqa: F401

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class EagerFormat(ArrowIpcFormat):
    name = "eager"
    extensions = (".eager",)
    priority = 0
    description = "Arrow IPC from a plugin with heavy top-level imports (deliberately broken)"


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [EagerFormat()]
