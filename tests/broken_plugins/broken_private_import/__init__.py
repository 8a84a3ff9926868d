"""A plugin that reaches into a private module of the core: a helper of it lists data files with
``interlock.datasets._files.find_data_files`` (imported lazily, so the plugin still loads).

Breaks PLG-050 (a plugin imports only the public API). Its format is the reference Arrow IPC
format under another name, so every other case passes.
"""

from __future__ import annotations

from typing import Any

from interlock import DatasetFormat, hookimpl
from interlock_formats.formats import ArrowIpcFormat


class PeekingFormat(ArrowIpcFormat):
    name = "peeking"
    extensions = (".peeking",)
    priority = 0
    description = "Arrow IPC from a plugin that imports a private core module (broken)"


def list_files(*args: Any, **kwargs: Any) -> Any:
    """The plugin's own file listing, borrowed from the core's private module."""
    from interlock.datasets._files import find_data_files  # the broken part: private

    return find_data_files(*args, **kwargs)


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    return [PeekingFormat()]
