"""Hook implementations of the ``interlock_lightgbm`` plugin.

Only light imports here: lightgbm, onnxmltools and onnxruntime are imported when a model is
exported.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.exporters import Exporter
from interlock_lightgbm.exporter import LightGBMExporter


@hookimpl
def interlock_exporters() -> list[Exporter]:
    """The ``lightgbm`` exporter."""
    return [LightGBMExporter()]
