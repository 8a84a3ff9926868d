"""``interlock.open_dataset`` / ``write_dataset``: URIs, format resolution, modes, atomic publish,
and the errors a user gets (dataset.md: URIs, resolution, writing, modes, atomicity, errors)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import interlock
from interlock_conformance import requirement

TABLE = pa.table({"id": pa.array(range(6), pa.int64()), "name": list("abcdef")})


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"/interlock-tests/{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# -- URIs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_uri",
    [
        lambda tmp, mem: str(tmp / "t.parquet"),
        lambda tmp, mem: tmp / "t.parquet",
        lambda tmp, mem: (tmp / "t.parquet").as_uri(),
        lambda tmp, mem: f"{mem}/t.parquet",
        lambda tmp, mem: f"simplecache::{mem}/t.parquet",
        lambda tmp, mem: f"filecache::{(tmp / 't.parquet').as_uri()}",
    ],
    ids=["path-str", "pathlib", "file-url", "memory", "simplecache-memory", "filecache-file"],
)
@requirement("DS-001", "DS-047")
def test_any_fsspec_url_round_trips(make_uri: object, tmp_path: Path, memory_root: str) -> None:
    """DS-001, DS-047: every fsspec URL form works for writing and reading."""
    uri = make_uri(tmp_path, memory_root)  # type: ignore[operator]
    written = interlock.write_dataset(TABLE, uri)
    assert written.format_name == "parquet"
    reopened = interlock.open_dataset(uri)
    assert reopened.to_table().equals(TABLE)
    assert reopened.uri == str(uri) or reopened.uri == os.fspath(uri)


@requirement("DS-001")
def test_storage_options_reach_the_filesystem(tmp_path: Path) -> None:
    """DS-001: storage_options go to url_to_fs."""
    uri = f"simplecache::{(tmp_path / 't.arrow').as_uri()}"
    options = {"simplecache": {"cache_storage": str(tmp_path / "cache")}}
    interlock.write_dataset(TABLE, uri, storage_options=options)
    assert interlock.open_dataset(uri, storage_options=options).to_table().equals(TABLE)
    assert (tmp_path / "cache").is_dir()


@requirement("DS-002")
def test_unknown_protocol_names_the_uri() -> None:
    """DS-002"""
    with pytest.raises(interlock.DatasetError, match="nosuchproto://x/t.parquet") as caught:
        interlock.open_dataset("nosuchproto://x/t.parquet")
    assert caught.value.hint


@requirement("DS-003")
def test_missing_dataset_is_not_found(tmp_path: Path, memory_root: str) -> None:
    """DS-003"""
    for uri in (str(tmp_path / "nope.parquet"), f"{memory_root}/nope"):
        with pytest.raises(interlock.DatasetError, match=f"dataset '{uri}' not found") as caught:
            interlock.open_dataset(uri)
        assert caught.value.hint


@requirement("DS-002")
def test_bad_uri_values_are_refused() -> None:
    """DS-002"""
    for bad in ("", None, 3):
        with pytest.raises(interlock.DatasetError, match="URI"):
            interlock.open_dataset(bad)  # type: ignore[arg-type]


# -- format resolution -------------------------------------------------------------------------


@requirement("DS-011")
def test_format_is_inferred_from_extensions_case_insensitively(tmp_path: Path) -> None:
    """DS-011, DS-013"""
    for name, fmt in [("a.PARQUET", "parquet"), ("b.pq", "parquet"), ("c.Feather", "arrow"),
                      ("d.ipc", "arrow"), ("e.csv", "csv")]:
        assert interlock.write_dataset(TABLE, tmp_path / name).format_name == fmt
        assert interlock.open_dataset(tmp_path / name).format_name == fmt


@requirement("DS-011")
def test_directory_format_is_inferred_from_its_files(memory_root: str) -> None:
    """DS-011"""
    interlock.write_dataset(TABLE, f"{memory_root}/dir", format="csv")
    dataset = interlock.open_dataset(f"{memory_root}/dir")
    assert dataset.format_name == "csv"
    assert dataset.to_table().equals(TABLE)


@requirement("DS-010")
def test_unknown_format_lists_installed_formats(tmp_path: Path) -> None:
    """DS-010"""
    with pytest.raises(interlock.DatasetError, match="unknown dataset format 'parket'") as caught:
        interlock.write_dataset(TABLE, tmp_path / "t", format="parket")
    assert "parquet (.parquet, .pq)" in str(caught.value) and "csv" in str(caught.value)
    (tmp_path / "t.parquet").write_bytes(b"")
    with pytest.raises(interlock.DatasetError, match="unknown dataset format"):
        interlock.open_dataset(tmp_path / "t.parquet", format="parket")


@requirement("DS-011", "DS-012")
def test_uninferable_and_ambiguous_formats_ask_for_format(tmp_path: Path) -> None:
    """DS-011, DS-012"""
    (tmp_path / "data.bin").write_bytes(b"x")
    with pytest.raises(interlock.DatasetError, match="cannot infer the dataset format") as caught:
        interlock.open_dataset(tmp_path / "data.bin")
    assert "format=" in (caught.value.hint or "") and "jsonl" in str(caught.value)
    with pytest.raises(interlock.DatasetError, match="cannot infer"):
        interlock.write_dataset(TABLE, tmp_path / "no-extension")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    interlock.write_dataset(TABLE, mixed / "a.csv")
    interlock.write_dataset(TABLE, mixed / "b.parquet")
    with pytest.raises(interlock.DatasetError, match=r"ambiguous .*\(csv, parquet\)"):
        interlock.open_dataset(mixed)
    assert interlock.open_dataset(mixed, format="csv").to_table().equals(TABLE)


@requirement("DS-080")
def test_corrupt_and_foreign_files_name_the_uri(tmp_path: Path) -> None:
    """DS-028, DS-080"""
    (tmp_path / "bad.parquet").write_bytes(b"definitely not parquet")
    with pytest.raises(interlock.DatasetError, match="bad.parquet' as parquet") as caught:
        interlock.open_dataset(tmp_path / "bad.parquet")
    assert caught.value.hint
    interlock.write_dataset(TABLE, tmp_path / "good.csv")
    with pytest.raises(interlock.DatasetError, match="as arrow"):
        interlock.open_dataset(tmp_path / "good.csv", format="arrow")


def test_damaged_part_file_fails_the_scan_with_the_uri(tmp_path: Path) -> None:
    """DS-028"""
    interlock.write_dataset(TABLE, tmp_path / "dir", format="parquet", max_rows_per_file=3)
    last = sorted((tmp_path / "dir").iterdir())[-1]
    last.write_bytes(b"PAR1 broken")
    dataset = interlock.open_dataset(tmp_path / "dir")
    with pytest.raises(interlock.DatasetError, match="dir' as parquet"):
        dataset.to_table()


@requirement("DS-005")
def test_empty_directory_has_no_data_files(tmp_path: Path) -> None:
    """DS-004, DS-005"""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")
    with pytest.raises(interlock.DatasetError, match="no .* data files"):
        interlock.open_dataset(tmp_path / "empty", format="parquet")


def test_reader_arguments_are_checked(tmp_path: Path) -> None:
    """DS-022, DS-023, DS-024"""
    dataset = interlock.write_dataset(TABLE, tmp_path / "t.arrow")
    with pytest.raises(interlock.DatasetError, match="no column 'nmae'.*did you mean 'name'"):
        dataset.to_reader(columns=["nmae"])
    with pytest.raises(interlock.DatasetError, match="requested twice"):
        dataset.to_reader(columns=["id", "id"])
    with pytest.raises(interlock.DatasetError, match="pyarrow.compute.Expression"):
        dataset.to_reader(filter="id > 1")  # type: ignore[arg-type]
    with pytest.raises(interlock.DatasetError, match="filter"):
        dataset.to_reader(filter=pc.field("missing") > 1)
    with pytest.raises(interlock.DatasetError, match="batch_size"):
        dataset.to_reader(batch_size=0)


# -- writing and modes -------------------------------------------------------------------------


@requirement("DS-040")
def test_accepts_every_arrow_source(tmp_path: Path) -> None:
    """DS-040"""
    batch = TABLE.to_batches()[0]
    sources = {
        "table": TABLE,
        "batch": batch,
        "reader": TABLE.to_reader(),
        "polars": pl.from_arrow(TABLE),
        "dataset": interlock.write_dataset(TABLE, tmp_path / "source.arrow"),
    }
    for name, source in sources.items():
        dataset = interlock.write_dataset(source, tmp_path / f"{name}.parquet")
        # polars exports strings as string_view, which Parquet keeps
        assert dataset.to_table().cast(TABLE.schema).equals(TABLE), name


@requirement("DS-040", "DS-080")
def test_unsupported_input_type_is_refused(tmp_path: Path) -> None:
    """DS-040, DS-080"""
    with pytest.raises(interlock.DatasetError, match="cannot write list .* Arrow stream") as caught:
        interlock.write_dataset([{"a": 1}], tmp_path / "t.parquet")
    assert "__arrow_c_stream__" in (caught.value.hint or "")
    assert list(tmp_path.iterdir()) == []


@requirement("DS-050")
def test_invalid_mode_names_the_allowed_modes(tmp_path: Path) -> None:
    """DS-050"""
    with pytest.raises(interlock.DatasetError, match="'replace'.*error, overwrite, append"):
        interlock.write_dataset(TABLE, tmp_path / "t.parquet", mode="replace")
    assert list(tmp_path.iterdir()) == []


@requirement("DS-043")
def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    """DS-043"""
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(interlock.DatasetError, match="'a' appears more than once"):
        interlock.write_dataset(table, tmp_path / "t.arrow")


@requirement("DS-051")
def test_mode_error_refuses_an_existing_dataset(tmp_path: Path) -> None:
    """DS-051"""
    interlock.write_dataset(TABLE, tmp_path / "t.parquet")
    before = (tmp_path / "t.parquet").read_bytes()
    with pytest.raises(interlock.DatasetError, match="already exists") as caught:
        interlock.write_dataset(TABLE.slice(0, 1), tmp_path / "t.parquet")
    assert "overwrite" in (caught.value.hint or "")
    assert (tmp_path / "t.parquet").read_bytes() == before


@pytest.mark.parametrize("target", ["t.parquet", "dir"])
@requirement("DS-052", "DS-056")
def test_overwrite_replaces_files_and_directories(target: str, memory_root: str,
                                                 tmp_path: Path) -> None:
    """DS-052, DS-056"""
    for root in (str(tmp_path), memory_root):
        uri = f"{root}/{target}"
        interlock.write_dataset(TABLE, uri, format="parquet", max_rows_per_file=None)
        replaced = interlock.write_dataset(TABLE.slice(2), uri, format="parquet", mode="overwrite")
        assert replaced.to_table().equals(TABLE.slice(2))
    assert _visible(tmp_path) == [target]
    assert [p.name for p in tmp_path.iterdir()] == [target]  # no staging or backup left


@requirement("DS-052")
def test_overwrite_may_read_the_dataset_it_replaces(tmp_path: Path) -> None:
    """DS-052"""
    uri = tmp_path / "t.parquet"
    dataset = interlock.write_dataset(TABLE, uri)
    doubled = interlock.write_dataset(dataset.to_reader(filter=pc.field("id") < 3), uri,
                                      mode="overwrite")
    assert doubled.to_table().equals(TABLE.slice(0, 3))


@requirement("DS-059")
def test_append_adds_part_files_to_a_directory(memory_root: str) -> None:
    """DS-044, DS-053, DS-059"""
    uri = f"{memory_root}/events"
    first = interlock.write_dataset(TABLE, uri, format="arrow", mode="append")  # creates it
    second = interlock.write_dataset(TABLE.slice(0, 2), uri, mode="append")
    assert len(second.files()) == 2 and set(first.files()) < set(second.files())
    assert second.to_table().equals(pa.concat_tables([TABLE, TABLE.slice(0, 2)]))


def test_append_to_a_single_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    """DS-053"""
    interlock.write_dataset(TABLE, tmp_path / "t.csv")
    with pytest.raises(interlock.DatasetError, match="single-file dataset") as caught:
        interlock.write_dataset(TABLE, tmp_path / "t.csv", mode="append")
    assert "directory" in (caught.value.hint or "")
    assert interlock.open_dataset(tmp_path / "t.csv").count_rows() == len(TABLE)


def test_append_with_other_columns_or_types_is_refused_before_writing(tmp_path: Path) -> None:
    """DS-053"""
    interlock.write_dataset(TABLE, tmp_path / "d", format="parquet")
    files = sorted(os.listdir(tmp_path / "d"))
    with pytest.raises(interlock.DatasetError, match=r"columns are \['id', 'name'\]"):
        interlock.write_dataset(TABLE.select(["name", "id"]), tmp_path / "d", mode="append")
    with pytest.raises(interlock.DatasetError, match="'id' is int32 in the data but int64") as c:
        interlock.write_dataset(TABLE.cast(pa.schema([("id", pa.int32()), ("name", pa.string())])),
                                tmp_path / "d", mode="append")
    assert "cast" in (c.value.hint or "")
    assert sorted(os.listdir(tmp_path / "d")) == files
    assert _visible(tmp_path) == ["d"] and len(os.listdir(tmp_path)) == 1


def test_read_only_format_cannot_be_the_write_target(tmp_path: Path) -> None:
    """DS-015"""
    with pytest.raises(interlock.DatasetError, match="'jsonl' cannot write .* read-only"):
        interlock.write_dataset(TABLE, tmp_path / "t", format="jsonl")


# -- streaming and atomicity -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [("t.arrow", {}), ("t.csv", {}), ("t.parquet", {"row_group_size": 10_000}), ("dir", {})],
)
@requirement("DS-041")
def test_writes_stream_batches_to_storage_as_they_arrive(
    name: str, options: dict[str, int], tmp_path: Path
) -> None:
    """DS-041, DS-042"""
    sizes: list[int] = []

    def staged_bytes() -> int:
        return sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())

    def batches() -> Iterator[pa.RecordBatch]:
        for i in range(6):
            sizes.append(staged_bytes())
            yield pa.record_batch({"x": pa.array(range(i * 10_000, (i + 1) * 10_000))})

    schema = pa.schema([("x", pa.int64())])
    reader = pa.RecordBatchReader.from_batches(schema, batches())
    fmt = None if "." in name else "arrow"
    dataset = interlock.write_dataset(reader, tmp_path / name, format=fmt, **options)
    assert dataset.count_rows() == 60_000
    # bytes reach the staging file while the input is still being produced
    assert sizes[-1] > sizes[2] > 0
    assert (tmp_path / name).is_dir() == (fmt is not None)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
@requirement("DS-046", "DS-052")
def test_failing_input_leaves_nothing_and_keeps_the_old_dataset(fmt: str, tmp_path: Path) -> None:
    """DS-046, DS-052, DS-057"""
    uri = tmp_path / "d"
    interlock.write_dataset(TABLE, uri, format=fmt)
    before = interlock.open_dataset(uri).fingerprint()

    def batches() -> Iterator[pa.RecordBatch]:
        yield from TABLE.to_batches()
        raise ValueError("the source broke")

    reader = pa.RecordBatchReader.from_batches(TABLE.schema, batches())
    with pytest.raises(interlock.DatasetError, match="ValueError: the source broke") as caught:
        interlock.write_dataset(reader, uri, mode="overwrite")
    assert str(uri) in str(caught.value)
    assert os.listdir(tmp_path) == ["d"]
    assert interlock.open_dataset(uri).fingerprint() == before


@requirement("DS-046")
def test_keyboard_interrupt_cleans_staging(memory_root: str) -> None:
    """DS-046, DS-057"""
    def batches() -> Iterator[pa.RecordBatch]:
        yield from TABLE.to_batches()
        raise KeyboardInterrupt

    reader = pa.RecordBatchReader.from_batches(TABLE.schema, batches())
    with pytest.raises(KeyboardInterrupt):
        interlock.write_dataset(reader, f"{memory_root}/t.parquet")
    fs = fsspec.filesystem("memory")
    assert fs.find(memory_root.removeprefix("memory://"), withdirs=True) in ([], [memory_root[9:]])


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    import interlock

    uri, fmt, mode = sys.argv[1:4]
    schema = pa.schema([("x", pa.int64())])

    def batches():
        i = 0
        while True:
            yield pa.record_batch({"x": pa.array(range(i * 1000, (i + 1) * 1000))}, schema=schema)
            print(f"batch {i}", flush=True)
            i += 1
            time.sleep(0.01)

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    interlock.write_dataset(reader, uri, format=fmt, mode=mode)
    """
)


