"""Hook implementations of the ``interlock_xgboost`` plugin.

Only light imports here: xgboost, onnxmltools and onnxruntime are imported when a model is
exported.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.exporters import Exporter
from interlock_xgboost.exporter import XGBoostExporter


@hookimpl
def interlock_exporters() -> list[Exporter]:
    """The ``xgboost`` exporter."""
    return [XGBoostExporter()]
