"""An exporter whose ``can_export`` answers yes for any object, whatever its framework.

Breaks EXP-002 (``can_export`` tells the exporter's own models from the others, from their
type); ``interlock.export`` of a model nobody else handles then reaches this exporter, so the
check of EXP-021 in the same case is blocked. Otherwise it is the reference scikit-learn
exporter.
"""

from __future__ import annotations

from interlock import Exporter, hookimpl
from interlock_sklearn.exporter import SklearnExporter


class GreedyExporter(SklearnExporter):
    name = "greedy"
    priority = 0
    description = "scikit-learn exporter claiming every model (deliberately broken)"

    def can_export(self, model: object) -> bool:
        return True  # the broken part


@hookimpl
def interlock_exporters() -> list[Exporter]:
    return [GreedyExporter()]
