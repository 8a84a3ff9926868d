"""Hook implementations of the ``interlock_transformers`` plugin.

Only light imports here: torch and transformers are imported when a model is exported.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.exporters import Exporter
from interlock_transformers.exporter import TransformersExporter


@hookimpl
def interlock_exporters() -> list[Exporter]:
    """The ``transformers`` exporter."""
    return [TransformersExporter()]
