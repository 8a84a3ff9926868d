"""Datasets: the format interface, bases for file formats, opening and atomically writing datasets.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "DATASET_CAPABILITIES": "_interfaces",
    "FINGERPRINT_VERSION": "_interfaces",
    "Dataset": "_interfaces",
    "DatasetFormat": "_interfaces",
    "compute_fingerprint": "_interfaces",
    "FileFormat": "_file_format",
    "PyArrowFileFormat": "_file_format",
    "FileDataset": "_file_dataset",
    "PyArrowDataset": "_pyarrow_dataset",
    "FileWriteOptions": "_options",
    "MODES": "_io",
    "open_dataset": "_io",
    "write_dataset": "_io",
    "write_format": "_io",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.datasets._interfaces import (
        DATASET_CAPABILITIES as DATASET_CAPABILITIES,
        Dataset as Dataset,
        DatasetFormat as DatasetFormat,
        FINGERPRINT_VERSION as FINGERPRINT_VERSION,
        compute_fingerprint as compute_fingerprint,
    )
    from interlock.datasets._file_dataset import FileDataset as FileDataset
    from interlock.datasets._file_format import (
        FileFormat as FileFormat,
        PyArrowFileFormat as PyArrowFileFormat,
    )
    from interlock.datasets._options import FileWriteOptions as FileWriteOptions
    from interlock.datasets._pyarrow_dataset import PyArrowDataset as PyArrowDataset
    from interlock.datasets._io import (
        MODES as MODES,
        open_dataset as open_dataset,
        write_dataset as write_dataset,
        write_format as write_format,
    )
