"""A PyTorch exporter that restores only the root module's ``training`` flag after exporting,
setting every submodule's to it (``module.train(module.training)``).

Breaks EXP-043 (every submodule's ``training`` flag is as it was afterwards) for a module whose
submodules are not all in the root's mode; a module whose flags all agree is left as it was.
Otherwise it is the reference PyTorch exporter.
"""

from __future__ import annotations

from typing import Any

from interlock import ExportedModel, Exporter, hookimpl
from interlock_pytorch.exporter import PyTorchExporter


class FlagResettingExporter(PyTorchExporter):
    name = "flag-resetting"
    priority = 0
    description = "PyTorch exporter resetting submodules' training flags (deliberately broken)"

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        exported = super().export(model, sample, options)
        model.train(model.training)  # type: ignore[attr-defined]  # broken
        return exported


@hookimpl
def interlock_exporters() -> list[Exporter]:
    return [FlagResettingExporter()]
