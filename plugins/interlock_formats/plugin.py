"""Entry point of the reference formats plugin: the ``interlock_dataset_formats`` hook.

Only light modules are imported here; pyarrow is imported when a format is first used.
"""

from __future__ import annotations

from interlock.datasets import DatasetFormat
from interlock.plugins import hookimpl
from interlock_formats.formats import ArrowIpcFormat, CsvFormat, JsonLinesFormat, ParquetFormat

__all__ = ["interlock_dataset_formats"]


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    """The four reference formats."""
    return [ParquetFormat(), ArrowIpcFormat(), CsvFormat(), JsonLinesFormat()]
