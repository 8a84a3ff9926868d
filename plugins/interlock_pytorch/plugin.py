"""Hook implementations of the ``interlock_pytorch`` plugin.

Only light imports here: torch and onnxruntime are imported when a module is exported.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.exporters import Exporter
from interlock_pytorch.exporter import PyTorchExporter


@hookimpl
def interlock_exporters() -> list[Exporter]:
    """The ``pytorch`` exporter."""
    return [PyTorchExporter()]
