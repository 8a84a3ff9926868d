"""The dataset interfaces: :class:`DatasetFormat` (the component) and :class:`Dataset`.

A format plugin implements two abstract methods, ``open`` and ``write``; interlock's core turns
URIs into fsspec filesystems, stages writes so that no half-written dataset is ever visible,
and implements the ``mode`` rules on top (spec: dataset.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from interlock._component import Component

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    from fsspec import AbstractFileSystem

__all__ = ["Dataset", "DatasetFormat"]


class Dataset(ABC):
    """An Arrow dataset at a URI, read through a :class:`DatasetFormat`.

    Implementations provide ``schema`` and ``to_reader``; the rest is built on those two and
    may be overridden for speed. A ``Dataset`` exports ``__arrow_c_stream__``, so pyarrow,
    polars, DuckDB and pandas consume it directly.
    """

    #: The URI the dataset was opened from, as the user gave it.
    uri: str
    #: Name of the format component that reads it.
    format_name: str

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The Arrow schema of the whole dataset (partition columns included)."""

    @abstractmethod
    def to_reader(
        self,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
        batch_size: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream the dataset as record batches.

        ``columns`` projects (in the given order), ``filter`` keeps the rows for which the
        expression is true, ``batch_size`` caps the rows per batch. Formats push projection and
        filter down to storage where they can; the result must be the same either way.
        """

    @abstractmethod
    def files(self) -> list[str]:
        """The data files backing the dataset, as paths on its filesystem, sorted."""

    def to_table(
        self, columns: list[str] | None = None, filter: pc.Expression | None = None
    ) -> pa.Table:
        """Read the whole dataset (or a projection / selection) into a table."""
        return self.to_reader(columns=columns, filter=filter).read_all()

    def count_rows(self, filter: pc.Expression | None = None) -> int:
        """Number of rows, optionally of those matching ``filter``."""
        return sum(batch.num_rows for batch in self.to_reader(columns=[], filter=filter))

    @abstractmethod
    def fingerprint(self) -> str:
        """A stable identity of the dataset's content: ``sha256:<hex>`` (see dataset.md DS-040)."""

    @abstractmethod
    def shards(self, n: int) -> list[Dataset]:
        """Split into at most ``n`` datasets that together hold every row exactly once."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Arrow PyCapsule stream export: the whole dataset as one stream."""
        return self.to_reader().__arrow_c_stream__(requested_schema)

    def __repr__(self) -> str:
        return f"<Dataset {self.uri!r} format={self.format_name!r}>"


class DatasetFormat(Component, ABC):
    """A dataset format component (Parquet, Arrow IPC, CSV, ...).

    ``extensions`` lists file suffixes (with the dot, lower case) used to infer the format from
    a URI. Capabilities this spec defines: ``read``, ``write``, ``append``, ``projection``,
    ``filter``, ``partitioned``, and ``types:<group>`` for the Arrow type groups the format
    holds (see dataset.md).
    """

    extensions: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def open(self, path: str, filesystem: AbstractFileSystem, *, uri: str) -> Dataset:
        """Open the file or directory at ``path`` on ``filesystem``.

        Raise :class:`interlock.DatasetError` when it is missing or cannot be read as this
        format.
        """

    @abstractmethod
    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: dict[str, Any],
    ) -> None:
        """Write every batch of ``data`` as a new dataset at ``path`` (a staging location).

        Called by interlock's core, which publishes ``path`` atomically afterwards; the format
        never needs to clean up a partial write itself.
        """

    def check_schema(self, schema: pa.Schema) -> None:
        """Raise :class:`interlock.DatasetError` if this format cannot hold ``schema``.

        Called before anything is written, so an unsupported type costs nothing.
        """
