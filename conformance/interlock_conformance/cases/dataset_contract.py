"""Dataset format cases of the Dataset contract (spec: dataset.md): projection, filters,
batch sizes, Arrow stream export, the files a directory holds, fingerprints, shards, appends,
hive partitions, options and damaged files. Each case writes its data with the format under
test, then compares the dataset with its own full scan.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import interlock
from interlock import DatasetError

from interlock_conformance.attribution import checking
from interlock_conformance.cases._datasets import (  # dataset_root is a fixture
    FILTERABLE,
    check_tables,
    dataset_root,
    extension,
    is_transactional,
    single_file,
    write,
)
from interlock_conformance.markers import capability, component_kind, requirement, when_unclaimed
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("dataset_format")

__all__ = ["dataset_root"]


# -- the Dataset contract ------------------------------------------------------------------------
# These cases compare a dataset with its own full scan (to_table), not with what was written:
# they check the contract, and the round-trip cases alone check that values survive.


@pytest.fixture
def filterable(
    component: interlock.DatasetFormat, vectors: VectorIndex, dataset_root: str
) -> interlock.Dataset:
    """The 'filterable' vector written as a directory dataset by the format under test."""
    return write(component, vectors.table(FILTERABLE), f"{dataset_root}/filterable")


@requirement("DS-022", "DS-091")
@capability("read", "write")
def test_projection_yields_the_named_columns_in_order(filterable: interlock.Dataset) -> None:
    """columns= picks and orders columns; [] keeps the row count; bad names are refused."""
    whole = filterable.to_table()
    projected = filterable.to_reader(columns=["value", "id"]).read_all()
    assert projected.equals(whole.select(["value", "id"])), (
        "columns=['value', 'id'] differs from the full scan"
    )
    empty = list(filterable.to_reader(columns=[]))
    assert all(batch.num_columns == 0 for batch in empty), "columns=[] yielded columns"
    assert sum(batch.num_rows for batch in empty) == whole.num_rows, "columns=[] lost rows"
    for bad, culprit in ((["id", "no_such_column"], "no_such_column"), (["id", "id"], "id")):
        with pytest.raises(DatasetError) as caught:
            filterable.to_reader(columns=bad).read_all()
        assert culprit in str(caught.value), f"columns={bad} error does not name {culprit!r}"


@requirement("DS-023", "DS-026", "DS-091")
@capability("read", "write")
def test_filter_equals_a_full_scan_filtered_afterwards(filterable: interlock.Dataset) -> None:
    """Rows where the filter is true, in scan order; null drops the row; count_rows agrees."""
    whole = filterable.to_table()
    for expression in (
        pc.field("id") >= 25,
        (pc.field("value") > 3.0) & (pc.field("group") == "even"),  # value holds nulls
        pc.field("id") < 0,
    ):
        expected = whole.filter(expression)
        check_tables(expected, filterable.to_reader(filter=expression).read_all(),
                     f"filter {expression}")
        assert filterable.count_rows(filter=expression) == expected.num_rows, (
            f"count_rows(filter={expression}) != {expected.num_rows}"
        )
    assert filterable.count_rows() == whole.num_rows, "count_rows() differs from the full scan"
    for bad in ("id > 3", pc.field("no_such_column") > 1, pc.field("id") + 1):
        with pytest.raises(DatasetError):
            filterable.to_reader(filter=bad).read_all()


@requirement("DS-024")
@capability("read", "write")
def test_batch_size_caps_the_rows_per_batch(filterable: interlock.Dataset) -> None:
    """No batch exceeds batch_size; a non-positive or non-integer size is refused."""
    batches = list(filterable.to_reader(batch_size=7))
    assert max(batch.num_rows for batch in batches) <= 7, "a batch exceeds batch_size=7"
    joined = pa.Table.from_batches(batches, schema=filterable.schema)
    assert joined.equals(filterable.to_table()), "batch_size=7 changed the rows"
    bad_sizes: list[Any] = [0, -1, 2.5, "7"]
    for bad in bad_sizes:
        with pytest.raises(DatasetError):
            filterable.to_reader(batch_size=bad).read_all()


@requirement("DS-025", "DS-029")
@capability("read", "write")
def test_arrow_stream_export_is_the_whole_dataset(filterable: interlock.Dataset) -> None:
    """pyarrow consumes the Dataset through __arrow_c_stream__, without conversion code."""
    whole = filterable.to_table()
    assert whole.equals(filterable.to_reader().read_all()), "to_table() != to_reader().read_all()"
    assert pa.table(filterable).equals(whole), "pyarrow.table(dataset) != dataset.to_table()"
    streamed = pa.RecordBatchReader.from_stream(filterable).read_all()
    assert streamed.equals(whole), "the PyCapsule stream differs from to_table()"


@requirement("DS-004", "DS-027")
@capability("read", "write")
def test_directory_reads_only_its_data_files(
    filterable: interlock.Dataset, component: interlock.DatasetFormat
) -> None:
    """Hidden files, hidden directories and files with other extensions are ignored; files()
    lists the data files, sorted, under Dataset.path. (A transactional format reads the files
    its log names, so these stray files must be ignored too.)"""
    files = filterable.files()
    before = filterable.to_table()
    assert files == sorted(files), f"files() is not sorted: {files}"
    assert files and all(f.startswith(filterable.path.rstrip("/") + "/") for f in files), (
        f"files() {files} are not under {filterable.path!r}"
    )
    ext = extension(component) or ".parquet"
    root = filterable.path.rstrip("/")
    for junk in (f"_SUCCESS{ext}", f".hidden{ext}", f"_tmp/part{ext}", f".git/x{ext}", "notes.txt"):
        filterable.filesystem.makedirs(posixpath.dirname(f"{root}/{junk}"), exist_ok=True)
        filterable.filesystem.pipe_file(f"{root}/{junk}", b"not data")
    reopened = interlock.open_dataset(filterable.uri, format=component.name)
    assert reopened.files() == files, f"hidden or foreign files were read: {reopened.files()}"
    assert reopened.to_table().equals(before), "hidden or foreign files changed the rows"


@requirement("DS-044")
@capability("read", "write")
@when_unclaimed("transactional")
def test_part_files_are_named_uniquely(
    component: interlock.DatasetFormat, vectors: VectorIndex, memory_root: str
) -> None:
    """part-<unique>-<n><ext>, counted from 00000, unique across writes."""
    table = vectors.table(FILTERABLE)
    ext = re.escape(component.extensions[0])
    pattern = re.compile(rf"part-(?P<unique>[^/]+)-(?P<n>\d{{5}}){ext}")
    names = []
    for i in range(2):
        dataset = write(component, table, f"{memory_root}/d{i}")
        for file in dataset.files():
            name = posixpath.basename(file)
            assert pattern.fullmatch(name), (
                f"part file {name!r} is not part-<unique>-<n>{component.extensions[0]}"
            )
            names.append(name)
    assert len(set(names)) == len(names), f"two writes produced the same part file names: {names}"
    assert any(name.endswith(f"-00000{component.extensions[0]}") for name in names), (
        f"no part file is counted from 00000: {names}"
    )


def _spec_fingerprint(dataset: interlock.Dataset) -> str:
    """DS-060, computed independently from the stored bytes."""
    root = dataset.path.rstrip("/")
    entries = []
    for file in dataset.files():
        data = dataset.filesystem.cat_file(file)
        relative = "" if file == root else file[len(root) + 1 :]
        entries.append(
            {"path": relative, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )
    entries.sort(key=lambda e: str(e["path"]))
    listing = {"files": entries, "format": dataset.format_name, "version": 1}
    canonical = json.dumps(listing, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


@requirement("DS-060", "DS-061", "DS-062")
@capability("read", "write")
@when_unclaimed("transactional")
@pytest.mark.parametrize("layout", ["file", "directory"])
def test_fingerprint_follows_the_spec_and_the_bytes(
    component: interlock.DatasetFormat,
    vectors: VectorIndex,
    layout: str,
    tmp_path: Path,
    memory_root: str,
) -> None:
    """The fingerprint is the spec's hash of the files; the same files elsewhere give the same
    fingerprint; different content gives a different one."""
    import fsspec

    table = vectors.table(FILTERABLE)
    ext = component.extensions[0]
    local = single_file(component, str(tmp_path)) if layout == "file" else str(tmp_path / "dir")
    dataset = write(component, table, local)
    fingerprint = dataset.fingerprint()
    with checking("DS-060"):
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", fingerprint), f"fingerprint {fingerprint!r}"
        assert fingerprint == _spec_fingerprint(dataset), "fingerprint() does not follow DS-060"
    with checking("DS-062"):
        assert interlock.open_dataset(local, format=component.name).fingerprint() == fingerprint

    # The same files on another filesystem (memory://), under another name.
    memory = fsspec.filesystem("memory")
    copy_root = memory_root.removeprefix("memory://") + (
        "/copy" + (ext if layout == "file" else "")
    )
    for file in dataset.files():
        target = (
            copy_root
            if layout == "file"
            else posixpath.join(copy_root, posixpath.relpath(file, dataset.path))
        )
        memory.pipe_file(target, dataset.filesystem.cat_file(file))
    copy = interlock.open_dataset(f"memory://{copy_root}", format=component.name)
    changed = write(component, table.slice(1), local, mode="overwrite")
    with checking("DS-062"):
        assert copy.fingerprint() == fingerprint, (
            "the same files on memory:// have another fingerprint"
        )
        assert changed.fingerprint() != fingerprint, "different content kept the fingerprint"


@pytest.fixture
def three_writes(
    component: interlock.DatasetFormat, vectors: VectorIndex, dataset_root: str
) -> interlock.Dataset:
    """A directory holding three directory datasets (so at least three data files), opened as
    one dataset; for a transactional format, one table written once and appended to twice."""
    table = vectors.table(FILTERABLE)
    parts = (table.slice(0, 15), table.slice(15, 5), table.slice(20))
    if is_transactional(component):
        assert "append" in component.capabilities, "a transactional format without 'append'"
        for index, part in enumerate(parts):
            write(component, part, f"{dataset_root}/all", mode="append" if index else "error")
    else:
        for label, part in zip("abc", parts):
            write(component, part, f"{dataset_root}/all/{label}")
    return interlock.open_dataset(f"{dataset_root}/all", format=component.name)


@requirement("DS-004", "DS-030", "DS-031", "DS-032", "DS-033")
@capability("read", "write")
def test_shards_hold_every_row_once_in_order(three_writes: interlock.Dataset) -> None:
    """shards(n): 1..n datasets, split at files, whose concatenation is the dataset; each is a
    dataset too."""
    dataset = three_writes
    assert len(dataset.files()) >= 3, (
        f"expected the data files of three writes, got {dataset.files()}"
    )
    whole = dataset.to_table()
    assert whole.num_rows == 40, f"the three writes read back as {whole.num_rows} rows, not 40"
    for n in (1, 2, 3, 5):
        shards = dataset.shards(n)
        assert 1 <= len(shards) <= n, f"shards({n}) returned {len(shards)} datasets"
        if n >= 3:
            assert len(shards) >= 3, f"shards({n}) of three files returned {len(shards)}"
        for shard in shards:
            assert shard.schema.equals(dataset.schema), "a shard has another schema"
            assert shard.count_rows() > 0, f"shards({n}) returned an empty shard"
            assert shard.count_rows() == shard.to_table().num_rows
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", shard.fingerprint())
            again = shard.shards(1)
            assert sum(s.count_rows() for s in again) == shard.count_rows()
        joined = pa.concat_tables([s.to_table() for s in shards])
        assert joined.equals(whole), f"the shards of shards({n}), concatenated, are not the dataset"
    shards = dataset.shards(3)
    assert len({s.fingerprint() for s in shards}) == len(shards), "two shards share a fingerprint"
    bad_counts: list[Any] = [0, -1, True, 2.0]
    for bad in bad_counts:
        with pytest.raises(DatasetError):
            dataset.shards(bad)


@requirement("DS-053")
@capability("read", "write", "append")
def test_append_adds_part_files_and_leaves_the_others(
    component: interlock.DatasetFormat, vectors: VectorIndex, dataset_root: str
) -> None:
    """mode='append' adds new part files; existing files keep their bytes; a schema mismatch
    is refused before writing."""
    table = vectors.table(FILTERABLE)
    uri = f"{dataset_root}/appended"
    first = write(component, table.slice(0, 20), uri)
    before = {f: first.filesystem.cat_file(f) for f in first.files()}
    appended = write(component, table.slice(20), uri, mode="append")
    after = appended.files()
    assert set(before) < set(after), (
        f"append replaced files: before {sorted(before)}, after {after}"
    )
    for file, data in before.items():
        assert appended.filesystem.cat_file(file) == data, f"append changed {file}"
    assert appended.count_rows() == table.num_rows, f"{appended.count_rows()} rows after append"
    with pytest.raises(DatasetError):
        write(component, table.select(["id", "group"]), uri, mode="append")
    assert interlock.open_dataset(uri, format=component.name).files() == after


@requirement("DS-006")
@capability("read", "write", "partitioned")
def test_hive_partitions_become_columns(
    component: interlock.DatasetFormat, vectors: VectorIndex, memory_root: str
) -> None:
    """key=value directories are columns after the file's own, typed from their values, and
    filters apply to them."""
    table = vectors.table(FILTERABLE)
    parts = {}
    for year, part in ((2023, table.slice(0, 20)), (2024, table.slice(20))):
        parts[year] = write(component, part, f"{memory_root}/hive/year={year}").to_table()
    dataset = interlock.open_dataset(f"{memory_root}/hive", format=component.name)
    assert dataset.schema.names == [*parts[2024].schema.names, "year"], dataset.schema.names
    assert dataset.schema.field("year").type == pa.int32(), dataset.schema.field("year").type
    selected = dataset.to_table(filter=pc.field("year") == 2024)
    assert selected.column("year").to_pylist() == [2024] * parts[2024].num_rows
    assert selected.drop_columns(["year"]).equals(parts[2024]), (
        "filter year == 2024 picked other rows"
    )


@requirement("DS-045")
@capability("write")
def test_unknown_write_option_is_refused(
    component: interlock.DatasetFormat, tmp_path: Path
) -> None:
    """An option the format does not know raises DatasetError naming it, before writing."""
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(DatasetError) as caught:
        write(
            component, pa.table({"x": [1]}), single_file(component, str(target)), no_such_option=1
        )
    assert "no_such_option" in str(caught.value), str(caught.value)
    assert not list(target.iterdir()), "the refused write left files behind"


@requirement("DS-028")
@capability("read")
def test_damaged_file_raises_dataset_error(
    component: interlock.DatasetFormat, tmp_path: Path
) -> None:
    """A file of junk bytes with the format's extension is refused with DatasetError naming it
    (a transactional format: a table whose data file holds junk)."""
    junk = b"\xff\xfe\x00\x01 not a dataset \x00\xff\xc3\x28" * 64
    if is_transactional(component) and "write" in component.capabilities:
        table = write(component, pa.table({"x": [1, 2]}), str(tmp_path / "damaged"))
        for file in table.files():
            Path(file).write_bytes(junk)
        path = tmp_path / "damaged"
    else:
        path = tmp_path / f"damaged{extension(component)}"
        path.write_bytes(junk)
    with pytest.raises(DatasetError) as caught:
        interlock.open_dataset(str(path), format=component.name).to_table()
    assert str(path) in str(caught.value), f"the error does not name {path}: {caught.value}"
