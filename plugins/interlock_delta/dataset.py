"""Reading a Delta table: a version of it as an :class:`interlock.Dataset` (dataset.md
DS-124, DS-130..DS-132, DS-135..DS-137).

The snapshot's Parquet files are scanned by ``pyarrow.dataset`` as deltalake lays them out
(``DeltaTable.to_pyarrow_dataset``: partition values and the log's file statistics become
each file's guarantee, so a filter skips files without opening them, and Parquet statistics
skip row groups); interlock's :class:`~interlock.datasets.PyArrowDataset` does the reading,
counting and sharding, and this module adds what is Delta's: the files, the row count from the
log, and a fingerprint of the snapshot.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as ds

from interlock.datasets import FINGERPRINT_VERSION, Dataset, PyArrowDataset
from interlock.errors import DatasetError
from interlock_delta.storage import table_location

if TYPE_CHECKING:
    import pyarrow.compute as pc
    from deltalake import DeltaTable
    from fsspec import AbstractFileSystem

__all__ = ["DeltaDataset", "Snapshot", "load_table", "open_table"]


class Snapshot:
    """What identifies the version read: the table's id, the version, each file's size and
    record count (from the log's add actions, keyed by the path relative to the table)."""

    def __init__(
        self,
        table_id: str,
        version: int,
        sizes: dict[str, int],
        records: int | None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.table_id = table_id
        self.version = version
        self.sizes = sizes
        self.records = records
        #: The Arrow schema metadata of the write that made this version, if it had any.
        self.metadata = metadata


class DeltaDataset(Dataset):
    """One version of a Delta table (or a shard of it): ``inner`` reads the snapshot's files."""

    def __init__(
        self,
        *,
        uri: str,
        format_name: str,
        filesystem: AbstractFileSystem,
        path: str,
        inner: PyArrowDataset,
        snapshot: Snapshot,
        whole: bool = True,
    ) -> None:
        super().__init__(uri=uri, format_name=format_name, filesystem=filesystem, path=path)
        self._inner = inner
        self._snapshot = snapshot
        self._whole = whole

    @property
    def table_version(self) -> int:
        """The version of the table this dataset reads."""
        return self._snapshot.version

    @property
    def schema(self) -> pa.Schema:
        """The table's Arrow schema, partition columns included, with the schema metadata of
        the write that made this version (interlock's lineage, for one)."""
        schema = self._inner.schema
        return schema.with_metadata(self._snapshot.metadata) if self._snapshot.metadata else schema

    def to_reader(
        self,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
        batch_size: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream the snapshot; projection and filter are pushed down to pyarrow's scanner."""
        reader = self._inner.to_reader(columns=columns, filter=filter, batch_size=batch_size)
        if not self._snapshot.metadata:
            return reader
        schema = reader.schema.with_metadata(self._snapshot.metadata)
        return pa.RecordBatchReader.from_batches(schema, reader)

    def count_rows(self, filter: pc.Expression | None = None) -> int:
        """From the log's record counts when there is no filter (DS-135)."""
        if filter is None and self._whole and self._snapshot.records is not None:
            return self._snapshot.records
        return self._inner.count_rows(filter=filter)

    def files(self) -> list[str]:
        """The snapshot's data files, as paths on :attr:`filesystem`, sorted."""
        root = self.path.rstrip("/")
        return sorted(posixpath.join(root, relative) for relative in self._inner.files())

    def row_group_selection(self) -> dict[str, list[int]]:
        root = self.path.rstrip("/")
        selection = self._inner.row_group_selection()
        return {posixpath.join(root, relative): ids for relative, ids in selection.items()}

    def fingerprint(self) -> str:
        """The snapshot's identity (DS-124, DS-136): table id, version, files and sizes."""
        selection = self._inner.row_group_selection()
        entries: list[dict[str, Any]] = []
        for relative in self._inner.files():
            entry: dict[str, Any] = {
                "path": relative,
                "size": self._snapshot.sizes.get(relative, -1),
            }
            if relative in selection:
                entry["row_groups"] = sorted(selection[relative])
            entries.append(entry)
        entries.sort(key=lambda e: str(e["path"]))
        listing = {
            "files": entries,
            "format": self.format_name,
            "table": self._snapshot.table_id,
            "table_version": self._snapshot.version,
            "version": FINGERPRINT_VERSION,
        }
        canonical = json.dumps(listing, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def shards(self, n: int) -> list[Dataset]:
        """Contiguous shards at file and row-group boundaries, in the reader's order."""
        parts = self._inner.shards(n)
        if len(parts) == 1 and parts[0] is self._inner:
            return [self]
        return [self._part(part) for part in parts]

    def _part(self, part: Dataset) -> DeltaDataset:
        if not isinstance(part, PyArrowDataset):
            raise TypeError(f"a shard of a pyarrow dataset is {type(part).__name__}")
        return DeltaDataset(
            uri=self.uri,
            format_name=self.format_name,
            filesystem=self.filesystem,
            path=self.path,
            inner=part,
            snapshot=self._snapshot,
            whole=False,
        )

    def __repr__(self) -> str:
        part = "" if self._whole else " (shard)"
        return (
            f"<Dataset {self.uri!r} format={self.format_name!r} "
            f"version={self._snapshot.version}{part}>"
        )


def load_table(
    table_uri: str, storage: dict[str, str] | None, uri: str, options: Any
) -> DeltaTable:
    """The table at ``table_uri``, at the version ``options`` (DeltaReadOptions) ask for."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(table_uri, storage_options=storage)
    except TableNotFoundError as exc:
        raise DatasetError(
            f"{uri!r} is not a Delta table (no readable _delta_log): {exc}",
            hint="open it with its own format (format='parquet', ...), or write a table there "
            "with write_dataset(data, uri, format='delta')",
        ) from exc
    except Exception as exc:
        raise DatasetError(
            f"cannot read the Delta table {uri!r}: {exc}",
            hint="check the URI and storage_options",
        ) from exc
    version = getattr(options, "version", None)
    moment = getattr(options, "timestamp", None)
    if version is not None:
        _travel_to_version(table, version, uri)
    elif moment is not None:
        _travel_to_time(table, moment, uri)
    return table


def _versions(table: DeltaTable) -> list[int]:
    return sorted(int(entry["version"]) for entry in table.history())


def _travel_to_version(table: DeltaTable, version: int, uri: str) -> None:
    if version == table.version():
        return
    held = _versions(table)
    if version not in held:
        shown = (
            f"{held[0]}..{held[-1]}"
            if held and held == list(range(held[0], held[-1] + 1))
            else ", ".join(map(str, held))
        )
        raise DatasetError(
            f"cannot open {uri!r} as delta: version={version} does not exist; the table's "
            f"log holds versions {shown}",
            hint=f"pass version= one of {shown}, or timestamp=",
        )
    try:
        table.load_as_version(version)
    except Exception as exc:
        raise DatasetError(
            f"cannot open {uri!r} as delta at version={version}: {exc}",
            hint="the version's log entry or files may have been removed (VACUUM, log cleanup)",
        ) from exc


def _travel_to_time(table: DeltaTable, moment: datetime, uri: str) -> None:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    history = table.history()
    first = min(int(entry["timestamp"]) for entry in history)
    if moment.timestamp() * 1000 < first:
        first_time = datetime.fromtimestamp(first / 1000, tz=timezone.utc).isoformat()
        raise DatasetError(
            f"cannot open {uri!r} as delta: timestamp={moment.isoformat()} is before the "
            f"table's first commit ({first_time})",
            hint=f"pass a timestamp at or after {first_time}, or version=",
        )
    try:
        table.load_as_version(moment)
    except Exception as exc:
        raise DatasetError(
            f"cannot open {uri!r} as delta at timestamp={moment.isoformat()}: {exc}",
            hint="pass another timestamp, or version=",
        ) from exc


def _commit_metadata(
    filesystem: AbstractFileSystem, path: str, version: int
) -> dict[str, str] | None:
    """The schema metadata that interlock kept in the version's commitInfo (see writing.py),
    read from the version's log file; None when there is none or the file is gone."""
    from interlock_delta.writing import SCHEMA_METADATA_KEY

    commit = posixpath.join(path.rstrip("/"), "_delta_log", f"{version:020d}.json")
    try:
        text = filesystem.cat_file(commit).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        try:
            info = json.loads(line).get("commitInfo")
            if isinstance(info, dict) and isinstance(info.get(SCHEMA_METADATA_KEY), str):
                kept = json.loads(info[SCHEMA_METADATA_KEY])
                if isinstance(kept, dict):
                    return {str(k): str(v) for k, v in kept.items()}
        except (ValueError, AttributeError):
            continue
    return None


def _snapshot(table: DeltaTable) -> Snapshot:
    actions = pa.table(table.get_add_actions(flatten=True))
    paths = [unquote(p) for p in actions.column("path").to_pylist()]
    sizes = dict(zip(paths, actions.column("size_bytes").to_pylist(), strict=True))
    records: int | None = None
    if "num_records" in actions.column_names:
        counts = actions.column("num_records")
        if counts.null_count == 0:
            records = int(sum(counts.to_pylist()))
    return Snapshot(str(table.metadata().id), int(table.version()), sizes, records)


def _pyarrow_dataset(table: DeltaTable, local_root: str | None) -> ds.FileSystemDataset:
    """The snapshot's files as a pyarrow dataset, fragments sorted by path (DS-021, DS-125)."""
    import pyarrow.fs as pafs

    filesystem = (
        pafs.SubTreeFileSystem(local_root, pafs.LocalFileSystem()) if local_root else None
    )
    scanned = table.to_pyarrow_dataset(filesystem=filesystem)
    fragments = sorted(scanned.get_fragments(), key=lambda fragment: fragment.path)
    return ds.FileSystemDataset(
        fragments, schema=scanned.schema, format=scanned.format, filesystem=scanned.filesystem
    )


def open_table(
    format_name: str, path: str, filesystem: AbstractFileSystem, *, uri: str, options: Any
) -> DeltaDataset:
    """Open the version ``options`` name of the table at ``path``."""
    table_uri, storage = table_location(path, filesystem, uri)
    table = load_table(table_uri, storage, uri, options)
    try:
        scanned = _pyarrow_dataset(table, None if "://" in table_uri else path)
        snapshot = _snapshot(table)
        snapshot.metadata = _commit_metadata(filesystem, path, snapshot.version)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot read the Delta table {uri!r}: {exc}",
            hint="the table's log or files may be damaged",
        ) from exc
    inner = PyArrowDataset(
        uri=uri, format_name=format_name, filesystem=filesystem, path=path, dataset=scanned
    )
    return DeltaDataset(
        uri=uri,
        format_name=format_name,
        filesystem=filesystem,
        path=path,
        inner=inner,
        snapshot=snapshot,
    )
