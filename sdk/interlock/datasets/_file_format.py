"""Bases for file-based dataset formats: :class:`FileFormat` and :class:`PyArrowFileFormat`.

A format built on them writes only how one data file is decoded and encoded; the base finds the
data files, checks reader arguments, adds hive partitions, shards, and streams writes into one
file or a directory of part files (spec: dataset.md). This module stays light (no pyarrow,
pydantic or fsspec at import time), so that a plugin may subclass these when it is loaded.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, BinaryIO

from interlock.datasets._files import dataset_files, has_extension
from interlock.datasets._interfaces import Dataset, DatasetFormat
from interlock.errors import DatasetError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    from fsspec import AbstractFileSystem

__all__ = ["FileFormat", "PyArrowFileFormat"]


class FileFormat(DatasetFormat):
    """A dataset format whose data files are decoded and encoded one at a time.

    A subclass declares ``name``, ``extensions`` and ``capabilities`` and implements
    :meth:`read_file` (to read) and :meth:`write_file` (to write); :meth:`check_schema` and
    the options models are optional. The base implements ``open`` and ``write``:

    - it finds the data files (a single file, or the non-hidden files of a directory with one
      of ``extensions``) and refuses a directory without any (DS-004, DS-005);
    - its :class:`interlock.datasets.FileDataset` checks ``columns``, ``filter`` and
      ``batch_size``, projects and filters the decoded batches, exposes ``key=value``
      directories as columns (DS-006), counts, fingerprints and shards at file boundaries;
    - it writes one file when the target's name ends with one of ``extensions`` and otherwise a
      directory of ``part-<unique>-<n><ext>`` files (DS-042, DS-044), starting a new part
      file every ``max_rows_per_file`` rows when the write options are a
      :class:`interlock.datasets.FileWriteOptions`.
    """

    def read_file(self, file: BinaryIO, options: Any) -> pa.RecordBatchReader:
        """Decode one data file, open for binary reading, into a stream of record batches.

        The reader's schema is the file's; it may read ``file`` lazily, which stays open
        until the reader is exhausted. ``options`` is the parsed read options (None when the
        format takes none). A file that is not valid for the format raises ``ValueError`` (or
        :class:`interlock.DatasetError`), which the base reports naming the URI and the file.
        """
        raise DatasetError(
            f"the {self.name} format cannot read",
            hint="a FileFormat that claims 'read' implements read_file()",
        )

    def write_file(self, data: pa.RecordBatchReader, file: BinaryIO, options: Any) -> None:
        """Encode every batch of ``data`` into one data file, open for binary writing.

        Consume ``data`` batch by batch (DS-041); ``file`` is closed by the base afterwards.
        ``options`` is the parsed write options (None when the format takes none).
        """
        raise DatasetError(
            f"the {self.name} format cannot write",
            hint="a FileFormat that claims 'write' implements write_file()",
        )

    def open_input(self, filesystem: AbstractFileSystem, path: str) -> BinaryIO:
        """The data file at ``path``, open for binary reading (fsspec's ``open``)."""
        handle: BinaryIO = filesystem.open(path, "rb")
        return handle

    def open_output(self, filesystem: AbstractFileSystem, path: str) -> BinaryIO:
        """A new data file at ``path``, open for binary writing (fsspec's ``open``)."""
        handle: BinaryIO = filesystem.open(path, "wb")
        return handle

    def data_files(self, path: str, filesystem: AbstractFileSystem, *, uri: str) -> list[str]:
        """The data files of the dataset at ``path``, sorted (DS-004, DS-005)."""
        return dataset_files(
            filesystem, path, uri=uri, format_name=self.name, extensions=self.extensions
        )

    def is_single_file(self, path: str) -> bool:
        """Whether a write to ``path`` makes one file rather than a directory (DS-042)."""
        return has_extension(posixpath.basename(path.rstrip("/")), self.extensions)

    def open(
        self, path: str, filesystem: AbstractFileSystem, *, uri: str, options: Any = None
    ) -> Dataset:
        """Open the file or directory at ``path`` as a :class:`~interlock.datasets.FileDataset`."""
        from interlock.datasets._file_dataset import FileDataset

        files = self.data_files(path, filesystem, uri=uri)
        return FileDataset(
            file_format=self,
            uri=uri,
            filesystem=filesystem,
            path=path,
            files=files,
            options=options,
        )

    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: Any,
    ) -> None:
        """Write ``data`` at ``path``: one file, or a directory of part files."""
        if "write" not in self.capabilities:
            raise DatasetError(
                f"the {self.name} format is read-only",
                hint="write with a format that claims 'write' ('interlock plugins' lists them)",
            )
        from interlock.datasets._file_writing import write_files

        write_files(self, data, path, filesystem, options)


class PyArrowFileFormat(FileFormat):
    """A file format that ``pyarrow.dataset`` scans: a subclass returns the scanner's file
    format from :meth:`pyarrow_format` (and implements :meth:`write_file` to write).

    Reading goes through ``pyarrow.dataset`` with projection and filter push-down, hive
    partitions and, for Parquet, row-group shards; local files use pyarrow's native
    filesystem, any other fsspec filesystem is wrapped. Writes get a ``pyarrow.NativeFile``.
    """

    def pyarrow_format(self, options: Any) -> ds.FileFormat:
        """The ``pyarrow.dataset`` file format that reads this format, for the parsed read
        ``options`` (None when the format takes none)."""
        raise NotImplementedError(f"{type(self).__name__} must implement pyarrow_format()")

    def open_output(self, filesystem: AbstractFileSystem, path: str) -> BinaryIO:
        """A pyarrow output stream at ``path`` (native for local files)."""
        from interlock.datasets._pyarrow_dataset import arrow_filesystem

        stream: BinaryIO = arrow_filesystem(filesystem).open_output_stream(path, compression=None)
        return stream

    def open(
        self, path: str, filesystem: AbstractFileSystem, *, uri: str, options: Any = None
    ) -> Dataset:
        """Open the file or directory at ``path`` as a :class:`~interlock.datasets.PyArrowDataset`."""
        from interlock.datasets._pyarrow_dataset import PyArrowDataset

        files = self.data_files(path, filesystem, uri=uri)
        return PyArrowDataset.scan(
            files,
            self.pyarrow_format(options),
            uri=uri,
            format_name=self.name,
            filesystem=filesystem,
            path=path,
        )