@pytest.mark.parametrize(
    ("target", "fmt", "mode"),
    [("new.parquet", "parquet", "error"), ("newdir", "arrow", "error"), ("old", "csv", "overwrite")],
)
@requirement("DS-056", "DS-058")
def test_killed_writer_leaves_no_partial_dataset(target: str, fmt: str, mode: str,
                                                 tmp_path: Path) -> None:
    """DS-055, DS-056, DS-058: SIGKILL mid-write leaves only hidden staging."""
    uri = tmp_path / target
    old = None
    if mode == "overwrite":
        old = interlock.write_dataset(TABLE, uri, format=fmt).fingerprint()
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(uri), fmt, mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "INTERLOCK_PLUGINS": "interlock_formats"},
    )
    killer = threading.Timer(60, child.kill)  # never hang the suite
    killer.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "batch 20":
                break
        staging = [p for p in tmp_path.iterdir()
                   if ".interlock-staging-" in p.name and p.is_dir()]  # and its .owner record
        assert len(staging) == 1 and staging[0].name.startswith(f".{target}.")
        assert sum(f.stat().st_size for f in staging[0].rglob("*") if f.is_file()) > 0
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        killer.cancel()
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert _visible(tmp_path) == ([target] if old else [])
    if old is None:
        with pytest.raises(interlock.DatasetError, match="not found"):
            interlock.open_dataset(uri)
    else:
        assert interlock.open_dataset(uri).fingerprint() == old


@requirement("DS-051", "DS-056")
def test_a_target_created_meanwhile_is_not_clobbered(tmp_path: Path) -> None:
    """DS-051, DS-056: another writer's file that appears mid-write is kept."""
    target = tmp_path / "t.arrow"

    def batches() -> Iterator[pa.RecordBatch]:
        yield from TABLE.to_batches()
        target.write_bytes(b"someone else's")

    reader = pa.RecordBatchReader.from_batches(TABLE.schema, batches())
    with pytest.raises(interlock.DatasetError, match="appeared while it was being written"):
        interlock.write_dataset(reader, target)
    assert target.read_bytes() == b"someone else's"
    assert os.listdir(tmp_path) == ["t.arrow"]


@requirement("DS-080")
def test_storage_refusals_name_the_uri(tmp_path: Path) -> None:
    """DS-080: a parent that is a file cannot hold the staging directory."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(interlock.DatasetError, match="cannot access .*file/t.parquet.*Not a directory"):
        interlock.write_dataset(TABLE, tmp_path / "file" / "t.parquet")
    assert os.listdir(tmp_path) == ["file"]
