"""Reading through ``pyarrow.dataset``: the :class:`PyArrowDataset` every reference format returns.

Local files are read with pyarrow's native filesystem (the fast path); any other fsspec
filesystem is wrapped with ``pyarrow.fs.PyFileSystem(FSSpecHandler(fs))``.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from interlock.datasets import Dataset
from interlock.errors import DatasetError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from interlock_formats.formats import PyArrowFormat

__all__ = ["PyArrowDataset", "arrow_filesystem", "data_files", "open_pyarrow_dataset"]


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


def has_extension(name: str, extensions: Sequence[str]) -> bool:
    """Whether a file name ends with one of the extensions (case-insensitive)."""
    lower = name.lower()
    return any(lower.endswith(ext.lower()) for ext in extensions)


def data_files(fs: AbstractFileSystem, root: str, extensions: Sequence[str]) -> list[str]:
    """The data files of a directory dataset (DS-004): under ``root``, no path segment below
    it starting with ``.`` or ``_``, the name ending with one of ``extensions``; sorted."""
    base = root.rstrip("/") + "/"
    found = []
    for file in fs.find(root):
        if not file.startswith(base):
            continue
        relative = file[len(base) :]
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        if has_extension(relative.rsplit("/", 1)[-1], extensions):
            found.append(file)
    return sorted(found)


def open_pyarrow_dataset(
    component: PyArrowFormat, path: str, fs: AbstractFileSystem, *, uri: str
) -> PyArrowDataset:
    """Open a file or a (possibly hive-partitioned) directory as ``component``'s format."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise DatasetError(
            f"dataset {uri!r} not found", hint="check the URI or write the dataset first"
        ) from None
    arrow_fs = arrow_filesystem(fs)
    try:
        if info.get("type") == "directory":
            files = data_files(fs, path, component.extensions)
            if not files:
                raise DatasetError(
                    f"directory {uri!r} has no {component.name} data files",
                    hint=f"data files end with {', '.join(component.extensions)} and do not "
                    "start with '.' or '_'",
                )
            dataset = ds.dataset(
                files,
                format=component.pyarrow_format(),
                filesystem=arrow_fs,
                partitioning=ds.HivePartitioning.discover(),
                partition_base_dir=path,
            )
        else:
            dataset = ds.dataset([path], format=component.pyarrow_format(), filesystem=arrow_fs)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot read {uri!r} as {component.name}: {exc}",
            hint=f"check that it is a valid {component.name} dataset, or pass format=",
        ) from exc
    return PyArrowDataset(
        uri=uri, format_name=component.name, filesystem=fs, path=path, dataset=dataset
    )


