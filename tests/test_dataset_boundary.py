"""The core's side of the format contract: plugin boundary, spec violations, vendor precedence
(dataset.md DS-014, DS-016, DS-081), with real format components registered as plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

import interlock
from interlock import DatasetFormat, hookimpl
from interlock_conformance import requirement

TABLE = pa.table({"a": [1, 2, 3]})


class _BrokenFormat(DatasetFormat):
    name: ClassVar[str] = "broken"
    extensions: ClassVar[tuple[str, ...]] = (".broken",)
    capabilities: ClassVar[frozenset[str]] = frozenset({"read", "write"})

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> interlock.Dataset:
        raise RuntimeError("cannot parse header")

    def write(self, data: pa.RecordBatchReader, path: str, filesystem: Any, *,
              options: Any) -> None:
        with filesystem.open(path, "wb") as handle:
            handle.write(b"half")
        raise ZeroDivisionError("bug in the writer")


class _LyingFormat(DatasetFormat):
    name: ClassVar[str] = "liar"
    extensions: ClassVar[tuple[str, ...]] = (".liar",)
    capabilities: ClassVar[frozenset[str]] = frozenset({"read", "write"})

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> interlock.Dataset:
        return "not a dataset"  # type: ignore[return-value]

    def write(self, data: pa.RecordBatchReader, path: str, filesystem: Any, *,
              options: Any) -> None:
        for _ in data:  # consumes the input but writes nothing
            pass


class _VendorParquet(DatasetFormat):
    """A vendor's parquet at the default priority, which beats the reference fallback."""

    name: ClassVar[str] = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet",)
    capabilities: ClassVar[frozenset[str]] = frozenset({"read"})
    opened: ClassVar[list[str]] = []

    def open(self, path: str, filesystem: Any, *, uri: str, options: Any = None) -> interlock.Dataset:
        self.opened.append(uri)
        from interlock_formats.formats import ParquetFormat

        return ParquetFormat().open(path, filesystem, uri=uri)

    def write(self, data: pa.RecordBatchReader, path: str, filesystem: Any, *,
              options: Any) -> None:
        raise AssertionError("not called: the format does not claim write")


class _Plugin:
    def __init__(self, *formats: DatasetFormat) -> None:
        self.formats = list(formats)

    @hookimpl
    def interlock_dataset_formats(self) -> list[DatasetFormat]:
        return self.formats


@requirement("DS-014", "DS-081")
def test_format_exceptions_become_plugin_errors_naming_the_culprit(tmp_path: Path) -> None:
    """DS-014, DS-081, DS-057: nothing half-written stays behind."""
    interlock.get_registry().register(_Plugin(_BrokenFormat()), name="acme_broken")
    (tmp_path / "x.broken").write_bytes(b"data")
    with pytest.raises(interlock.PluginError, match="'broken' from 'acme_broken'.*opening") as c:
        interlock.open_dataset(tmp_path / "x.broken")
    assert "RuntimeError: cannot parse header" in str(c.value)
    assert c.value.component == "broken" and c.value.plugin == "acme_broken"
    with pytest.raises(interlock.PluginError, match="writing.*ZeroDivisionError"):
        interlock.write_dataset(TABLE, tmp_path / "y.broken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.broken"]


@requirement("DS-016")
def test_spec_violations_of_a_format_are_named(tmp_path: Path) -> None:
    """DS-016, and a format that writes nothing is caught before publishing."""
    interlock.get_registry().register(_Plugin(_LyingFormat()), name="acme_liar")
    (tmp_path / "x.liar").write_bytes(b"data")
    with pytest.raises(interlock.SpecViolation, match="returned str from open"):
        interlock.open_dataset(tmp_path / "x.liar")
    with pytest.raises(interlock.SpecViolation, match="wrote nothing"):
        interlock.write_dataset(TABLE, tmp_path / "y.liar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.liar"]


@requirement("PLG-023", "DS-010", "DS-100")
def test_vendor_format_takes_precedence_over_the_reference_one(tmp_path: Path) -> None:
    """DS-010, DS-015, DS-100: reference formats are fallbacks; capabilities are enforced."""
    interlock.write_dataset(TABLE, tmp_path / "t.parquet")
    interlock.get_registry().register(_Plugin(_VendorParquet()), name="acme_parquet")
    assert interlock.open_dataset(tmp_path / "t.parquet").to_table().equals(TABLE)
    assert _VendorParquet.opened == [str(tmp_path / "t.parquet")]
    with pytest.raises(interlock.DatasetError, match="'parquet' cannot write .* read-only"):
        interlock.write_dataset(TABLE, tmp_path / "u.parquet")
