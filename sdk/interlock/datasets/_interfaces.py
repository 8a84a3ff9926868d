"""The dataset interfaces: :class:`DatasetFormat` (the component) and :class:`Dataset`.

A format plugin implements two abstract methods, ``open`` and ``write`` (or subclasses
:class:`interlock.datasets.FileFormat`, which implements them on two smaller hooks);
interlock's core turns URIs into fsspec filesystems, validates the format's options, stages
writes so that no half-written dataset is ever visible, and implements the ``mode`` rules on
top (spec: dataset.md). A table format with its own transaction log (Delta Lake) claims
``transactional`` and implements ``commit``, which the core calls at the target instead of
staging, and may recognise its directories with ``claims_directory``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from interlock.plugins import CAPABILITIES, Component, parse_options
from interlock.errors import DatasetError, SpecViolation

if TYPE_CHECKING:
    import pyarrow as pa
    from pydantic import BaseModel
    import pyarrow.compute as pc
    from fsspec import AbstractFileSystem

__all__ = [
    "DATASET_CAPABILITIES",
    "FINGERPRINT_VERSION",
    "Dataset",
    "DatasetFormat",
    "compute_fingerprint",
]

#: Every capability string a dataset format may claim, with its meaning (dataset.md, DS-090);
#: a view of the one capability registry, ``interlock.plugins.CAPABILITIES``.
DATASET_CAPABILITIES: dict[str, str] = {
    c.name: c.meaning for c in CAPABILITIES["dataset_format"]
}

#: Version of the fingerprint algorithm (dataset.md, DS-060).
FINGERPRINT_VERSION = 1

_HASH_CHUNK = 1 << 20


class Dataset(ABC):
    """An Arrow dataset at a URI, read through a :class:`DatasetFormat`.

    Implementations provide ``schema``, ``to_reader``, ``files`` and ``shards``; the rest is
    built on those and may be overridden for speed. A ``Dataset`` exports
    ``__arrow_c_stream__``, so pyarrow, polars, DuckDB and pandas consume it directly.

    The constructor takes the four attributes below as keywords; a subclass with state of its
    own calls ``super().__init__(uri=..., format_name=..., filesystem=..., path=...)``.
    :class:`interlock.datasets.FileDataset` and :class:`interlock.datasets.PyArrowDataset`
    are complete implementations that formats can return instead of writing their own.
    """

    #: The URI the dataset was opened from, as the user gave it.
    uri: str
    #: Name of the format component that reads it.
    format_name: str
    #: The fsspec filesystem that holds the data files.
    filesystem: AbstractFileSystem
    #: The dataset root on ``filesystem``: the single data file, or the dataset directory.
    path: str

    def __init__(
        self, *, uri: str, format_name: str, filesystem: AbstractFileSystem, path: str
    ) -> None:
        self.uri = uri
        self.format_name = format_name
        self.filesystem = filesystem
        self.path = path

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

    def row_group_selection(self) -> dict[str, list[int]]:
        """The files of which this dataset reads only some row groups, with their indices.

        Empty for a whole dataset; a shard cut at row-group boundaries overrides it so that its
        fingerprint differs from its siblings' (DS-061).
        """
        return {}

    def fingerprint(self) -> str:
        """A stable identity of the dataset's content: ``sha256:<hex>`` (dataset.md DS-060)."""
        return compute_fingerprint(
            self.format_name,
            self.filesystem,
            self.path,
            self.files(),
            self.row_group_selection(),
        )

    @abstractmethod
    def shards(self, n: int) -> list[Dataset]:
        """Split into at most ``n`` datasets that together hold every row exactly once."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Arrow PyCapsule stream export: the whole dataset as one stream.

        Only an error's text crosses the C stream interface (DS-034), and pyarrow appends the
        Python traceback of the exception to it; a DatasetError is raised afresh here, so
        that what the consumer shows is interlock's message and one frame, not the chain of
        the reader's internals."""
        import pyarrow as pa

        reader = self.to_reader()
        return pa.RecordBatchReader.from_batches(
            reader.schema, _plain_errors(reader)).__arrow_c_stream__(requested_schema)

    def __repr__(self) -> str:
        return f"<Dataset {self.uri!r} format={self.format_name!r}>"


