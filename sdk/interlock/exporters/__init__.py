"""Exporters: the exporter interface and exporting a framework model to an artifact.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "ExportedModel": "_interfaces",
    "Exporter": "_interfaces",
    "choose_exporter": "_export",
    "export": "_export",
    "export_model": "_export",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.exporters._interfaces import (
        ExportedModel as ExportedModel,
        Exporter as Exporter,
    )
    from interlock.exporters._export import (
        choose_exporter as choose_exporter,
        export as export,
        export_model as export_model,
    )
