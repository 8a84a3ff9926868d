"""Read and write options of the ``delta`` format (dataset.md DS-131, DS-133)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

__all__ = ["DeltaReadOptions", "DeltaWriteOptions"]


class DeltaReadOptions(BaseModel):
    """``open_dataset(uri, format="delta", version=N)`` or ``timestamp="2026-01-02T03:04:05Z"``.

    ``version`` reads that version of the table; ``timestamp`` (ISO-8601, or a ``datetime``;
    UTC when it has no zone) reads the latest version committed at or before it. Neither:
    the latest version.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: StrictInt | None = Field(default=None, ge=0)
    timestamp: datetime | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DeltaReadOptions:
        if self.version is not None and self.timestamp is not None:
            raise ValueError("give version or timestamp, not both")
        return self


class DeltaWriteOptions(BaseModel):
    """``write_dataset(data, uri, format="delta", partition_by=[...], ...)``.

    ``partition_by``: columns whose values become the table's partition directories (a new
    table, or the same columns as the table's on append); ``target_file_size``: bytes per data
    file; ``name``, ``description``, ``configuration``: the table's metadata and properties.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition_by: list[StrictStr] | None = None
    target_file_size: StrictInt | None = Field(default=None, gt=0)
    name: StrictStr | None = None
    description: StrictStr | None = None
    configuration: dict[StrictStr, StrictStr] | None = None
