"""The reference dataset formats (plugins/interlock_formats): types, reading features, options.

The type matrix writes every type group (dataset.md DS-070) through every writable format:
a format that claims ``types:<group>`` must bring the values back (DS-071, DS-072); one that
does not must refuse the group's table before anything is written (DS-073).
"""

from __future__ import annotations

import datetime
import decimal
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import interlock
from interlock.datasets import DATASET_CAPABILITIES
from interlock.plugins import get_registry
from interlock_conformance import requirement

WRITABLE = ["parquet", "arrow", "csv"]
EXTENSION = {"parquet": ".parquet", "arrow": ".arrow", "csv": ".csv", "jsonl": ".jsonl"}
UNICODE = "héllo wörld ✓ 日本語 🎉 مرحبا e\u0301"


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"/interlock-tests/{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _ts(unit: str, tz: str | None = None) -> pa.Array:
    values = [datetime.datetime(2024, 2, 29, 12, 30, 15, 123000), None, datetime.datetime(1970, 1, 1)]
    naive = pa.array(values, pa.timestamp(unit))
    return naive if tz is None else pc.assume_timezone(naive, tz) if tz != "UTC" else naive.cast(
        pa.timestamp(unit, "UTC")
    )


def type_groups() -> dict[str, pa.Table]:
    """One table per type group of dataset.md DS-070; every column holds a null."""
    struct = pa.struct([("a", pa.int32()), ("b", pa.string())])
    return {
        "basic": pa.table(
            {
                "bool": pa.array([True, None, False]),
                "int8": pa.array([-128, None, 127], pa.int8()),
                "int16": pa.array([-32768, None, 32767], pa.int16()),
                "int32": pa.array([-(2**31), None, 2**31 - 1], pa.int32()),
                "int64": pa.array([-(2**63), None, 2**63 - 1], pa.int64()),
                "uint8": pa.array([0, None, 255], pa.uint8()),
                "uint16": pa.array([0, None, 65535], pa.uint16()),
                "uint32": pa.array([0, None, 2**32 - 1], pa.uint32()),
                "uint64": pa.array([0, None, 2**63 - 1], pa.uint64()),
                "float32": pa.array([1.5, None, -0.25], pa.float32()),
                "float64": pa.array([1e300, None, -2.5e-300], pa.float64()),
                "string": pa.array([UNICODE, None, ""]),
                "quoted": pa.array(['a,"b"\nc', None, " lead and trail "]),
                f"naïve {UNICODE[:5]}": pa.array(["x", "y", None]),
                "null": pa.nulls(3),
            }
        ),
        "binary": pa.table(
            {
                "binary": pa.array([b"\x00\xff", None, b""], pa.binary()),
                "fixed": pa.array([b"abc", None, b"\x00\x00\x00"], pa.binary(3)),
            }
        ),
        "nested": pa.table(
            {
                "list": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
                "struct": pa.array([{"a": 1, "b": UNICODE}, None, {"a": None, "b": None}], struct),
                "list_struct": pa.array([[{"a": 1, "b": "x"}, None], None, []], pa.list_(struct)),
                "map": pa.array([[("k", 1), ("é", None)], None, []], pa.map_(pa.string(), pa.int64())),
                "fixed_list": pa.array([[1, 2], None, [3, None]], pa.list_(pa.int32(), 2)),
                "nested_list": pa.array([[[1], []], None, [None]], pa.list_(pa.list_(pa.int16()))),
            }
        ),
        "dictionary": pa.table(
            {
                "dict32": pa.array(["a", None, UNICODE]).dictionary_encode(),
                "dict8": pa.array(["x", "x", None]).dictionary_encode().cast(
                    pa.dictionary(pa.int8(), pa.string())
                ),
            }
        ),
        "decimal": pa.table(
            {
                "decimal128": pa.array(
                    [decimal.Decimal("12345678.91"), None, decimal.Decimal("-0.01")],
                    pa.decimal128(10, 2),
                ),
                "decimal256": pa.array(
                    [decimal.Decimal("1" * 35 + ".12345"), None, decimal.Decimal("0.00001")],
                    pa.decimal256(40, 5),
                ),
            }
        ),
        "temporal": pa.table(
            {
                "date32": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1900, 1, 1)]),
                "date64": pa.array([datetime.date(2024, 2, 29), None, datetime.date(1970, 1, 1)],
                                   pa.date64()),
                "time32": pa.array([datetime.time(23, 59, 59), None, datetime.time(0)], pa.time32("s")),
                "time64": pa.array([datetime.time(12, 0, 0, 5), None, datetime.time(0)],
                                   pa.time64("us")),
                "timestamp_s": _ts("s"),
                "timestamp_ns": _ts("ns"),
                "duration": pa.array([1500, None, -1], pa.duration("ms")),
            }
        ),
        "timestamp_tz": pa.table(
            {
                "utc": _ts("us", "UTC"),
                "tokyo": _ts("ns", "Asia/Tokyo"),
                "offset": _ts("ms", "+05:30"),
            }
        ),
        "large": pa.table(
            {
                "large_string": pa.array([UNICODE, None, ""], pa.large_string()),
                "large_binary": pa.array([b"\x00", None, b""], pa.large_binary()),
                "large_list": pa.array([[1, None], None, []], pa.large_list(pa.int64())),
            }
        ),
    }


