"""The reference format components. Light to import: pyarrow is loaded inside the methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from interlock.plugins import FALLBACK_PRIORITY
from interlock.datasets import Dataset, DatasetFormat
from interlock.errors import DatasetError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    from fsspec import AbstractFileSystem

__all__ = ["ArrowIpcFormat", "CsvFormat", "JsonLinesFormat", "ParquetFormat", "PyArrowFormat"]

_READ_SIDE = frozenset({"read", "partitioned"})
_WRITE_SIDE = frozenset({"write", "append"})
_ALL_TYPES = frozenset(
    {
        "types:binary",
        "types:nested",
        "types:dictionary",
        "types:decimal",
        "types:temporal",
        "types:timestamp_tz",
        "types:large",
    }
)


class PyArrowFormat(DatasetFormat):
    """A format read through ``pyarrow.dataset``; subclasses say which pyarrow file format."""

    priority: ClassVar[int] = FALLBACK_PRIORITY

    def pyarrow_format(self) -> ds.FileFormat:
        """The ``pyarrow.dataset`` file format that reads this format."""
        raise NotImplementedError

    def open(self, path: str, filesystem: AbstractFileSystem, *, uri: str) -> Dataset:
        from interlock_formats.reading import open_pyarrow_dataset

        return open_pyarrow_dataset(self, path, filesystem, uri=uri)


class ParquetFormat(PyArrowFormat):
    """Apache Parquet: columnar, typed, with row groups and statistics."""

    name: ClassVar[str] = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet", ".pq")
    capabilities: ClassVar[frozenset[str]] = (
        _READ_SIDE
        | _WRITE_SIDE
        | _ALL_TYPES
        | {"projection", "filter", "shards:row_groups"}
    )
    description: ClassVar[str] = "Apache Parquet files and directories of part files"

    def pyarrow_format(self) -> ds.FileFormat:
        import pyarrow.dataset as ds

        return ds.ParquetFileFormat()

    def check_schema(self, schema: pa.Schema) -> None:
        from interlock_formats.typecheck import check_parquet_schema

        check_parquet_schema(schema)

    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: dict[str, Any],
    ) -> None:
        from interlock_formats.writing import write_parquet

        write_parquet(self, data, path, filesystem, options)


class ArrowIpcFormat(PyArrowFormat):
    """The Arrow IPC file format (Feather v2): Arrow's own columns, every type."""

    name: ClassVar[str] = "arrow"
    extensions: ClassVar[tuple[str, ...]] = (".arrow", ".feather", ".ipc")
    capabilities: ClassVar[frozenset[str]] = _READ_SIDE | _WRITE_SIDE | _ALL_TYPES | {"projection"}
    description: ClassVar[str] = "Arrow IPC files (Feather v2) and directories of part files"

    def pyarrow_format(self) -> ds.FileFormat:
        import pyarrow.dataset as ds

        return ds.IpcFileFormat()

    def check_schema(self, schema: pa.Schema) -> None:
        from interlock_formats.typecheck import check_ipc_schema

        check_ipc_schema(schema)

    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: dict[str, Any],
    ) -> None:
        from interlock_formats.writing import write_ipc

        write_ipc(self, data, path, filesystem, options)


class CsvFormat(PyArrowFormat):
    """Comma-separated values with a header row; column types are inferred on read."""

    name: ClassVar[str] = "csv"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)
    capabilities: ClassVar[frozenset[str]] = (
        _READ_SIDE | _WRITE_SIDE | {"types:dictionary", "types:timestamp_tz"}
    )
    description: ClassVar[str] = "CSV files with a header row (types inferred when read)"

    def pyarrow_format(self) -> ds.FileFormat:
        import pyarrow.csv as pcsv
        import pyarrow.dataset as ds

        # Unquoted empty fields are nulls and quoted ones ("") are empty strings, which is
        # exactly how the writer below tells them apart (DS-102).
        # Only the empty field is null: pyarrow's default list also makes the unquoted "nan"
        # the writer emits for NaN into a null (found by the conformance vectors).
        convert = pcsv.ConvertOptions(
            strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""]
        )
        # The writer quotes values with line breaks, and a lone null in a one-column file is
        # an empty line; both must read back as written.
        parse = pcsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False)
        return ds.CsvFileFormat(parse_options=parse, convert_options=convert)

    def check_schema(self, schema: pa.Schema) -> None:
        from interlock_formats.typecheck import check_csv_schema

        check_csv_schema(schema)

    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: dict[str, Any],
    ) -> None:
        from interlock_formats.writing import write_csv

        write_csv(self, data, path, filesystem, options)


class JsonLinesFormat(PyArrowFormat):
    """JSON Lines (one JSON object per line); read only."""

    name: ClassVar[str] = "jsonl"
    extensions: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson")
    capabilities: ClassVar[frozenset[str]] = _READ_SIDE
    description: ClassVar[str] = "JSON Lines files, one object per line (read only)"

    def pyarrow_format(self) -> ds.FileFormat:
        import pyarrow.dataset as ds

        return ds.JsonFileFormat()

    def write(
        self,
        data: pa.RecordBatchReader,
        path: str,
        filesystem: AbstractFileSystem,
        *,
        options: dict[str, Any],
    ) -> None:
        raise DatasetError(
            "the jsonl format is read-only",
            hint="write format='parquet', 'arrow' or 'csv' instead",
        )
