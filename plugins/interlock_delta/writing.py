"""Writing a Delta table: every write is one commit through deltalake's ``write_deltalake``
(dataset.md DS-120..DS-123, DS-133, DS-134).

The input streams through deltalake (bounded memory); the commit to ``_delta_log`` is what
makes the rows visible, so a write that fails before it leaves the table's current version as
it was. A failed write that created the table's directory removes it again.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from interlock.errors import DatasetError, InterlockError
from interlock_delta.storage import table_location
from interlock_delta.types import converted, stored_schema

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["SCHEMA_METADATA_KEY", "commit_table"]

#: The commitInfo field that keeps the Arrow schema metadata of a write (Delta tables have no
#: place for it; interlock's lineage travels in it), as a JSON object of strings.
SCHEMA_METADATA_KEY = "interlock.schema_metadata"


def _commit_properties(schema: pa.Schema) -> Any:
    """deltalake's commit properties carrying ``schema``'s metadata, or None without any."""
    from deltalake import CommitProperties

    entries = {}
    for key, value in (schema.metadata or {}).items():
        try:
            entries[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary metadata has no place in the commit's JSON
    if not entries:
        return None
    text = json.dumps(entries, sort_keys=True, separators=(",", ":"))
    return CommitProperties(custom_metadata={SCHEMA_METADATA_KEY: text})


class _Conversion:
    """The input cast to the stored schema; a failure inside the stream is kept, because
    deltalake reports a failing stream as an error of its own."""

    def __init__(self, data: pa.RecordBatchReader) -> None:
        self.failure: BaseException | None = None
        self.schema = stored_schema(data.schema)
        self._data = data
        self.reader = pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from converted(self._data, self.schema)
        except BaseException as exc:
            self.failure = exc
            raise


def _partition_columns(options: Any, schema: pa.Schema, uri: str) -> list[str] | None:
    partition_by = getattr(options, "partition_by", None)
    if not partition_by:
        return None
    for column in partition_by:
        if column not in schema.names:
            raise DatasetError(
                f"partition_by column {column!r} is not a column of the data "
                f"({', '.join(schema.names)})",
                hint="pass partition_by= a list of the data's column names",
            )
    return list(partition_by)


def _check_existing(
    path: str, filesystem: AbstractFileSystem, uri: str, mode: str, partition_by: list[str] | None
) -> bool:
    """Whether a Delta table is already there; refuse anything else that is (DS-127)."""
    if not filesystem.exists(path):
        return False
    if not filesystem.isdir(posixpath.join(path, "_delta_log")):
        raise DatasetError(
            "something that is not a Delta table is there",
            hint="remove it, or write the table to another URI",
        )
    if mode == "append" and partition_by is not None:
        from deltalake import DeltaTable

        table_uri, storage = table_location(path, filesystem, uri)
        existing = list(DeltaTable(table_uri, storage_options=storage).metadata().partition_columns)
        if existing != partition_by:
            raise DatasetError(
                f"cannot append: the table is partitioned by {existing}, not {partition_by}",
                hint=f"pass partition_by={existing} or leave it out when appending",
            )
    return True


def commit_table(
    data: pa.RecordBatchReader,
    path: str,
    filesystem: AbstractFileSystem,
    *,
    uri: str,
    mode: str,
    options: Any,
) -> None:
    """One ``write_deltalake`` commit of ``data`` to the table at ``path``."""
    from deltalake import write_deltalake

    table_uri, storage = table_location(path, filesystem, uri)
    partition_by = _partition_columns(options, data.schema, uri)
    existed = _check_existing(path, filesystem, uri, mode, partition_by)
    conversion = _Conversion(data)
    keywords: dict[str, Any] = {
        "mode": mode,
        "partition_by": partition_by,
        "storage_options": storage,
        "target_file_size": getattr(options, "target_file_size", None),
        "name": getattr(options, "name", None),
        "description": getattr(options, "description", None),
        "configuration": getattr(options, "configuration", None),
        "commit_properties": _commit_properties(data.schema),
    }
    if mode == "overwrite":
        # Overwrite replaces the layout too: the new partitioning is what the options say.
        keywords["schema_mode"] = "overwrite"
        keywords["partition_by"] = partition_by or []
    try:
        write_deltalake(table_uri, conversion.reader, **keywords)
    except BaseException as exc:
        if not existed:
            with contextlib.suppress(Exception):
                if filesystem.exists(path):
                    filesystem.rm(path, recursive=True)
        failure = conversion.failure
        if failure is not None and failure is not exc:
            raise failure from None
        if isinstance(exc, InterlockError | KeyboardInterrupt | SystemExit):
            raise
        raise DatasetError(
            f"deltalake failed: {type(exc).__name__}: {_first_line(exc)}",
            hint="nothing was committed; the table's current version is unchanged",
        ) from exc


def _first_line(exc: BaseException) -> str:
    """deltalake's messages carry a Rust backtrace after the first lines."""
    text = str(exc).strip()
    return text.split("\n   0:", 1)[0].strip()