GROUPS = list(type_groups())


def _capability(group: str) -> str | None:
    return None if group == "basic" else f"types:{group}"


def _format(name: str) -> interlock.DatasetFormat:
    component: interlock.DatasetFormat = get_registry().get("dataset_format", name)
    return component


def _parquet_read_type(data_type: pa.DataType) -> pa.DataType:
    """Parquet's documented type changes on read (DS-110)."""
    if pa.types.is_date64(data_type):
        return pa.date32()
    if pa.types.is_time32(data_type) and data_type.unit == "s":
        return pa.time32("ms")
    if pa.types.is_timestamp(data_type) and data_type.unit == "s":
        return pa.timestamp("ms", data_type.tz)
    return data_type


def _assert_round_trip(fmt: str, written: pa.Table, read: pa.Table) -> None:
    assert read.num_rows == written.num_rows
    assert read.schema.names == written.schema.names
    if fmt == "arrow":
        assert read.schema.equals(written.schema, check_metadata=False)
        assert read.equals(written)
    elif fmt == "parquet":
        expected = pa.schema(
            [field.with_type(_parquet_read_type(field.type)) for field in written.schema]
        )
        assert read.schema.equals(expected, check_metadata=False)
        assert read.equals(written.cast(expected))
    else:  # csv re-infers types (DS-102): values are equal once cast back
        assert read.cast(written.schema).equals(written)


@pytest.mark.parametrize("rows", [3, 0], ids=["rows", "empty"])
@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("fmt", WRITABLE)
@requirement("DS-070", "DS-101", "DS-102", "DS-110")
def test_type_groups_round_trip_or_are_refused_before_writing(
    fmt: str, group: str, rows: int, tmp_path: Path
) -> None:
    """DS-070, DS-071, DS-072, DS-073, DS-101, DS-102, DS-110"""
    table = type_groups()[group].slice(0, rows)
    uri = str(tmp_path / f"data{EXTENSION[fmt]}")
    capability = _capability(group)
    if capability is None or capability in _format(fmt).capabilities:
        dataset = interlock.write_dataset(table, uri)
        _assert_round_trip(fmt, table, dataset.to_table())
        return
    with pytest.raises(interlock.DatasetError) as caught:
        interlock.write_dataset(table, uri)
    message = str(caught.value)
    named = [f.name for f in table.schema if f"column {f.name!r} of type {f.type}" in message]
    assert named, message
    assert uri in message
    assert caught.value.hint
    assert list(tmp_path.iterdir()) == []  # nothing written, not even staging


@pytest.mark.parametrize("fmt", WRITABLE)
def test_directory_datasets_round_trip_many_batches(fmt: str, memory_root: str) -> None:
    """DS-042, DS-044, DS-071"""
    table = type_groups()["basic"]
    batches = [table.slice(i, 1).to_batches()[0] for i in range(3)] * 4
    reader = pa.RecordBatchReader.from_batches(table.schema, batches)
    dataset = interlock.write_dataset(reader, f"{memory_root}/dir", format=fmt, max_rows_per_file=5)
    assert len(dataset.files()) == 3
    _assert_round_trip(fmt, pa.Table.from_batches(batches), dataset.to_table())


