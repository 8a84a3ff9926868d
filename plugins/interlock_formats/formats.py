"""The reference format components, on :class:`interlock.datasets.PyArrowFileFormat`.

Each says which ``pyarrow.dataset`` file format reads it and how one file is encoded; the base
does the rest. Light to import: pyarrow is loaded inside the methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from interlock.datasets import PyArrowFileFormat
from interlock.plugins import FALLBACK_PRIORITY

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pydantic import BaseModel

__all__ = ["ArrowIpcFormat", "CsvFormat", "JsonLinesFormat", "ParquetFormat"]

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


class ParquetFormat(PyArrowFileFormat):
    """Apache Parquet: columnar, typed, with row groups and statistics."""

    name: ClassVar[str] = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet", ".pq")
    capabilities: ClassVar[frozenset[str]] = (
        _READ_SIDE | _WRITE_SIDE | _ALL_TYPES | {"projection", "filter", "shards:row_groups"}
    )
    priority: ClassVar[int] = FALLBACK_PRIORITY
    description: ClassVar[str] = "Apache Parquet files and directories of part files"

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_formats.options import ParquetWriteOptions

        return ParquetWriteOptions

    def pyarrow_format(self, options: Any) -> ds.FileFormat:
        import pyarrow.dataset as ds

        return ds.ParquetFileFormat()

    def check_schema(self, schema: pa.Schema) -> None:
        from interlock_formats.typecheck import check_parquet_schema

        check_parquet_schema(schema)

    def write_file(self, data: pa.RecordBatchReader, file: BinaryIO, options: Any) -> None:
        from interlock_formats.writing import write_parquet

        write_parquet(data, file, options)


class ArrowIpcFormat(PyArrowFileFormat):
    """The Arrow IPC file format (Feather v2): Arrow's own columns, every type."""

    name: ClassVar[str] = "arrow"
    extensions: ClassVar[tuple[str, ...]] = (".arrow", ".feather", ".ipc")
    capabilities: ClassVar[frozenset[str]] = _READ_SIDE | _WRITE_SIDE | _ALL_TYPES | {"projection"}
    priority: ClassVar[int] = FALLBACK_PRIORITY
    description: ClassVar[str] = "Arrow IPC files (Feather v2) and directories of part files"

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_formats.options import IpcWriteOptions

        return IpcWriteOptions

    def pyarrow_format(self, options: Any) -> ds.FileFormat:
        import pyarrow.dataset as ds

        return ds.IpcFileFormat()

    def check_schema(self, schema: pa.Schema) -> None:
        from interlock_formats.typecheck import check_ipc_schema

        check_ipc_schema(schema)

    def write_file(self, data: pa.RecordBatchReader, file: BinaryIO, options: Any) -> None:
        from interlock_formats.writing import write_ipc

        write_ipc(data, file, options)


class CsvFormat(PyArrowFileFormat):
    """Comma-separated values with a header row; column types are inferred on read."""

    name: ClassVar[str] = "csv"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)
    capabilities: ClassVar[frozenset[str]] = (
        _READ_SIDE | _WRITE_SIDE | {"types:dictionary", "types:timestamp_tz"}
    )
    priority: ClassVar[int] = FALLBACK_PRIORITY
    description: ClassVar[str] = "CSV files with a header row (types inferred when read)"

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_formats.options import CsvWriteOptions

        return CsvWriteOptions

    def pyarrow_format(self, options: Any) -> ds.FileFormat:
        import pyarrow.csv as pcsv
        import pyarrow.dataset as ds

        # Unquoted empty fields are nulls and quoted ones ("") are empty strings, which is
        # exactly how the writer tells them apart (DS-102).
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

    def read_back_schema(self, schema: pa.Schema) -> pa.Schema:
        from interlock_formats.typecheck import csv_read_back_schema

        return csv_read_back_schema(schema)

    def write_file(self, data: pa.RecordBatchReader, file: BinaryIO, options: Any) -> None:
        from interlock_formats.writing import write_csv

        write_csv(data, file, options)


class JsonLinesFormat(PyArrowFileFormat):
    """JSON Lines (one JSON object per line); read only, so the base refuses writes."""

    name: ClassVar[str] = "jsonl"
    extensions: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson")
    capabilities: ClassVar[frozenset[str]] = _READ_SIDE
    priority: ClassVar[int] = FALLBACK_PRIORITY
    description: ClassVar[str] = "JSON Lines files, one object per line (read only)"

    def pyarrow_format(self, options: Any) -> ds.FileFormat:
        import pyarrow.dataset as ds

        return ds.JsonFileFormat()
