"""Dataset fingerprints (dataset.md, fingerprint section): exact, location-free, stable, sensitive."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import interlock

TABLE = pa.table({"id": list(range(100)), "text": [f"row {i} ✓" for i in range(100)]})


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"/interlock-tests/{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _expected(format_name: str, root: Path, row_groups: dict[str, list[int]] | None = None) -> str:
    """DS-060, computed independently from the spec's words."""
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    entries = []
    for file in files:
        data = file.read_bytes()
        relative = "" if file == root else file.relative_to(root).as_posix()
        entry: dict[str, object] = {
            "path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()
        }
        if row_groups and relative in row_groups:
            entry["row_groups"] = row_groups[relative]
        entries.append(entry)
    listing = {"version": 1, "format": format_name, "files": entries}
    text = json.dumps(listing, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_fingerprint_follows_the_spec_exactly(tmp_path: Path) -> None:
    """DS-060, DS-061"""
    directory = interlock.write_dataset(TABLE, tmp_path / "d", format="csv", max_rows_per_file=30)
    assert directory.fingerprint() == _expected("csv", tmp_path / "d")
    single = interlock.write_dataset(TABLE, tmp_path / "t.parquet")
    assert single.fingerprint() == _expected("parquet", tmp_path / "t.parquet")


def test_fingerprint_does_not_depend_on_where_the_dataset_lives(tmp_path: Path,
                                                              memory_root: str) -> None:
    """DS-061, DS-062"""
    original = interlock.write_dataset(TABLE, tmp_path / "d", format="arrow", max_rows_per_file=40)
    shutil.copytree(tmp_path / "d", tmp_path / "elsewhere" / "copy")
    memory = fsspec.filesystem("memory")
    memory.put(str(tmp_path / "d"), memory_root[9:] + "/copy", recursive=True)
    copies = [interlock.open_dataset(tmp_path / "elsewhere" / "copy"),
              interlock.open_dataset(f"{memory_root}/copy", format="arrow")]
    assert {c.fingerprint() for c in copies} == {original.fingerprint()}
    single = interlock.write_dataset(TABLE, tmp_path / "one.parquet")
    shutil.copy(tmp_path / "one.parquet", tmp_path / "renamed.pq")
    assert interlock.open_dataset(tmp_path / "renamed.pq").fingerprint() == single.fingerprint()


def test_fingerprint_is_stable_across_processes(tmp_path: Path) -> None:
    """DS-062"""
    dataset = interlock.write_dataset(TABLE, tmp_path / "d", format="parquet", max_rows_per_file=25)
    script = "import interlock, sys; print(interlock.open_dataset(sys.argv[1]).fingerprint())"
    runs = [
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "d")], check=True,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "INTERLOCK_PLUGINS": "interlock_formats"}).stdout.strip()
        for _ in range(2)
    ]
    assert runs == [dataset.fingerprint()] * 2
    assert runs[0].startswith("sha256:") and len(runs[0]) == len("sha256:") + 64


def test_same_content_written_again_has_the_same_fingerprint(tmp_path: Path) -> None:
    """DS-062"""
    first = interlock.write_dataset(TABLE, tmp_path / "a.parquet").fingerprint()
    second = interlock.write_dataset(TABLE, tmp_path / "a.parquet", mode="overwrite").fingerprint()
    assert first == second


def test_fingerprint_changes_when_content_changes(tmp_path: Path) -> None:
    """DS-062"""
    uri = tmp_path / "d"
    before = interlock.write_dataset(TABLE, uri, format="parquet").fingerprint()
    after_append = interlock.write_dataset(TABLE.slice(0, 1), uri, mode="append").fingerprint()
    assert after_append != before
    single = tmp_path / "t.arrow"
    one = interlock.write_dataset(TABLE, single).fingerprint()
    changed = TABLE.set_column(0, "id", pa.array([0] * 99 + [1]))
    two = interlock.write_dataset(changed, single, mode="overwrite").fingerprint()
    assert one != two


def test_shards_have_distinct_fingerprints_naming_their_row_groups(tmp_path: Path) -> None:
    """DS-033, DS-061"""
    pq.write_table(TABLE, tmp_path / "t.parquet", row_group_size=10)
    dataset = interlock.open_dataset(tmp_path / "t.parquet")
    shards = dataset.shards(3)
    prints = [s.fingerprint() for s in shards]
    assert len(set(prints)) == 3 and dataset.fingerprint() not in prints
    selection = shards[1].row_group_selection()
    (ids,) = selection.values()
    assert shards[1].fingerprint() == _expected("parquet", tmp_path / "t.parquet", {"": ids})
