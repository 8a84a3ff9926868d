"""The ``delta`` dataset format (plugins/interlock_delta) on real Delta tables written and read
by deltalake on local files (spec: dataset.md DS-017, DS-120..DS-127, DS-130..DS-136)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from sklearn.linear_model import LogisticRegression

import interlock
from interlock import DatasetError
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent


def _table(start: int, rows: int) -> pa.Table:
    ids = np.arange(start, start + rows, dtype=np.int64)
    return pa.table(
        {
            "id": ids,
            "year": pa.array([2023 if i % 2 else 2024 for i in ids], pa.int64()),
            "value": ids.astype(np.float64) / 10,
        }
    )


@pytest.fixture()
def versions(tmp_path: Path) -> tuple[str, list[interlock.Dataset]]:
    """A table partitioned by year with three versions: 0 (rows 0..99), 1 (appended 100..149),
    2 (overwritten with 0..9)."""
    uri = str(tmp_path / "events")
    made = [interlock.write_dataset(_table(0, 100), uri, format="delta", partition_by=["year"])]
    time.sleep(0.01)  # distinct commit timestamps, so that time travel can tell them apart
    made.append(interlock.write_dataset(_table(100, 50), uri, mode="append"))
    time.sleep(0.01)
    made.append(interlock.write_dataset(_table(0, 10), uri, format="delta", mode="overwrite"))
    return uri, made


@requirement("DS-130", "DS-017", "DS-127")
def test_the_component_and_an_unnamed_table_is_found(tmp_path: Path) -> None:
    component = interlock.get_registry().get("dataset_format", "delta")
    assert component.extensions == ()
    assert {"read", "write", "append", "transactional", "filter"} <= component.capabilities
    uri = str(tmp_path / "t")
    interlock.write_dataset(_table(0, 10), uri, format="delta")
    # The table's directory holds parquet files too; the log decides, not the extensions.
    opened = interlock.open_dataset(uri)
    assert opened.format_name == "delta" and opened.count_rows() == 10
    plain = interlock.write_dataset(_table(0, 10), str(tmp_path / "plain"), format="parquet")
    assert interlock.open_dataset(plain.uri).format_name == "parquet"


@requirement("DS-131")
def test_time_travel_by_version_and_by_timestamp(
    versions: tuple[str, list[interlock.Dataset]],
) -> None:
    uri, made = versions
    counts = [interlock.open_dataset(uri, version=v).count_rows() for v in (0, 1, 2)]
    assert counts == [100, 150, 10]
    assert interlock.open_dataset(uri).count_rows() == 10
    history = DeltaTable(uri).history()
    committed = {int(h["version"]): int(h["timestamp"]) for h in history}
    at_one = datetime.fromtimestamp(committed[1] / 1000, tz=timezone.utc)
    assert interlock.open_dataset(uri, timestamp=at_one.isoformat()).count_rows() == 150
    naive = at_one.replace(tzinfo=None)  # no zone: UTC
    assert interlock.open_dataset(uri, timestamp=naive).count_rows() == 150
    with pytest.raises(DatasetError, match=r"version=7 does not exist.*versions 0\.\.2"):
        interlock.open_dataset(uri, version=7)
    with pytest.raises(DatasetError, match="before the table's first commit"):
        interlock.open_dataset(uri, timestamp="2001-01-01T00:00:00Z")


@requirement("DS-131")
def test_read_options_are_validated_before_reading(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    interlock.write_dataset(_table(0, 5), uri, format="delta")
    for options, culprit in (
        ({"version": -1}, "version"),
        ({"version": "1"}, "version"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"version": 0, "timestamp": "2026-01-01T00:00:00Z"}, "not both"),
        ({"as_of": 3}, "as_of"),
    ):
        with pytest.raises(DatasetError, match=culprit):
            interlock.open_dataset(uri, **options)


@requirement("DS-132")
def test_partitions_are_columns_and_filters_prune_files(
    versions: tuple[str, list[interlock.Dataset]],
) -> None:
    uri, _ = versions
    table = interlock.open_dataset(uri, version=1)
    assert table.schema.names == ["id", "year", "value"]
    assert {Path(f).parent.name for f in table.files()} == {"year=2023", "year=2024"}
    wanted = pc.field("year") == 2023
    expected = table.to_table().filter(wanted)
    # Proof of the push-down: every file of the other partition is damaged, and a scan that
    # opened one would fail; the filtered scan never opens them.
    for file in table.files():
        if "year=2024" in file:
            Path(file).write_bytes(b"not parquet")
    reopened = interlock.open_dataset(uri, version=1)
    got = reopened.to_table(filter=wanted, columns=["id", "year"])
    assert got.equals(expected.select(["id", "year"]))
    assert reopened.count_rows(filter=wanted) == expected.num_rows
    with pytest.raises(DatasetError, match="cannot read"):
        reopened.to_table()


@requirement("DS-132", "DS-135")
def test_file_statistics_skip_files_and_counts_come_from_the_log(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    for start in (0, 100, 200):
        interlock.write_dataset(_table(start, 100), uri, format="delta", mode="append")
    table = interlock.open_dataset(uri)
    assert len(table.files()) == 3
    # Damage the file holding ids 100..199 (found by the log's statistics).
    stats = DeltaTable(uri).get_add_actions(flatten=True)
    rows = pa.table(stats).to_pylist()
    middle = next(r["path"] for r in rows if r["min.id"] == 100)
    Path(uri, middle).write_bytes(b"not parquet")
    reopened = interlock.open_dataset(uri)
    assert reopened.count_rows() == 300  # from the log: the damaged file is not read
    low = reopened.to_table(filter=pc.field("id") < 50)
    assert low.column("id").to_pylist() == list(range(50))
    with pytest.raises(DatasetError):
        reopened.count_rows(filter=pc.field("id") >= 0)


@requirement("DS-124", "DS-136")
def test_fingerprint_pins_the_snapshot(versions: tuple[str, list[interlock.Dataset]]) -> None:
    uri, made = versions
    prints = [d.fingerprint() for d in made]
    assert len(set(prints)) == 3, "each commit changes the fingerprint"
    assert interlock.open_dataset(uri, version=1).fingerprint() == prints[1]
    assert interlock.open_dataset(uri).fingerprint() == prints[2]
    at_zero = interlock.open_dataset(uri, version=0)
    assert at_zero.fingerprint() == prints[0]
    shards = interlock.open_dataset(uri, version=1).shards(2)
    assert len(shards) == 2 and len({s.fingerprint() for s in shards}) == 2
    assert sum(s.count_rows() for s in shards) == 150


@requirement("DS-123", "DS-133")
def test_write_modes_and_options(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    interlock.write_dataset(_table(0, 10), uri, format="delta", partition_by=["year"],
                            name="events", description="test table",
                            configuration={"delta.appendOnly": "false"})
    assert DeltaTable(uri).metadata().name == "events"
    with pytest.raises(DatasetError, match="already exists"):
        interlock.write_dataset(_table(0, 10), uri, format="delta")
    with pytest.raises(DatasetError, match=r"partitioned by \['year'\]"):
        interlock.write_dataset(_table(10, 5), uri, mode="append", partition_by=["id"])
    assert interlock.write_dataset(_table(10, 5), uri, mode="append").count_rows() == 15
    replaced = interlock.write_dataset(pa.table({"other": ["x"]}), uri, format="delta",
                                       mode="overwrite")
    assert replaced.to_table().to_pylist() == [{"other": "x"}]
    assert interlock.open_dataset(uri, version=1).count_rows() == 15
    with pytest.raises(DatasetError, match="partition_by column 'nope'"):
        interlock.write_dataset(_table(0, 3), str(tmp_path / "u"), format="delta",
                                partition_by=["nope"])
    with pytest.raises(DatasetError, match="no_such_option"):
        interlock.write_dataset(_table(0, 3), str(tmp_path / "u"), format="delta",
                                no_such_option=1)
    assert not (tmp_path / "u").exists()
    interlock.write_dataset(_table(0, 3), str(tmp_path / "p"), format="parquet")
    with pytest.raises(DatasetError, match="not a Delta table"):
        interlock.write_dataset(_table(0, 3), str(tmp_path / "p"), format="delta",
                                mode="overwrite")


@requirement("DS-121", "DS-122")
def test_a_failed_write_keeps_the_version(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    interlock.write_dataset(_table(0, 10), uri, format="delta")
    source = _table(10, 40)

    def failing() -> Iterator[pa.RecordBatch]:
        yield source.to_batches(max_chunksize=10)[0]
        raise ValueError("sensor feed dropped")

    for mode in ("append", "overwrite"):
        stream = pa.RecordBatchReader.from_batches(source.schema, failing())
        with pytest.raises(DatasetError, match="sensor feed dropped"):
            interlock.write_dataset(stream, uri, mode=mode)
        assert DeltaTable(uri).version() == 0
        assert interlock.open_dataset(uri).to_table().column("id").to_pylist() == list(range(10))


@requirement("DS-134")
def test_types_delta_holds_and_refuses(tmp_path: Path) -> None:
    unsigned = pa.table({
        "u8": pa.array([255], pa.uint8()),
        "u64": pa.array([2**63 - 1], pa.uint64()),
        "ns": pa.array([1000], pa.timestamp("ns", "Asia/Tokyo")),
    })
    back = interlock.write_dataset(unsigned, str(tmp_path / "u"), format="delta").to_table()
    assert back.schema.types == [pa.int16(), pa.int64(), pa.timestamp("us", "UTC")]
    assert back.to_pylist()[0]["u8"] == 255
    # append the same input types again: compared as Delta reads them back
    assert interlock.write_dataset(unsigned, str(tmp_path / "u"), mode="append").count_rows() == 2
    too_big = pa.table({"u64": pa.array([2**63], pa.uint64())})
    with pytest.raises(DatasetError, match="column 'u64' of type uint64"):
        interlock.write_dataset(too_big, str(tmp_path / "big"), format="delta")
    assert not (tmp_path / "big").exists()
    sub_micro = pa.table({"ns": pa.array([1001], pa.timestamp("ns"))})
    with pytest.raises(DatasetError, match="column 'ns'"):
        interlock.write_dataset(sub_micro, str(tmp_path / "ns"), format="delta")
    for data_type in (pa.float16(), pa.time64("us"), pa.duration("s"), pa.decimal256(40, 2),
                      pa.list_(pa.time32("s")), pa.month_day_nano_interval()):
        refused = pa.table({"c": pa.array([None], data_type)})
        with pytest.raises(DatasetError, match=re.escape(f"column 'c' of type {data_type}")):
            interlock.write_dataset(refused, str(tmp_path / "refused"), format="delta")
        assert not (tmp_path / "refused").exists()


@requirement("DS-126")
def test_file_urls_and_unreachable_urls(tmp_path: Path) -> None:
    uri = (tmp_path / "t").as_uri()
    interlock.write_dataset(_table(0, 4), uri, format="delta")
    assert interlock.open_dataset(uri).count_rows() == 4
    with pytest.raises(DatasetError, match="cannot reach 'memory://"):
        interlock.write_dataset(_table(0, 4), "memory://bucket/t", format="delta")
    with pytest.raises(DatasetError, match="cannot reach"):
        interlock.write_dataset(_table(0, 4), f"simplecache::{uri}x", format="delta")


@requirement("DS-137")
def test_predict_dataset_reads_from_and_writes_to_delta(tmp_path: Path) -> None:
    x = np.random.default_rng(3).normal(size=(200, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > x[:, 1]).astype(np.int64))
    data = pa.table({"key": np.arange(200), "a": x[:, 0], "b": x[:, 1]})
    source = interlock.write_dataset(data, str(tmp_path / "features"), format="delta")
    artifact = interlock.export(model, data.select(["a", "b"]), name="scorer", version="1")
    output = str(tmp_path / "scores")
    summary = interlock.predict_dataset(source, artifact, output, output_format="delta",
                                        keep_columns=["key"], batch_size=64)
    assert summary["rows"] == 200
    scores = interlock.open_dataset(output)
    assert scores.format_name == "delta"
    table = scores.to_table().sort_by("key")
    assert table.column("key").to_pylist() == list(range(200))
    assert table.column("label").to_pylist() == model.predict(x).tolist()
    # The lineage pins the exact snapshot read, and the Delta output keeps it (DS-137).
    lineage = json.loads(scores.schema.metadata[b"interlock.lineage"])
    assert lineage["dataset"]["fingerprint"] == source.fingerprint()
    interlock.predict_dataset(source, artifact, output, keep_columns=["key"], mode="append")
    assert interlock.open_dataset(output).count_rows() == 400


def test_certify_passes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "interlock.cli", "certify", "interlock_delta",
         "--output", str(tmp_path / "cert")],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "verdict: CERTIFIED" in done.stdout


@requirement("DS-125")
def test_one_version_always_reads_in_one_order(tmp_path: Path) -> None:
    source = _table(0, 400)
    stream = pa.RecordBatchReader.from_batches(source.schema, source.to_batches(max_chunksize=50))
    written = interlock.write_dataset(stream, str(tmp_path / "t"), format="delta")
    first = written.to_table()
    assert sorted(first.column("id").to_pylist()) == list(range(400))
    assert interlock.open_dataset(str(tmp_path / "t")).to_table().equals(first)
    assert pa.concat_tables(s.to_table() for s in written.shards(3)).equals(first)
