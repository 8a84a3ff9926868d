"""Batch prediction: the executor interface and predict_dataset.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "LINEAGE_METADATA_KEY": "_interfaces",
    "BatchJob": "_interfaces",
    "Executor": "_interfaces",
    "LINEAGE_VERSION": "_predict",
    "WRITE_MODES": "_predict",
    "predict_dataset": "_predict",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.batch._interfaces import (
        BatchJob as BatchJob,
        Executor as Executor,
        LINEAGE_METADATA_KEY as LINEAGE_METADATA_KEY,
    )
    from interlock.batch._predict import (
        LINEAGE_VERSION as LINEAGE_VERSION,
        WRITE_MODES as WRITE_MODES,
        predict_dataset as predict_dataset,
    )
