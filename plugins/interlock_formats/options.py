"""Write options of the reference formats, passed as ``write_dataset(..., **options)``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from interlock.datasets import FileWriteOptions

__all__ = ["CsvWriteOptions", "IpcWriteOptions", "ParquetWriteOptions"]


class ParquetWriteOptions(FileWriteOptions):
    """Parquet: codec and row-group size (rows are buffered up to one row group)."""

    compression: Literal["none", "snappy", "gzip", "brotli", "zstd", "lz4"] = "snappy"
    compression_level: int | None = None
    row_group_size: int = Field(default=1_048_576, gt=0)


class IpcWriteOptions(FileWriteOptions):
    """Arrow IPC: optional buffer compression."""

    compression: Literal["none", "lz4", "zstd"] = "none"


class CsvWriteOptions(FileWriteOptions):
    """CSV: always a header row, ',' separated, strings quoted, nulls as empty fields.

    ``flatten_lists``: write each ``fixed_size_list<T>[k]`` column ``name`` as the ``k``
    columns ``name_0`` ... ``name_{k-1}`` (DS-106); off, such a column is refused.
    """

    flatten_lists: bool = False
