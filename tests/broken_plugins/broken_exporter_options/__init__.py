"""An exporter that silently drops the options it does not know instead of refusing them.

Breaks EXP-008 (options are validated before any work; an unknown one raises ``ExportError``
naming it and listing the valid ones). Otherwise it is the reference scikit-learn exporter.
"""

from __future__ import annotations

from typing import Any

from interlock import ExportedModel, Exporter, hookimpl
from interlock_sklearn.exporter import SklearnExporter


class LenientExporter(SklearnExporter):
    name = "lenient"
    priority = 0
    description = "scikit-learn exporter ignoring unknown options (deliberately broken)"

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        known = self.options_model.model_fields
        kept = {key: value for key, value in options.items() if key in known}  # broken
        return super().export(model, sample, kept)


@hookimpl
def interlock_exporters() -> list[Exporter]:
    return [LenientExporter()]
