""":class:`FileDataset`: the dataset of a :class:`~interlock.datasets.FileFormat`, read file by
file through the format's ``read_file``, with projection, filters, batch sizes, hive partitions
and shards done here, the same way for every such format (spec: dataset.md)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from interlock.datasets._files import relative_path
from interlock.datasets._interfaces import Dataset
from interlock.datasets._partitions import Partitions, hive_partitions
from interlock.datasets._reader_args import (
    capped,
    checked_batch_size,
    checked_columns,
    checked_filter,
    checked_shard_count,
    contiguous_groups,
)
from interlock.errors import DatasetError, InterlockError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from interlock.datasets._file_format import FileFormat

__all__ = ["FileDataset"]

# What a format's decoder raises for bytes it cannot decode (UnicodeDecodeError and pyarrow's
# ArrowInvalid are ValueErrors); anything else from it is a bug and reaches the user as such.
_DECODE_ERRORS = (ValueError, EOFError, OSError, pa.ArrowException)


class FileDataset(Dataset):
    """A dataset of data files that ``file_format.read_file`` decodes one at a time.

    ``files`` are the data files (paths on ``filesystem`` under ``path``, sorted); ``options``
    is the format's parsed read options. The schema is the first file's, followed by the hive
    partition columns of a directory dataset; every file must have the same schema. Projection
    and filters apply to the decoded batches, so they give the same rows as a full scan
    filtered afterwards; nothing is pushed down to storage.
    """

    def __init__(
        self,
        *,
        file_format: FileFormat,
        uri: str,
        filesystem: AbstractFileSystem,
        path: str,
        files: list[str],
        options: Any = None,
    ) -> None:
        super().__init__(uri=uri, format_name=file_format.name, filesystem=filesystem, path=path)
        self._format = file_format
        self._options = options
        self._files = sorted(files)
        single = self._files == [path]
        self._partitions = Partitions() if single else hive_partitions(path, self._files)
        self._file_schema = self._read_schema(self._files[0]) if self._files else pa.schema([])
        names = set(self._file_schema.names)
        clash = [f.name for f in self._partitions.fields if f.name in names]
        if clash:
            raise DatasetError(
                f"dataset {uri!r} has a partition directory {clash[0]}=... and a column "
                f"{clash[0]!r} in its files",
                hint="rename the partition directories or the column",
            )
        self._schema = pa.schema([*self._file_schema, *self._partitions.fields])

    @property
    def schema(self) -> pa.Schema:
        """The first file's schema, then the partition columns."""
        return self._schema

    def files(self) -> list[str]:
        """The data files, sorted."""
        return list(self._files)

    def to_reader(
        self,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
        batch_size: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream the files in order, each projected, filtered and cut to ``batch_size``."""
        selected = checked_columns(self.uri, self._schema, columns)
        expression = checked_filter(self.uri, self._schema, filter)
        cap = checked_batch_size(self.uri, batch_size)
        schema = self._schema
        if selected is not None:
            schema = pa.schema([self._schema.field(name) for name in selected])
        batches = self._scan(selected, expression)
        return pa.RecordBatchReader.from_batches(schema, capped(batches, cap))

    def shards(self, n: int) -> list[Dataset]:
        """At most ``n`` shards of contiguous files."""
        count = checked_shard_count(self.uri, n)
        if len(self._files) <= 1 or count == 1:
            return [self]
        groups = contiguous_groups([1] * len(self._files), count)
        return [self._subset([self._files[i] for i in group]) for group in groups]

    def __repr__(self) -> str:
        return f"<Dataset {self.uri!r} format={self.format_name!r} files={len(self._files)}>"

    # -- reading ---------------------------------------------------------------------------

    def _subset(self, files: list[str]) -> FileDataset:
        shard = copy.copy(self)  # the schema and partition types stay the whole dataset's
        shard._files = files
        return shard

    def _scan(
        self, selected: list[str] | None, expression: pc.Expression | None
    ) -> Iterator[pa.RecordBatch]:
        partitioned = bool(self._partitions.fields)
        for file in self._files:
            for batch in self._decoded(file):
                if partitioned:
                    extra = self._partitions.columns(file, batch.num_rows)
                    batch = pa.RecordBatch.from_arrays([*batch.columns, *extra], schema=self._schema)
                if expression is not None:
                    batch = batch.filter(expression)
                if selected is not None:
                    batch = batch.select(selected)
                if batch.num_rows:
                    yield batch

    def _read_schema(self, file: str) -> pa.Schema:
        with _Decoding(self, file):
            with self._format.open_input(self.filesystem, file) as handle:
                reader = _as_reader(self._format.read_file(handle, self._options))
                schema: pa.Schema = reader.schema
                reader.close()
        return schema

    def _decoded(self, file: str) -> Iterator[pa.RecordBatch]:
        """The batches of one file, checked against the dataset's file schema."""
        with _Decoding(self, file):
            with self._format.open_input(self.filesystem, file) as handle:
                reader = _as_reader(self._format.read_file(handle, self._options))
                if not reader.schema.equals(self._file_schema):
                    raise DatasetError(
                        f"data file {self._where(file)} of {self.uri!r} has the schema "
                        f"{_columns(reader.schema)}, the dataset's first file "
                        f"{_columns(self._file_schema)}",
                        hint="every data file of a dataset must have the same columns and types",
                    )
                yield from reader

    def _where(self, file: str) -> str:
        relative = relative_path(self.path, file)
        return repr(relative) if relative else repr(file)


class _Decoding:
    """Turns a decoder's failure on one file into a ``DatasetError`` naming the URI (DS-028)."""

    def __init__(self, dataset: FileDataset, file: str) -> None:
        self._dataset = dataset
        self._file = file

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if error is None or isinstance(error, InterlockError):
            return
        if isinstance(error, _DECODE_ERRORS):
            dataset = self._dataset
            where = "" if self._file == dataset.path else f" (file {dataset._where(self._file)})"
            raise DatasetError(
                f"cannot read {dataset.uri!r} as {dataset.format_name}{where}: "
                f"{type(error).__name__}: {error}",
                hint="a data file is damaged or not of this format; rewrite or remove it",
            ) from error


def _as_reader(decoded: object) -> pa.RecordBatchReader:
    if isinstance(decoded, pa.RecordBatchReader):
        return decoded
    if isinstance(decoded, pa.Table):
        return decoded.to_reader()
    raise TypeError(
        f"read_file() must return a pyarrow.RecordBatchReader, got {type(decoded).__name__}"
    )


def _columns(schema: pa.Schema) -> str:
    return "(" + ", ".join(f"{f.name}: {f.type}" for f in schema) + ")"
