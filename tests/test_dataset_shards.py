"""``Dataset.shards(n)`` (dataset.md, shards section): every row exactly once, in order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import interlock

N = 1000
TABLE = pa.table({"id": pa.array(range(N), pa.int64()), "group": [i % 7 for i in range(N)]})


def _check_partition(dataset: interlock.Dataset, n: int) -> list[interlock.Dataset]:
    shards = dataset.shards(n)
    assert 1 <= len(shards) <= n
    tables = [s.to_table() for s in shards]
    assert all(t.schema.equals(dataset.schema) for t in tables)
    assert all(t.num_rows > 0 for t in tables) or dataset.count_rows() == 0
    assert pa.concat_tables(tables).equals(dataset.to_table())
    assert [s.count_rows() for s in shards] == [t.num_rows for t in tables]
    return shards


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 11, 50])
def test_single_parquet_file_splits_at_row_groups(n: int, tmp_path: Path) -> None:
    """DS-031, DS-032"""
    pq.write_table(TABLE, tmp_path / "t.parquet", row_group_size=100)
    shards = _check_partition(interlock.open_dataset(tmp_path / "t.parquet"), n)
    assert len(shards) == min(n, 10)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
def test_directories_split_by_files(fmt: str, tmp_path: Path) -> None:
    """DS-021, DS-031, DS-032"""
    dataset = interlock.write_dataset(TABLE, tmp_path / "d", format=fmt, max_rows_per_file=150)
    assert len(dataset.files()) == 7
    for n in (2, 3, 7, 9):
        shards = _check_partition(dataset, n)
        assert sorted(f for s in shards for f in s.files()) == dataset.files()


def test_partitioned_shards_keep_partition_columns(tmp_path: Path) -> None:
    """DS-006, DS-031, DS-033"""
    pq.write_to_dataset(TABLE, tmp_path / "p", partition_cols=["group"], row_group_size=50)
    dataset = interlock.open_dataset(tmp_path / "p")
    shards = _check_partition(dataset, 5)
    assert all("group" in s.to_table().column_names for s in shards)
    assert sum(s.count_rows(filter=pc.field("group") == 3) for s in shards) == len(
        [i for i in range(N) if i % 7 == 3]
    )


def test_shards_of_shards_still_partition(tmp_path: Path) -> None:
    """DS-033"""
    pq.write_table(TABLE, tmp_path / "t.parquet", row_group_size=50)
    for shard in interlock.open_dataset(tmp_path / "t.parquet").shards(3):
        _check_partition(shard, 4)


def test_unsplittable_datasets_are_one_shard(tmp_path: Path) -> None:
    """DS-031"""
    empty = interlock.write_dataset(TABLE.slice(0, 0), tmp_path / "e.parquet")
    assert empty.shards(4) == [empty]
    single = interlock.write_dataset(TABLE, tmp_path / "t.arrow")
    assert single.shards(4) == [single]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "2"])
def test_shard_count_must_be_a_positive_integer(bad: object, tmp_path: Path) -> None:
    """DS-030"""
    dataset = interlock.write_dataset(TABLE, tmp_path / "t.parquet")
    with pytest.raises(interlock.DatasetError, match="positive integer"):
        dataset.shards(bad)  # type: ignore[arg-type]