@requirement("DS-110")
def test_parquet_refuses_types_it_cannot_hold(tmp_path: Path) -> None:
    """DS-073, DS-110"""
    union = pa.UnionArray.from_sparse(pa.array([0, 0], pa.int8()), [pa.array([1, 2])])
    table = pa.table({"ok": [1, 2], "u": union})
    with pytest.raises(interlock.DatasetError, match=r"column 'u' of type sparse_union"):
        interlock.write_dataset(table, tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


@requirement("DS-111")
def test_arrow_keeps_growing_and_changing_dictionaries_across_batches(tmp_path: Path) -> None:
    """DS-111"""
    batches = [
        pa.record_batch({"d": pa.array(["a", "b"]).dictionary_encode()}),
        pa.record_batch({"d": pa.array(["a", "b", "c"]).dictionary_encode()}),
        pa.record_batch({"d": pa.array(["z", None, "a"]).dictionary_encode()}),
    ]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, batches)
    dataset = interlock.write_dataset(reader, tmp_path / "d.arrow")
    read = dataset.to_table()
    assert read.schema.field("d").type == batches[0].schema.field("d").type
    assert read.column("d").to_pylist() == ["a", "b", "a", "b", "c", "z", None, "a"]


@requirement("DS-111")
def test_dictionary_deltas_read_back_every_time_and_with_partitions(tmp_path: Path) -> None:
    """pyarrow.dataset's IPC reader misreads dictionary deltas now and then (wrong offsets or a
    crash), so interlock reads such files in order: many reads, projections, filters and hive
    partitions all give the rows written."""
    batches = [pa.record_batch({"d": pa.array(words).dictionary_encode(),
                                "n": pa.array(range(i * 3, i * 3 + len(words)))})
               for i, words in enumerate([["a", "b"], ["a", "b", "c"], ["z", None, "a"]])]
    want = ["a", "b", "a", "b", "c", "z", None, "a"]
    for key in (1, 2):
        reader = pa.RecordBatchReader.from_batches(batches[0].schema, batches)
        interlock.write_dataset(reader, tmp_path / "parts" / f"k={key}" / "p.arrow")
    single = interlock.open_dataset(tmp_path / "parts" / "k=1" / "p.arrow")
    for _ in range(200):
        assert single.to_table().column("d").to_pylist() == want
    assert single.count_rows(pc.field("d") == "a") == 3
    small = single.to_reader(columns=["d"], batch_size=1).read_all()
    assert small.column_names == ["d"] and small.column("d").to_pylist() == want
    parts = interlock.open_dataset(tmp_path / "parts", format="arrow")
    table = parts.to_table().sort_by([("k", "ascending"), ("n", "ascending")])
    assert table.column("d").to_pylist() == want * 2
    assert table.column("k").to_pylist() == [1] * 8 + [2] * 8
    assert parts.count_rows(pc.field("k") == 2) == 8


@requirement("DS-102")
def test_csv_tells_nulls_from_empty_strings_and_keeps_line_breaks(tmp_path: Path) -> None:
    """DS-071, DS-102"""
    table = pa.table({"s": ["a\nb", "", None, 'q"x,']})
    dataset = interlock.write_dataset(table, tmp_path / "s.csv")
    assert dataset.to_table().column("s").to_pylist() == ["a\nb", "", None, 'q"x,']


def test_csv_reads_files_written_elsewhere_with_inferred_types(tmp_path: Path) -> None:
    """DS-102"""
    (tmp_path / "x.csv").write_text("i,f,b,s,t\n1,1.5,true,hi,2024-01-02 03:04:05\n2,,false,,\n")
    table = interlock.open_dataset(tmp_path / "x.csv").to_table()
    assert table.schema.types == [pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.timestamp("s")]
    assert table.column("s").to_pylist() == ["hi", None]


def test_csv_reads_typed_values_back_as_inferred_types(tmp_path: Path) -> None:
    """DS-072, DS-102"""
    table = pa.table(
        {
            "i": pa.array([1, None], pa.int8()),
            "d": pa.array(["a", "b"]).dictionary_encode(),
            "t": pa.array([0, None], pa.timestamp("ms", "Europe/Paris")),
        }
    )
    read = interlock.write_dataset(table, tmp_path / "t.csv").schema
    assert read.types == [pa.int64(), pa.string(), pa.timestamp("ns", "UTC")]


