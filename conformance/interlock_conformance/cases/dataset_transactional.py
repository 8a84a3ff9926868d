"""Dataset format cases for ``transactional`` formats (spec: dataset.md DS-017, DS-120..DS-127):
formats that keep tables with their own transaction log and commit every write themselves, at
the target, instead of a staged write that the core moves into place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import interlock
from interlock import DatasetError

from interlock_conformance.attribution import checking
from interlock_conformance.cases._datasets import FILTERABLE, check_rows, write
from interlock_conformance.markers import capability, component_kind, requirement
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("dataset_format")

_FINGERPRINT = r"sha256:[0-9a-f]{64}"


def _failing(table: pa.Table) -> pa.RecordBatchReader:
    """A stream of ``table`` that raises after its first batch."""
    first = table.to_batches(max_chunksize=max(1, table.num_rows // 4))[0]

    def batches() -> Iterator[pa.RecordBatch]:
        yield first
        raise RuntimeError("the input stream failed midway")

    return pa.RecordBatchReader.from_batches(table.schema, batches())


@requirement("DS-120", "DS-123")
@capability("read", "write", "transactional")
def test_writes_commit_at_the_target_in_every_mode(
    component: interlock.DatasetFormat, vectors: VectorIndex, tmp_path: Path
) -> None:
    """error creates the table, append adds rows, overwrite replaces them; nothing is staged
    next to the target; each write changes the fingerprint."""
    table = vectors.table(FILTERABLE)
    uri = str(tmp_path / "table")
    first = write(component, table.slice(0, 20), uri)
    with checking("DS-120"):
        assert sorted(p.name for p in tmp_path.iterdir()) == ["table"], (
            f"the write left {sorted(p.name for p in tmp_path.iterdir())} next to the table"
        )
    appended = write(component, table.slice(20), uri, mode="append")
    replaced = write(component, table.slice(0, 5), uri, mode="overwrite")
    with checking("DS-123"):
        check_rows(component, table.slice(0, 20), first.to_table(), "the first write")
        check_rows(component, table, appended.to_table(), "the table after the append")
        check_rows(component, table.slice(0, 5), replaced.to_table(), "the overwritten table")
        prints = {first.fingerprint(), appended.fingerprint(), replaced.fingerprint()}
        assert len(prints) == 3, "a commit kept the fingerprint of the version before it"
    with checking("DS-120"):
        assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]


@requirement("DS-121", "DS-122")
@capability("read", "write", "append", "transactional")
def test_a_failed_append_leaves_the_current_version(
    component: interlock.DatasetFormat, vectors: VectorIndex, tmp_path: Path
) -> None:
    """The input raises midway through an append: DatasetError naming the input's failure, and
    the table reads as before (rows and fingerprint)."""
    table = vectors.table(FILTERABLE)
    uri = str(tmp_path / "table")
    before = write(component, table, uri)
    rows, fingerprint = before.to_table(), before.fingerprint()
    with pytest.raises(DatasetError) as caught:
        write(component, _failing(table), uri, mode="append")
    with checking("DS-122"):
        assert "the input stream failed midway" in str(caught.value), str(caught.value)
    after = interlock.open_dataset(uri, format=component.name)
    with checking("DS-121"):
        assert after.fingerprint() == fingerprint, "the failed append changed the fingerprint"
        assert after.to_table().equals(rows), "the failed append changed the rows"


@requirement("DS-121")
@capability("read", "write", "transactional")
def test_a_failed_overwrite_and_a_failed_create_change_nothing(
    component: interlock.DatasetFormat, vectors: VectorIndex, tmp_path: Path
) -> None:
    """A failed overwrite keeps the table; a failed first write leaves nothing at the URI."""
    table = vectors.table(FILTERABLE)
    uri = str(tmp_path / "table")
    before = write(component, table, uri)
    with pytest.raises(DatasetError):
        write(component, _failing(table), uri, mode="overwrite")
    after = interlock.open_dataset(uri, format=component.name)
    assert after.fingerprint() == before.fingerprint(), "the failed overwrite changed the table"
    with pytest.raises(DatasetError):
        write(component, _failing(table), str(tmp_path / "new"))
    assert not (tmp_path / "new").exists(), "a failed first write left the table's directory"


@requirement("DS-124")
@capability("read", "write", "transactional")
def test_fingerprint_names_the_snapshot(
    component: interlock.DatasetFormat, vectors: VectorIndex, tmp_path: Path
) -> None:
    """The fingerprint is sha256:<hex>, the same on every open of a version, and differs
    between shards and after a commit."""
    import re

    table = vectors.table(FILTERABLE)
    uri = str(tmp_path / "table")
    dataset = write(component, table, uri)
    fingerprint = dataset.fingerprint()
    assert re.fullmatch(_FINGERPRINT, fingerprint), f"fingerprint {fingerprint!r}"
    assert interlock.open_dataset(uri, format=component.name).fingerprint() == fingerprint
    assert interlock.open_dataset(uri).fingerprint() == fingerprint
    shards = dataset.shards(2)
    if len(shards) > 1:
        assert len({s.fingerprint() for s in shards}) == len(shards), "two shards share one"
    grown = write(component, table.slice(0, 3), uri, mode="overwrite")
    assert grown.fingerprint() != fingerprint, "a new commit kept the fingerprint"


@requirement("DS-125", "DS-021")
@capability("read", "write", "transactional")
def test_one_version_reads_in_one_order(
    component: interlock.DatasetFormat, vectors: VectorIndex, tmp_path: Path
) -> None:
    """Rows may be stored in another order than written, but every read of a version yields
    the same order, and shards concatenated give it too."""
    table = vectors.table(FILTERABLE)
    uri = str(tmp_path / "table")
    write(component, table.slice(0, 25), uri)
    dataset = write(component, table.slice(25), uri, mode="append")
    whole = dataset.to_table()
    check_rows(component, table, whole, "the table")
    assert interlock.open_dataset(uri).to_table().equals(whole), "a reopened read differs"
    joined = pa.concat_tables([s.to_table() for s in dataset.shards(3)])
    assert joined.equals(whole), "the shards, concatenated, are not the table in its order"


@requirement("DS-126")
@capability("read", "write", "transactional")
def test_local_paths_and_file_urls_work_and_unreachable_urls_are_refused(
    component: interlock.DatasetFormat, memory_root: str, tmp_path: Path
) -> None:
    """A file:// URL reads the table a local path wrote; a memory:// URL the format's library
    cannot reach is refused with DatasetError before anything is written."""
    import fsspec

    table = pa.table({"x": [1, 2, 3]})
    write(component, table, str(tmp_path / "table"))
    via_url = interlock.open_dataset((tmp_path / "table").as_uri(), format=component.name)
    assert via_url.count_rows() == 3, "file:// read another table"
    try:
        dataset = write(component, table, f"{memory_root}/table")
    except DatasetError as exc:
        assert f"{memory_root}/table" in str(exc), f"the refusal does not name the URI: {exc}"
        memory = fsspec.filesystem("memory")
        assert not memory.exists(memory_root.removeprefix("memory://") + "/table")
        return
    assert dataset.to_table().equals(table), "the table written to memory:// reads back wrong"


@requirement("DS-127", "DS-017")
@capability("read", "write", "append", "transactional")
def test_its_tables_are_found_without_format(
    component: interlock.DatasetFormat, tmp_path: Path
) -> None:
    """open_dataset and an append find the table without format=; a directory that is not one
    of its tables is refused by format= with DatasetError naming it."""
    table = pa.table({"x": [1, 2, 3]})
    uri = str(tmp_path / "table")
    write(component, table, uri)
    with checking("DS-017"):
        assert interlock.open_dataset(uri).format_name == component.name
        appended = interlock.write_dataset(table, uri, mode="append")
        assert appended.format_name == component.name and appended.count_rows() == 6
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a table")
    with pytest.raises(DatasetError) as caught:
        interlock.open_dataset(str(plain), format=component.name).to_table()
    assert str(plain) in str(caught.value), f"the error does not name {plain}: {caught.value}"
