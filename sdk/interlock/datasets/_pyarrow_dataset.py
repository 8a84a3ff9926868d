""":class:`PyArrowDataset`: the dataset of a :class:`~interlock.datasets.PyArrowFileFormat`,
scanned by ``pyarrow.dataset`` (projection and filter push-down, hive partitions, row-group
shards of Parquet files).

Local files are read with pyarrow's native filesystem (the fast path); any other fsspec
filesystem is wrapped with ``pyarrow.fs.PyFileSystem(FSSpecHandler(fs))``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from interlock.datasets._interfaces import Dataset
from interlock.datasets._reader_args import (
    capped,
    checked_batch_size,
    checked_columns,
    checked_filter,
    checked_shard_count,
    contiguous_groups,
    filter_error,
)
from interlock.errors import DatasetError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["PyArrowDataset", "arrow_filesystem"]

_T = TypeVar("_T")


def arrow_filesystem(fs: AbstractFileSystem) -> pafs.FileSystem:
    """The pyarrow filesystem for an fsspec one: native for local files, wrapped otherwise."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(_ClosingFSSpecHandler(fs))


class _ClosingHandle:
    """An fsspec file that closes itself when pyarrow lets go of it.

    pyarrow drops the input files it opens through ``FSSpecHandler`` without closing them;
    for filesystems backed by real files (caches) that leaks descriptors until the garbage
    collector complains.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._handle.close()


class _ClosingFSSpecHandler(pafs.FSSpecHandler):  # type: ignore[misc]
    def open_input_stream(self, path: str) -> pa.PythonFile:
        return self.open_input_file(path)

    def open_input_file(self, path: str) -> pa.PythonFile:
        if not self.fs.isfile(path):
            raise FileNotFoundError(path)
        return pa.PythonFile(_ClosingHandle(self.fs.open(path, mode="rb")), mode="r")


class PyArrowDataset(Dataset):
    """A dataset read through ``pyarrow.dataset``.

    ``dataset`` is the ``pyarrow.dataset.FileSystemDataset`` to scan; ``row_groups`` names the
    files of which it reads only some row groups (a shard), for the fingerprint (DS-061).
    :meth:`scan` builds one from a list of data files.
    """

    def __init__(
        self,
        *,
        uri: str,
        format_name: str,
        filesystem: AbstractFileSystem,
        path: str,
        dataset: ds.FileSystemDataset,
        row_groups: dict[str, list[int]] | None = None,
    ) -> None:
        super().__init__(uri=uri, format_name=format_name, filesystem=filesystem, path=path)
        self._dataset = dataset
        self._row_groups = dict(row_groups or {})
        self._files = sorted({fragment.path for fragment in dataset.get_fragments()})

    @classmethod
    def scan(
        cls,
        files: list[str],
        file_format: ds.FileFormat,
        *,
        uri: str,
        format_name: str,
        filesystem: AbstractFileSystem,
        path: str,
    ) -> PyArrowDataset:
        """The dataset of ``files`` (the single file ``path``, or data files below the
        directory ``path``, whose ``key=value`` directories become columns)."""
        arrow_fs = arrow_filesystem(filesystem)
        try:
            if files == [path]:
                dataset = ds.dataset(files, format=file_format, filesystem=arrow_fs)
            else:
                dataset = ds.dataset(
                    files,
                    format=file_format,
                    filesystem=arrow_fs,
                    partitioning=ds.HivePartitioning.discover(),
                    partition_base_dir=path,
                )
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DatasetError(
                f"cannot read {uri!r} as {format_name}: {exc}",
                hint=f"check that it is a valid {format_name} dataset, or pass format=",
            ) from exc
        return cls(
            uri=uri, format_name=format_name, filesystem=filesystem, path=path, dataset=dataset
        )

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema, partition columns included."""
        return self._dataset.schema

    def files(self) -> list[str]:
        """The data files, sorted."""
        return list(self._files)

    def row_group_selection(self) -> dict[str, list[int]]:
        """Files read only in part (shards cut at row groups), with the row groups read."""
        return {path: list(ids) for path, ids in self._row_groups.items()}

    # -- reading ---------------------------------------------------------------------------

    def to_reader(
        self,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
        batch_size: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream the dataset; projection and filter are pushed down to pyarrow's scanner."""
        scanner = self._scanner(columns, filter, batch_size)
        return pa.RecordBatchReader.from_batches(
            scanner.projected_schema, self._guarded(scanner, batch_size)
        )

    def count_rows(self, filter: pc.Expression | None = None) -> int:
        """Row count; from Parquet metadata when there is no filter."""
        if filter is None and not self._row_groups:
            return int(self._call(self._dataset.count_rows))
        if filter is None:
            # pyarrow counts a row-group subset as its whole file, so count its row groups.
            total = 0
            for fragment in self._dataset.get_fragments():
                if fragment.path in self._row_groups:
                    self._call(fragment.ensure_complete_metadata)
                    total += sum(group.num_rows for group in fragment.row_groups)
                else:
                    total += fragment.count_rows()
            return total
        scanner = self._scanner([], filter, None)
        return sum(batch.num_rows for batch in self._guarded(scanner, None))

    def _scanner(
        self, columns: list[str] | None, filter: pc.Expression | None, batch_size: int | None
    ) -> ds.Scanner:
        options: dict[str, Any] = {}
        selected = checked_columns(self.uri, self.schema, columns)
        if selected is not None:
            options["columns"] = selected
        # pyarrow binds the filter when it builds the scanner; its error is named below.
        expression = checked_filter(self.uri, self.schema, filter, bind=False)
        if expression is not None:
            options["filter"] = expression
        cap = checked_batch_size(self.uri, batch_size)
        if cap is not None:
            options["batch_size"] = cap
        try:
            if self._in_order:
                return ds.Scanner.from_batches(self._ipc_batches(), schema=self.schema,
                                               **options)
            return self._dataset.scanner(**options)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise filter_error(self.uri, self.schema, filter, exc) from exc

    @property
    def _in_order(self) -> bool:
        """Arrow IPC files with a dictionary column are read in order with ``pyarrow.ipc``:
        pyarrow.dataset's IPC reader (pyarrow 26) misreads the dictionary deltas that DS-111
        writes (wrong offsets, or a crash), while the file reader applies them in order."""
        return isinstance(self._dataset.format, ds.IpcFileFormat) and any(
            pa.types.is_dictionary(field.type) for field in self.schema)

    def _ipc_batches(self) -> Iterator[pa.RecordBatch]:
        schema = self.schema
        for fragment in self._dataset.get_fragments():
            keys = ds.get_partition_keys(fragment.partition_expression)
            with self._dataset.filesystem.open_input_file(fragment.path) as handle:
                reader = pa.ipc.open_file(handle)
                for index in range(reader.num_record_batches):
                    batch = reader.get_batch(index)
                    columns = [batch.column(f.name) if f.name in batch.schema.names
                               else pa.array([keys.get(f.name)] * batch.num_rows, f.type)
                               for f in schema]
                    yield pa.RecordBatch.from_arrays(columns, schema=schema)

    def _guarded(self, scanner: ds.Scanner, cap: int | None) -> Iterator[pa.RecordBatch]:
        """The scanner's batches, cut to ``cap`` rows, with read errors naming the URI."""
        try:
            yield from capped(scanner.to_batches(), cap)
        except (pa.ArrowException, OSError) as exc:
            raise self._read_error(exc) from exc

    def _call(self, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except (pa.ArrowException, OSError) as exc:
            raise self._read_error(exc) from exc

    def _read_error(self, exc: Exception) -> DatasetError:
        return DatasetError(
            f"cannot read {self.uri!r} as {self.format_name}: {exc}",
            hint="a data file is damaged or not of this format; rewrite or remove it",
        )

    # -- sharding --------------------------------------------------------------------------

    def shards(self, n: int) -> list[Dataset]:
        """At most ``n`` contiguous shards: by files, and by row groups for Parquet."""
        count = checked_shard_count(self.uri, n)
        fragments = list(self._dataset.get_fragments())
        units = self._units(fragments)
        if len(units) <= 1 or count == 1:
            return [self]
        return [
            self._shard(fragments, [units[i] for i in group])
            for group in contiguous_groups([weight for _, _, weight in units], count)
        ]

    def _units(self, fragments: list[Any]) -> list[tuple[int, int | None, int]]:
        """What shards are made of: (fragment index, row group id or None for the whole
        file, weight)."""
        if not isinstance(self._dataset.format, ds.ParquetFileFormat):
            return [(index, None, 1) for index in range(len(fragments))]
        units: list[tuple[int, int | None, int]] = []
        for index, fragment in enumerate(fragments):
            self._call(fragment.ensure_complete_metadata)
            units.extend((index, group.id, group.num_rows) for group in fragment.row_groups)
        return units

    def _shard(
        self, fragments: list[Any], chosen: list[tuple[int, int | None, int]]
    ) -> PyArrowDataset:
        shard_fragments = []
        selection: dict[str, list[int]] = {}
        for index, members in itertools.groupby(chosen, key=lambda unit: unit[0]):
            fragment = fragments[index]
            ids = [unit[1] for unit in members if unit[1] is not None]
            if not ids or (
                fragment.path not in self._row_groups
                and len(ids) == fragment.metadata.num_row_groups
            ):
                shard_fragments.append(fragment)
            else:
                shard_fragments.append(fragment.subset(row_group_ids=ids))
                selection[fragment.path] = ids
        dataset = ds.FileSystemDataset(
            shard_fragments,
            schema=self.schema,
            format=self._dataset.format,
            filesystem=self._dataset.filesystem,
        )
        return PyArrowDataset(
            uri=self.uri,
            format_name=self.format_name,
            filesystem=self.filesystem,
            path=self.path,
            dataset=dataset,
            row_groups=selection,
        )

    def __repr__(self) -> str:
        part = " (shard)" if self._row_groups else ""
        return f"<Dataset {self.uri!r} format={self.format_name!r} files={len(self._files)}{part}>"
