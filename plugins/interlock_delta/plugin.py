"""Hook implementations of the ``interlock_delta`` plugin: the ``interlock_dataset_formats`` hook.

Only light modules are imported here; deltalake is imported when a table is first opened or
written.
"""

from __future__ import annotations

from interlock.datasets import DatasetFormat
from interlock.plugins import hookimpl
from interlock_delta.format import DeltaFormat

__all__ = ["interlock_dataset_formats"]


@hookimpl
def interlock_dataset_formats() -> list[DatasetFormat]:
    """The ``delta`` dataset format."""
    return [DeltaFormat()]