def _plain_errors(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except DatasetError as exc:
        raise exc.with_traceback(None) from None


def compute_fingerprint(
    format_name: str,
    filesystem: AbstractFileSystem,
    root: str,
    files: list[str],
    row_groups: dict[str, list[int]] | None = None,
) -> str:
    """The DS-060 fingerprint of ``files`` (paths on ``filesystem`` under ``root``).

    ``root`` is the single data file or the dataset directory; each file is named by its POSIX
    path relative to it (the empty string for a single-file dataset), so the fingerprint does
    not depend on where the dataset lives, only on what it holds.
    """
    root_dir = root.rstrip("/")
    selection = row_groups or {}
    entries: list[dict[str, Any]] = []
    for file in files:
        if file == root_dir:
            relative = ""
        elif file.startswith(root_dir + "/"):
            relative = file[len(root_dir) + 1 :]
        else:
            raise SpecViolation(
                f"data file {file!r} is outside the dataset root {root!r}",
                hint="Dataset.files() must return paths under Dataset.path",
                requirement="DS-027",
            )
        digest = hashlib.sha256()
        size = 0
        with filesystem.open(file, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        entry: dict[str, Any] = {"path": relative, "sha256": digest.hexdigest(), "size": size}
        if file in selection:
            entry["row_groups"] = sorted(selection[file])
        entries.append(entry)
    entries.sort(key=lambda e: str(e["path"]))
    listing = {"files": entries, "format": format_name, "version": FINGERPRINT_VERSION}
    canonical = json.dumps(listing, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


class DatasetFormat(Component, ABC, kind="dataset_format"):
    """A dataset format component (Parquet, Arrow IPC, CSV, ...).

    ``extensions`` lists file suffixes (with the dot, lower case) used to infer the format from
    a URI; the first one names the part files of directory datasets. ``capabilities`` draws
    from :data:`DATASET_CAPABILITIES` (dataset.md, DS-090). Overriding :attr:`options_model`
    and :attr:`read_options_model` (pydantic models with ``extra="forbid"``) declares the
    options of ``write_dataset(..., **options)`` and ``open_dataset(..., **options)``; the core
    validates them with :meth:`parse_options` and :meth:`parse_read_options` before anything
    is read or written, and hands the parsed value to ``write`` and ``open``.
    """

    extensions: ClassVar[tuple[str, ...]] = ()

    @property
    def options_model(self) -> type[BaseModel] | None:
        """The pydantic model of this format's write options, or None if it takes none.

        A property, so that the options module (and pydantic) is imported when options are
        parsed, never when the plugin is loaded.
        """
        return None

    @property
    def read_options_model(self) -> type[BaseModel] | None:
        """The pydantic model of this format's read options, or None if it takes none."""
        return None

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """Validate write ``options`` against :attr:`options_model` (DS-045).

        Returns the model instance, or None when the format takes no options and none were
        given; raises :class:`interlock.DatasetError` naming the format and every offending
        option, with the valid options in the hint.
        """
        return parse_options(
            self,
            self.options_model,
            options,
            error=DatasetError,
            without_options="call write_dataset() without format options",
        )

    def parse_read_options(self, options: Mapping[str, Any]) -> Any:
        """Validate read ``options`` against :attr:`read_options_model`, as
        :meth:`parse_options` does for write options."""
        return parse_options(
            self,
            self.read_options_model,
            options,
            error=DatasetError,
            without_options="call open_dataset() without format options",
        )

    @abstractmethod
    def open(
        self, path: str, filesystem: AbstractFileSystem, *, uri: str, options: Any = None
    ) -> Dataset:
        """Open the file or directory at ``path`` on ``filesystem``.

        ``options`` is what :meth:`parse_read_options` returned for the user's read options.
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
        options: Any,
    ) -> None:
        """Write every batch of ``data`` as a new dataset at ``path`` (a staging location);
        a format that claims ``transactional`` implements :meth:`commit` instead.

        When the name in ``path`` ends with one of ``extensions``, write a single file there;
        otherwise create a directory there and write part files in it whose names are unique
        across writes (DS-044). ``options`` is what :meth:`parse_options` returned for the
        user's write options. Called by interlock's core, which publishes ``path`` atomically
        afterwards; the format never needs to clean up a partial write.
        """

    def claims_directory(self, path: str, filesystem: AbstractFileSystem) -> bool:
        """Whether the existing directory at ``path`` is a dataset of this format by its
        contents (DS-017), such as a table format's transaction log.

        Asked, for every installed format, before file extensions when no ``format=`` is
        given; it must be cheap (one or two ``exists`` calls) and must not raise for a
        directory of another format. The default claims nothing.
        """
        return False

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
        """Write every batch of ``data`` at the target ``path`` itself and commit it
        atomically: the write of a format that claims ``transactional`` (DS-120).

        The core calls this instead of :meth:`write`, with the target (not a staging path)
        and the ``mode`` (``"error"``, ``"overwrite"`` or ``"append"``), after its own checks
        (mode against the target, schema, options, append schema). A write that fails MUST
        leave the dataset readable at ``path`` exactly as it was (DS-121); a new target that
        the failed write created is removed.
        """
        raise SpecViolation(
            f"dataset format {self.name!r} claims 'transactional' but does not implement "
            "commit()",
            hint="a transactional DatasetFormat implements commit(data, path, filesystem, "
            "uri=, mode=, options=)",
            component=self.name,
            requirement="DS-120",
        )

    def read_back_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema that data of ``schema`` has once written and read back (DS-072).

        The core compares an append's data with the existing dataset through it (DS-053), so
        that data of the types first written can be appended again. The default is
        ``schema`` itself; a format whose read-back types differ overrides it.
        """
        return schema

    def check_schema(self, schema: pa.Schema) -> None:
        """Raise :class:`interlock.DatasetError` if this format cannot hold ``schema``.

        Called before anything is written, so an unsupported type costs nothing. The message
        names the first column that cannot be held and its type.
        """
