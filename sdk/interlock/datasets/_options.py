"""Write options that the file-format base understands, for formats' options models to extend."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FileWriteOptions"]


class FileWriteOptions(BaseModel):
    """Options that :class:`~interlock.datasets.FileFormat` acts on when a format's
    :attr:`~interlock.datasets.DatasetFormat.options_model` subclasses this model.

    ``max_rows_per_file``: directory datasets only; the base starts a new part file after this
    many rows (default: one part file per write). Given for a single-file target it is refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows_per_file: int | None = Field(default=None, gt=0)