@requirement("DS-103")
def test_jsonl_is_read_only_but_reads_nested_values(tmp_path: Path) -> None:
    """DS-015, DS-103"""
    (tmp_path / "x.jsonl").write_text(
        '{"a": 1, "b": {"c": [1, 2]}, "s": "é"}\n{"a": null, "b": {"c": []}, "s": null}\n'
    )
    dataset = interlock.open_dataset(tmp_path / "x.jsonl")
    assert dataset.format_name == "jsonl"
    assert dataset.to_table(columns=["s", "a"]).to_pydict() == {"s": ["é", None], "a": [1, None]}
    assert dataset.to_table().column("b").to_pylist() == [{"c": [1, 2]}, {"c": []}]
    assert dataset.count_rows(filter=pc.field("a") == 1) == 1
    assert "write" not in _format("jsonl").capabilities
    with pytest.raises(interlock.DatasetError, match="read-only") as caught:
        interlock.write_dataset(pa.table({"a": [1]}), tmp_path / "y.jsonl")
    assert "parquet" in (caught.value.hint or "")
    assert not (tmp_path / "y.jsonl").exists()


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv", "jsonl"])
def test_projection_filter_and_batch_size(fmt: str, tmp_path: Path) -> None:
    """DS-020, DS-021, DS-022, DS-023, DS-024, DS-026, DS-027, DS-029, DS-091"""
    n = 1000
    table = pa.table({"a": pa.array(range(n), pa.int64()), "b": [f"v{i}" for i in range(n)],
                      "c": pa.array([i % 3 == 0 for i in range(n)])})
    path = tmp_path / f"t{EXTENSION[fmt]}"
    if fmt == "jsonl":
        path.write_text("".join(f'{{"a": {i}, "b": "v{i}", "c": {str(i % 3 == 0).lower()}}}\n'
                                for i in range(n)))
    elif fmt == "parquet":
        pq.write_table(table, path, row_group_size=128)
    else:
        interlock.write_dataset(table, path)
    dataset = interlock.open_dataset(path)
    assert dataset.format_name == fmt
    assert dataset.to_reader().schema.equals(dataset.schema)
    files = dataset.files()
    assert files == sorted(files) and all(f.startswith(dataset.path) for f in files)

    projected = dataset.to_reader(columns=["c", "a"])
    assert projected.schema.names == ["c", "a"]
    assert projected.read_all().column("a").to_pylist() == list(range(n))

    keep = (pc.field("a") >= 10) & ~pc.field("c")
    filtered = dataset.to_table(columns=["a"], filter=keep)
    assert filtered.column("a").to_pylist() == [i for i in range(10, n) if i % 3 != 0]
    assert dataset.count_rows(filter=keep) == filtered.num_rows
    assert filtered.equals(dataset.to_reader(columns=["a"], filter=keep).read_all())
    assert dataset.count_rows() == n

    sizes = [batch.num_rows for batch in dataset.to_reader(batch_size=77)]
    assert sum(sizes) == n and max(sizes) <= 77

    empty = dataset.to_reader(columns=[])
    assert empty.schema.names == []
    assert sum(batch.num_rows for batch in empty) == n


def test_hive_partitioned_directories_read_partition_columns(tmp_path: Path) -> None:
    """DS-004, DS-006"""
    for year in (2023, 2024):
        for region in ("eu", "us"):
            folder = tmp_path / "sales" / f"year={year}" / f"region={region}"
            folder.mkdir(parents=True)
            pq.write_table(pa.table({"amount": [year, year + 1]}), folder / "part-0.parquet")
    (tmp_path / "sales" / "_SUCCESS").write_text("")
    (tmp_path / "sales" / ".hidden.parquet").write_text("not parquet")
    (tmp_path / "sales" / "README.md").write_text("ignored: not a data file")
    dataset = interlock.open_dataset(tmp_path / "sales")
    assert dataset.schema.names == ["amount", "year", "region"]
    assert len(dataset.files()) == 4
    table = dataset.to_table(filter=(pc.field("year") == 2024) & (pc.field("region") == "us"))
    assert table.to_pydict() == {"amount": [2024, 2025], "year": [2024, 2024], "region": ["us", "us"]}
    assert dataset.count_rows(filter=pc.field("region") == "eu") == 4


