"""Hook implementations of the ``interlock_sklearn`` plugin.

Only light imports here: scikit-learn and skl2onnx are imported when a model is exported.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.exporters import Exporter
from interlock_sklearn.exporter import SklearnExporter


@hookimpl
def interlock_exporters() -> list[Exporter]:
    """The ``sklearn`` exporter."""
    return [SklearnExporter()]
