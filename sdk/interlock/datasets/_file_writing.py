"""How :class:`~interlock.datasets.FileFormat` writes: one file, or a directory of part files.

Batches reach the format's ``write_file`` as they arrive (DS-041). The core hands over a
staging path and publishes it afterwards, so a failure here needs no cleanup beyond closing
the file that is open.
"""

from __future__ import annotations

import posixpath
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from interlock.errors import DatasetError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from interlock.datasets._file_format import FileFormat

__all__ = ["part_file_prefix", "write_files"]


def part_file_prefix() -> str:
    """``part-<unique>``: a nanosecond clock first, so that appended files sort in write order,
    then 12 random hex digits (DS-044)."""
    return f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def write_files(
    file_format: FileFormat,
    data: pa.RecordBatchReader,
    path: str,
    fs: AbstractFileSystem,
    options: Any,
) -> None:
    """Write ``data`` at ``path`` with ``file_format.write_file``: a single file when the name
    ends with one of the format's extensions, otherwise a directory of part files."""
    limit = _max_rows_per_file(options)
    if file_format.is_single_file(path):
        if limit is not None:
            raise DatasetError(
                "max_rows_per_file applies to directory datasets, not to a single file",
                hint="write to a URI without a file extension to get part files",
            )
        _write_one(file_format, data, fs, path, options)
        return
    fs.makedirs(path, exist_ok=True)
    prefix = part_file_prefix()
    extension = file_format.extensions[0] if file_format.extensions else ""
    if limit is None:
        _write_one(file_format, data, fs, posixpath.join(path, f"{prefix}-00000{extension}"), options)
        return
    rows = _Rows(data)
    index = 0
    while index == 0 or rows.more():
        name = f"{prefix}-{index:05d}{extension}"
        _write_one(file_format, rows.reader(limit), fs, posixpath.join(path, name), options)
        index += 1


def _max_rows_per_file(options: Any) -> int | None:
    if options is None:
        return None
    from interlock.datasets._options import FileWriteOptions

    return options.max_rows_per_file if isinstance(options, FileWriteOptions) else None


def _write_one(
    file_format: FileFormat,
    data: pa.RecordBatchReader,
    fs: AbstractFileSystem,
    path: str,
    options: Any,
) -> None:
    with file_format.open_output(fs, path) as sink:
        file_format.write_file(data, sink, options)


class _Rows:
    """The input stream, handed out as one reader of at most ``limit`` rows per part file."""

    def __init__(self, data: pa.RecordBatchReader) -> None:
        self._schema = data.schema
        self._batches = iter(data)
        self._pending: pa.RecordBatch | None = None

    def more(self) -> bool:
        """Whether any row is left (zero-row batches do not count)."""
        while self._pending is None or self._pending.num_rows == 0:
            self._pending = next(self._batches, None)
            if self._pending is None:
                return False
        return True

    def reader(self, limit: int) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self._schema, self._take(limit))

    def _take(self, limit: int) -> Iterator[pa.RecordBatch]:
        taken = 0
        while taken < limit:
            batch = self._pending if self._pending is not None else next(self._batches, None)
            if batch is None:
                return
            room = min(batch.num_rows, limit - taken)
            self._pending = batch.slice(room) if room < batch.num_rows else None
            taken += room
            yield batch if self._pending is None else batch.slice(0, room)