@pytest.mark.parametrize("fmt", WRITABLE)
def test_arrow_stream_export_feeds_pyarrow_and_polars(fmt: str, memory_root: str) -> None:
    """DS-025"""
    table = pa.table({"a": [1, 2, None], "s": ["x", UNICODE, None]})
    dataset = interlock.write_dataset(table, f"{memory_root}/t{EXTENSION[fmt]}")
    expected = dataset.to_table()
    assert pa.table(dataset).equals(expected)
    assert pl.DataFrame(dataset).equals(pl.from_arrow(expected))
    # polars reads any non-pyarrow Arrow stream as a struct Series (its documented rule)
    assert pl.from_arrow(dataset).struct.unnest().equals(pl.from_arrow(expected))


@pytest.mark.parametrize("fmt", WRITABLE)
def test_unknown_and_invalid_options_are_refused(fmt: str, tmp_path: Path) -> None:
    """DS-045, DS-100"""
    with pytest.raises(interlock.DatasetError, match="compresion") as caught:
        interlock.write_dataset(pa.table({"a": [1]}), tmp_path / "x", format=fmt, compresion="zstd")
    assert "max_rows_per_file" in (caught.value.hint or "")
    with pytest.raises(interlock.DatasetError, match="max_rows_per_file"):
        interlock.write_dataset(pa.table({"a": [1]}), tmp_path / "y", format=fmt, max_rows_per_file=0)
    with pytest.raises(interlock.DatasetError, match="directory datasets"):
        interlock.write_dataset(
            pa.table({"a": [1]}), tmp_path / f"z{EXTENSION[fmt]}", max_rows_per_file=10
        )
    assert sorted(os.listdir(tmp_path)) == []


def test_parquet_options_set_codec_and_row_groups(tmp_path: Path) -> None:
    """DS-041, DS-100"""
    table = pa.table({"a": list(range(1000))})
    batches = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=64))
    interlock.write_dataset(batches, tmp_path / "t.parquet", compression="zstd", row_group_size=300)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [300, 300, 300, 100]
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_arrow_compression_option_writes_compressed_ipc(tmp_path: Path) -> None:
    """DS-100"""
    table = pa.table({"a": [0] * 10_000})
    interlock.write_dataset(table, tmp_path / "plain.arrow")
    interlock.write_dataset(table, tmp_path / "small.arrow", compression="zstd")
    assert (tmp_path / "small.arrow").stat().st_size < (tmp_path / "plain.arrow").stat().st_size
    assert interlock.open_dataset(tmp_path / "small.arrow").to_table().equals(table)


def test_feather_and_ipc_extensions_read_files_written_by_pyarrow(tmp_path: Path) -> None:
    """DS-011, DS-100"""
    import pyarrow.feather as feather

    table = pa.table({"a": [1, 2]})
    feather.write_feather(table, tmp_path / "t.feather")
    with pa.ipc.new_file(tmp_path / "t.ipc", table.schema) as writer:
        writer.write_table(table)
    pcsv.write_csv(table, tmp_path / "t.csv")
    for name in ("t.feather", "t.ipc", "t.csv"):
        assert interlock.open_dataset(tmp_path / name).to_table().equals(table)


@requirement("DS-100")
def test_reference_formats_are_registered_as_fallbacks_with_documented_capabilities() -> None:
    """DS-013, DS-090, DS-100"""
    registry = get_registry()
    names = {"parquet", "arrow", "csv", "jsonl"}
    assert names <= set(registry.names("dataset_format"))
    for name in names:
        component = _format(name)
        assert component.priority == interlock.FALLBACK_PRIORITY
        assert component.capabilities <= set(DATASET_CAPABILITIES), name
        assert component.extensions and all(e.startswith(".") and e == e.lower()
                                            for e in component.extensions)
        owner = registry.owner(component)
        assert owner is not None and owner.name == "interlock_formats"
