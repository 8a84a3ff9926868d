"""The ``delta`` dataset format component: Delta Lake tables through deltalake (delta-rs).

A Delta table is a directory of Parquet files and a ``_delta_log`` transaction log; the
component claims such directories (dataset.md DS-017), reads a version of the table (time
travel by ``version=`` or ``timestamp=``) and commits writes through the log itself
(``transactional``, DS-120..DS-127, DS-130..DS-137). Light to import: deltalake, pyarrow and
pydantic are loaded inside the methods.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, ClassVar

from interlock.datasets import Dataset, DatasetFormat
from interlock.errors import DatasetError
from interlock.plugins import FALLBACK_PRIORITY

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem
    from pydantic import BaseModel

__all__ = ["DeltaFormat"]

#: The directory that makes a directory a Delta table.
DELTA_LOG = "_delta_log"


class DeltaFormat(DatasetFormat):
    """Delta Lake tables: versioned, partitioned, written by atomic commits to their log."""

    name: ClassVar[str] = "delta"
    extensions: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "read",
            "write",
            "append",
            "transactional",
            "projection",
            "filter",
            "shards:row_groups",
            "types:binary",
            "types:nested",
            "types:dictionary",
            "types:large",
        }
    )
    priority: ClassVar[int] = FALLBACK_PRIORITY
    description: ClassVar[str] = "Delta Lake tables (deltalake), with time travel"

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_delta.options import DeltaWriteOptions

        return DeltaWriteOptions

    @property
    def read_options_model(self) -> type[BaseModel]:
        from interlock_delta.options import DeltaReadOptions

        return DeltaReadOptions

    def claims_directory(self, path: str, filesystem: AbstractFileSystem) -> bool:
        """A directory is a Delta table when it holds ``_delta_log/``."""
        return bool(filesystem.isdir(posixpath.join(path.rstrip("/"), DELTA_LOG)))

    def open(
        self, path: str, filesystem: AbstractFileSystem, *, uri: str, options: Any = None
    ) -> Dataset:
        """Open the table's latest version, or the one ``options`` travel to."""
        from interlock_delta.dataset import open_table

        return open_table(self.name, path, filesystem, uri=uri, options=options)

    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: Any,
    ) -> None:
        """Never called for a transactional format: interlock's core calls :meth:`commit`."""
        raise DatasetError(
            "the delta format commits writes to the table's log itself and cannot write a "
            "staged copy",
            hint="write with interlock.write_dataset(data, uri, format='delta')",
        )

    def commit(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        uri: str,
        mode: str,
        options: Any,
    ) -> None:
        """Write ``data`` as a new commit of the table at ``path`` (created if missing)."""
        from interlock_delta.writing import commit_table

        commit_table(data, path, filesystem, uri=uri, mode=mode, options=options)

    def read_back_schema(self, schema: pa.Schema) -> pa.Schema:
        """Delta's read-back types (DS-134): wider signed integers, no large or dictionary
        types, microsecond timestamps."""
        from interlock_delta.types import read_back_schema

        return read_back_schema(schema)

    def check_schema(self, schema: pa.Schema) -> None:
        from interlock_delta.types import check_delta_schema

        check_delta_schema(schema)
