"""A CSV that interlock writes reads back with the column types dataset.md promises (DS-104,
DS-105): floats stay floats, and what does not keep its type is the documented list."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import interlock
from interlock_conformance import requirement

INTEGRAL = [1.0, -0.0, 2.0, None, 1e20, 3.0]


def _floats() -> pa.Table:
    """Float columns whose values are integral, and the special values."""
    return pa.table(
        {
            "f64": pa.array(INTEGRAL, pa.float64()),
            "f32": pa.array(INTEGRAL, pa.float32()),
            "f16": pa.array(np.array([1, 2, 3, 4, 5, 6], np.float16)),
            "special": pa.array([float("nan"), float("inf"), float("-inf"), 0.5, 1e-7, None]),
        }
    )


@requirement("DS-104")
def test_integral_floats_are_written_with_a_decimal_point_and_read_back_as_floats(
    tmp_path: Path,
) -> None:
    table = _floats()
    dataset = interlock.write_dataset(table, tmp_path / "f.csv", format="csv")
    assert dataset.schema.types == [pa.float64()] * 4
    read = dataset.to_table()
    for name in table.column_names:  # the same values, NaN included
        written = table.column(name).to_pylist()
        back = read.column(name).cast(table.schema.field(name).type).to_pylist()
        assert [repr(v) for v in back] == [repr(v) for v in written], name
    lines = (tmp_path / "f.csv").read_text().splitlines()
    assert lines[0] == '"f64","f32","f16","special"'
    assert lines[1:3] == ["1.0,1.0,1.0,nan", "-0.0,-0.0,2.0,inf"]
    assert lines[4] == ",,4.0,0.5"


@requirement("DS-104")
def test_a_directory_of_many_batches_keeps_float_columns_float(tmp_path: Path) -> None:
    batch = pa.record_batch({"x": pa.array([1.0, 2.0], pa.float32()), "i": [1, 2]})
    reader = pa.RecordBatchReader.from_batches(batch.schema, [batch] * 5)
    dataset = interlock.write_dataset(reader, tmp_path / "dir", format="csv", max_rows_per_file=4)
    assert len(dataset.files()) == 3
    assert dataset.schema.types == [pa.float64(), pa.int64()]
    assert dataset.to_table().column("x").to_pylist() == [1.0, 2.0] * 5


def _every_type() -> pa.Table:
    paris = pa.timestamp("ns", tz="Europe/Paris")
    return pa.table(
        {
            "b": pa.array([True, False, None]),
            "i8": pa.array([1, -2, None], pa.int8()),
            "u64": pa.array([2**63 - 1, 0, None], pa.uint64()),
            "i64": pa.array([2**63 - 1, -(2**63), None], pa.int64()),
            "f32": pa.array([0.1, 1e30, None], pa.float32()),
            "s": pa.array(['a,"b"', "", None]),
            "ls": pa.array(["x\ny", None, "z"], pa.large_string()),
            "dict": pa.array(["x", None, "y"]).dictionary_encode(),
            "d32": pa.array([dt.date(2020, 1, 2), None, dt.date(1, 1, 1)], pa.date32()),
            "d64": pa.array([dt.date(2020, 1, 2), None, dt.date(1970, 1, 1)], pa.date64()),
            "ts_s": pa.array([dt.datetime(2020, 1, 2, 3, 4, 5), None, dt.datetime(1900, 1, 1)],
                             pa.timestamp("s")),
            "ts_ms": pa.array([dt.datetime(2020, 1, 2, 3, 4, 5, 123000), None,
                               dt.datetime(1900, 1, 1)], pa.timestamp("ms")),
            "ts_tz": pa.array([0, None, -2208988800 * 10**9], paris),  # 1900: offset +00:09:21
            "ts_s_utc": pa.array([0, None, 10], pa.timestamp("s", tz="UTC")),
            "dur": pa.array([1, None, -5], pa.duration("ms")),
            "all_null": pa.array([None, None, None], pa.float64()),
        }
    )


EXPECTED_TYPES = {
    "b": pa.bool_(), "i8": pa.int64(), "u64": pa.int64(), "i64": pa.int64(),
    "f32": pa.float64(), "s": pa.string(), "ls": pa.string(), "dict": pa.string(),
    "d32": pa.date32(), "d64": pa.date32(), "ts_s": pa.timestamp("s"),
    "ts_ms": pa.timestamp("ns"), "ts_tz": pa.timestamp("ns", "UTC"),
    "ts_s_utc": pa.timestamp("s", "UTC"), "dur": pa.int64(), "all_null": pa.null(),
}


@requirement("DS-105", "DS-102")
def test_a_round_trip_keeps_values_and_gives_the_documented_types(tmp_path: Path) -> None:
    table = _every_type()
    dataset = interlock.write_dataset(table, tmp_path / "t.csv")
    read = dataset.to_table()
    assert read.column_names == table.column_names and read.num_rows == table.num_rows
    assert dict(zip(read.column_names, read.schema.types)) == EXPECTED_TYPES
    assert read.cast(table.schema).equals(table)
    # what the format says it reads back is what it reads back, the all-null column apart
    promised = interlock.get_registry().get("dataset_format", "csv").read_back_schema(table.schema)
    assert [f for f in promised if f.name != "all_null"] == [
        f for f in read.schema if f.name != "all_null"
    ]


@requirement("DS-105")
def test_text_that_reads_as_another_type_is_the_documented_exception(tmp_path: Path) -> None:
    table = pa.table({"n": ["007", "1"], "t": ["true", "false"], "h": ["12:00:00", "13:00:00"]})
    read = interlock.write_dataset(table, tmp_path / "s.csv").schema
    assert read.types == [pa.int64(), pa.bool_(), pa.time32("s")]


@requirement("DS-104")
def test_other_values_are_written_as_pyarrow_writes_them(tmp_path: Path) -> None:
    table = _every_type().drop_columns(["f32", "ts_tz", "ts_s_utc", "all_null"])
    ours = interlock.write_dataset(table, tmp_path / "t.csv")
    theirs = io.BytesIO()
    pcsv.write_csv(table, theirs, pcsv.WriteOptions(quoting_style="needed"))
    assert (tmp_path / "t.csv").read_bytes() == theirs.getvalue()
    assert ours.count_rows() == 3


@requirement("DS-104")
def test_zoned_timestamps_are_written_in_utc(tmp_path: Path) -> None:
    table = pa.table({"t": pa.array([1_500], pa.timestamp("ms", tz="Asia/Kolkata"))})
    interlock.write_dataset(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == '"t"\n1970-01-01 00:00:01.500Z\n'


@requirement("DS-104")
def test_a_uint64_above_int64_is_refused_naming_the_column_and_value(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array([1, 2**64 - 1], pa.uint64())})
    with pytest.raises(interlock.DatasetError) as caught:
        interlock.write_dataset(table, tmp_path / "u.csv")
    assert "column 'id'" in str(caught.value) and str(2**64 - 1) in str(caught.value)
    assert "Parquet" in (caught.value.hint or "")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@requirement("DS-105")
def test_float32_data_appends_to_a_csv_directory_it_was_written_to(tmp_path: Path) -> None:
    batch = pa.table({"x": pa.array([1.0, 2.5], pa.float32()), "i": pa.array([1, 2], pa.int32())})
    interlock.write_dataset(batch, tmp_path / "dir", format="csv")
    dataset = interlock.write_dataset(batch, tmp_path / "dir", format="csv", mode="append")
    assert dataset.to_table().column("x").to_pylist() == [1.0, 2.5, 1.0, 2.5]


def _probabilities() -> pa.Table:
    lists = pa.array([[0.25, 0.75], None, [1.0, 0.0]], pa.list_(pa.float32(), 2))
    return pa.table({"id": [1, 2, 3], "p": lists, "after": ["a", "b", "c"]})


@requirement("DS-106")
def test_flatten_lists_writes_one_column_per_element(tmp_path: Path) -> None:
    dataset = interlock.write_dataset(_probabilities(), tmp_path / "p.csv", flatten_lists=True)
    assert dataset.schema.names == ["id", "p_0", "p_1", "after"]
    assert dataset.schema.field("p_0").type == pa.float64()
    read = dataset.to_table()
    assert read.column("p_0").to_pylist() == [0.25, None, 1.0]
    assert read.column("p_1").to_pylist() == [0.75, None, 0.0]
    component = interlock.get_registry().get("dataset_format", "csv")
    assert component.read_back_schema(_probabilities().schema) == dataset.schema


@requirement("DS-106")
def test_a_fixed_size_list_without_flatten_lists_is_refused_naming_the_option(
    tmp_path: Path,
) -> None:
    with pytest.raises(interlock.DatasetError) as caught:
        interlock.write_dataset(_probabilities(), tmp_path / "p.csv")
    assert "column 'p' of type fixed_size_list<item: float>[2]" in str(caught.value)
    assert "flatten_lists=True" in (caught.value.hint or "") and "p_0, p_1" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


@requirement("DS-106", "DS-101")
def test_variable_length_lists_and_name_clashes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(interlock.DatasetError, match="column 'l' of type list<item: int64>") as c:
        interlock.write_dataset(pa.table({"l": [[1], [2, 3]]}), tmp_path / "v.csv",
                                flatten_lists=True)
    assert "only a fixed-size list" in (c.value.hint or "")
    clash = _probabilities().append_column("p_1", pa.array([1, 2, 3]))
    with pytest.raises(interlock.DatasetError, match="'p_1' would be the name of two columns"):
        interlock.write_dataset(clash, tmp_path / "c.csv", flatten_lists=True)
    assert list(tmp_path.iterdir()) == []


@requirement("DS-106")
def test_flattened_lists_append_to_a_csv_directory(tmp_path: Path) -> None:
    interlock.write_dataset(_probabilities(), tmp_path / "d", format="csv", flatten_lists=True)
    dataset = interlock.write_dataset(_probabilities(), tmp_path / "d", format="csv",
                                      mode="append", flatten_lists=True)
    assert dataset.count_rows() == 6 and dataset.schema.names == ["id", "p_0", "p_1", "after"]
