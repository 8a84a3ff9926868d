"""A kit for exporters of tabular models (gradient-boosted trees and the like): from an export
sample to the Arrow columns that feed the model's feature matrix (EXP-030 to EXP-035), the glue
that feeds those columns into a converted graph and names its outputs, and the parity check
before saving (EXP-051). The xgboost and lightgbm exporters are built on it; a vendor's tabular
exporter may be too.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "InputGroup": "_sample",
    "InputLayout": "_sample",
    "group_inputs": "_sample",
    "layout_from_sample": "_sample",
    "rows_of": "_sample",
    "ensure_default_opset": "_graph",
    "feed_from_groups": "_graph",
    "shape_outputs": "_graph",
    "check_parity": "_parity",
    "TreeExporter": "_exporter",
    "TreeModel": "_exporter",
    "TreeExportOptions": "_options",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.exporters.tabular._sample import (
        InputGroup as InputGroup,
        InputLayout as InputLayout,
        group_inputs as group_inputs,
        layout_from_sample as layout_from_sample,
        rows_of as rows_of,
    )
    from interlock.exporters.tabular._graph import (
        ensure_default_opset as ensure_default_opset,
        feed_from_groups as feed_from_groups,
        shape_outputs as shape_outputs,
    )
    from interlock.exporters.tabular._parity import (
        check_parity as check_parity,
    )
    from interlock.exporters.tabular._exporter import (
        TreeExporter as TreeExporter,
        TreeModel as TreeModel,
    )
    from interlock.exporters.tabular._options import (
        TreeExportOptions as TreeExportOptions,
    )