class PyArrowDataset(Dataset):
    """A dataset read through ``pyarrow.dataset`` (the reference formats' ``Dataset``)."""

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
        self.uri = uri
        self.format_name = format_name
        self.filesystem = filesystem
        self.path = path
        self._dataset = dataset
        self._row_groups = dict(row_groups or {})
        self._files = sorted({fragment.path for fragment in dataset.get_fragments()})

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
            return int(self._call(lambda: self._dataset.count_rows()))
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
        if columns is not None:
            options["columns"] = self._checked_columns(columns)
        if filter is not None:
            if not isinstance(filter, pc.Expression):
                raise DatasetError(
                    f"filter for {self.uri!r} must be a pyarrow.compute.Expression, got "
                    f"{type(filter).__name__}",
                    hint="build one with pyarrow.compute.field('x') > 0",
                )
            options["filter"] = filter
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise DatasetError(
                    f"batch_size for {self.uri!r} must be a positive integer, got {batch_size!r}",
                    hint="pass e.g. batch_size=65536, or None for the format's default",
                )
            options["batch_size"] = batch_size
        try:
            return self._dataset.scanner(**options)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise DatasetError(
                f"cannot scan {self.uri!r} with filter {filter}: {exc}",
                hint="the filter must be a boolean expression over the dataset's columns: "
                + ", ".join(self.schema.names),
            ) from exc

    def _checked_columns(self, columns: object) -> list[str]:
        if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
            raise DatasetError(
                f"columns for {self.uri!r} must be a list of column names, got {columns!r}",
                hint="pass e.g. columns=['a', 'b']",
            )
        names = self.schema.names
        seen: set[str] = set()
        for column in columns:
            if column not in names:
                close = difflib.get_close_matches(column, names, n=1)
                raise DatasetError(
                    f"dataset {self.uri!r} has no column {column!r}; columns: {', '.join(names)}",
                    hint=f"did you mean {close[0]!r}?" if close else "check the column names",
                )
            if column in seen:
                raise DatasetError(
                    f"column {column!r} is requested twice from {self.uri!r}",
                    hint="name each column once",
                )
            seen.add(column)
        return list(columns)

    def _guarded(self, scanner: ds.Scanner, cap: int | None) -> Iterator[pa.RecordBatch]:
        """The scanner's batches, cut to ``cap`` rows, with read errors naming the URI."""
        try:
            for batch in scanner.to_batches():
                if cap is not None and batch.num_rows > cap:
                    for offset in range(0, batch.num_rows, cap):
                        yield batch.slice(offset, cap)
                else:
                    yield batch
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(
                f"cannot read {self.uri!r} as {self.format_name}: {exc}",
                hint="a data file is damaged or not of this format; rewrite or remove it",
            ) from exc

    def _call(self, action: Any) -> Any:
        try:
            return action()
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(
                f"cannot read {self.uri!r} as {self.format_name}: {exc}",
                hint="a data file is damaged or not of this format; rewrite or remove it",
            ) from exc

    # -- sharding --------------------------------------------------------------------------

    def shards(self, n: int) -> list[Dataset]:
        """At most ``n`` contiguous shards: by files, and by row groups for Parquet."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise DatasetError(
                f"shards(n) of {self.uri!r} needs a positive integer, got {n!r}",
                hint="pass the number of workers, e.g. shards(4)",
            )
        fragments = list(self._dataset.get_fragments())
        # A unit is (fragment index, row group id or None for the whole file, weight).
        units: list[tuple[int, int | None, int]] = []
        if isinstance(self._dataset.format, ds.ParquetFileFormat):
            for index, fragment in enumerate(fragments):
                self._call(fragment.ensure_complete_metadata)
                units.extend((index, group.id, group.num_rows) for group in fragment.row_groups)
        else:
            units = [(index, None, 1) for index in range(len(fragments))]
        if len(units) <= 1 or n == 1:
            return [self]
        shards: list[Dataset] = []
        for group in _contiguous_groups([weight for _, _, weight in units], n):
            chosen = [units[i] for i in group]
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
            shards.append(
                PyArrowDataset(
                    uri=self.uri,
                    format_name=self.format_name,
                    filesystem=self.filesystem,
                    path=self.path,
                    dataset=dataset,
                    row_groups=selection,
                )
            )
        return shards

    def __repr__(self) -> str:
        part = " (shard)" if self._row_groups else ""
        return f"<Dataset {self.uri!r} format={self.format_name!r} files={len(self._files)}{part}>"


def _contiguous_groups(weights: list[int], n: int) -> list[range]:
    """Split ``range(len(weights))`` into at most ``n`` non-empty runs of similar weight."""
    count = len(weights)
    parts = min(n, count)
    cumulative = list(itertools.accumulate(max(weight, 0) for weight in weights))
    total = cumulative[-1] if cumulative and cumulative[-1] > 0 else 0
    if total == 0:
        cumulative = list(range(1, count + 1))
        total = count
    bounds = [0]
    for part in range(1, parts):
        target = total * part / parts
        end = bounds[-1] + 1
        # leave at least one unit for each remaining run
        while end < count - (parts - part) and cumulative[end - 1] < target:
            end += 1
        bounds.append(end)
    bounds.append(count)
    return [range(start, stop) for start, stop in itertools.pairwise(bounds)]
