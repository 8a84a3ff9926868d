"""Write options of the reference formats, passed as ``write_dataset(..., **options)``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CsvWriteOptions", "IpcWriteOptions", "ParquetWriteOptions", "WriteOptions"]


class WriteOptions(BaseModel):
    """Options every reference format accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Directory datasets only: start a new part file after this many rows (default: one file).
    max_rows_per_file: int | None = Field(default=None, gt=0)


class ParquetWriteOptions(WriteOptions):
    """Parquet: codec and row-group size (rows are buffered up to one row group)."""

    compression: Literal["none", "snappy", "gzip", "brotli", "zstd", "lz4"] = "snappy"
    compression_level: int | None = None
    row_group_size: int = Field(default=1_048_576, gt=0)


class IpcWriteOptions(WriteOptions):
    """Arrow IPC: optional buffer compression."""

    compression: Literal["none", "lz4", "zstd"] = "none"


class CsvWriteOptions(WriteOptions):
    """CSV: always a header row, ',' separated, strings quoted, nulls as empty fields."""
