"""The reference ``fsspec`` artifact store, through its primitives (plugins/interlock_fsstore)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

import interlock
from interlock import ArtifactExistsError, ArtifactIntegrityError, ArtifactNotFoundError
from interlock_conformance import requirement


def manifest(created_at: str = "2024-01-01T00:00:00Z") -> bytes:
    """Stores do not interpret manifests beyond ``created_at`` (for ordering)."""
    return json.dumps({"created_at": created_at}).encode()


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> interlock.ArtifactStore:
    root = (
        str(tmp_path / "store") if request.param == "local" else f"memory://fs-{uuid.uuid4().hex}"
    )
    return interlock.open_store(root)


def test_registered_like_a_vendor_store() -> None:
    cls = interlock.get_registry().get("artifact_store", "fsspec")
    assert cls.protocols == ("*",)
    assert cls.priority == interlock.FALLBACK_PRIORITY
    assert {
        "atomic-publish",
        "immutable-versions",
        "digest-refs",
        "external-data",
    } <= cls.capabilities
    assert type(interlock.open_store("memory://anything")) is cls


def test_publish_list_read(store: interlock.ArtifactStore, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\1" * 1000)
    uri = store.publish(
        "m",
        "1",
        {
            "model.onnx": b"onnx",
            "model.onnx.data": weights,
            "card/README.md": b"hi",
            "manifest.json": manifest(),
        },
    )
    assert uri == store.uri_of("m", "1")
    assert store.list_files("m", "1") == [
        "card/README.md",
        "manifest.json",
        "model.onnx",
        "model.onnx.data",
    ]
    assert store.read("m", "1", "model.onnx.data") == b"\1" * 1000
    with store.open_file("m", "1", "card/README.md") as stream:
        assert stream.read() == b"hi"
    assert store.exists("m", "1") and not store.exists("m", "2")
    assert store.names() == ["m"]
    with pytest.raises(ArtifactNotFoundError, match="has no file 'nope'"):
        store.read("m", "1", "nope")
    with pytest.raises(ArtifactNotFoundError, match="no artifact directory"):
        store.list_files("m", "2")


@requirement("ART-077")
def test_uri_and_local_path(tmp_path: Path) -> None:
    local = interlock.open_store(str(tmp_path / "s"))
    assert local.uri_of("m", "1") == str(tmp_path / "s" / "m" / "1")
    assert local.local_path("m", "1") == tmp_path / "s" / "m" / "1"
    remote = interlock.open_store("memory://r/")
    assert remote.uri_of("m", "1") == "memory://r/m/1"
    assert remote.local_path("m", "1") is None


def test_versions_are_ordered_by_creation_time(store: interlock.ArtifactStore) -> None:
    for version, created in (
        ("z", "2024-01-01T00:00:00Z"),
        ("a", "2024-03-01T00:00:00+00:00"),
        ("m", "2024-02-01T00:00:00Z"),
    ):
        store.publish("n", version, {"model.onnx": b"x", "manifest.json": manifest(created)})
    assert store.versions("n") == ["z", "m", "a"]
    assert store.versions("absent") == []


def test_existing_version_is_refused(store: interlock.ArtifactStore) -> None:
    store.publish("m", "1", {"model.onnx": b"first", "manifest.json": manifest()})
    with pytest.raises(ArtifactExistsError, match="m:1 already exists"):
        store.publish("m", "1", {"model.onnx": b"second", "manifest.json": manifest()})
    assert store.read("m", "1", "model.onnx") == b"first"


def test_concurrent_publishers_of_one_version_exactly_one_wins(tmp_path: Path) -> None:
    store = interlock.open_store(str(tmp_path / "s"))
    barrier = threading.Barrier(6)
    results: list[str] = []

    def publish(i: int) -> None:
        barrier.wait()
        try:
            store.publish(
                "m", "1", {"model.onnx": str(i).encode() * 100_000, "manifest.json": manifest()}
            )
            results.append(f"won {i}")
        except ArtifactExistsError:
            results.append("refused")

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("refused") == 5
    winner = winners[0].split()[1]
    assert store.read("m", "1", "model.onnx") == winner.encode() * 100_000
    assert os.listdir(tmp_path / "s" / ".staging") == []


def test_failed_publish_leaves_nothing(store: interlock.ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.publish(
            "m",
            "1",
            {"model.onnx": b"x", "gone.bin": tmp_path / "missing", "manifest.json": manifest()},
        )
    assert not store.exists("m", "1")
    assert store.names() == []
    assert store.remove_stale_staging(older_than_s=-1) == 0  # type: ignore[attr-defined]


@requirement("ART-077")
def test_unpublished_directories_are_invisible_and_replaced() -> None:
    import fsspec

    root = f"memory://partial-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{root}/m/1/model.onnx", b"left by a writer that died")
    store = interlock.open_store(root)
    assert store.names() == [] and store.versions("m") == []
    store.publish("m", "1", {"model.onnx": b"new", "manifest.json": manifest()})
    assert store.list_files("m", "1") == ["manifest.json", "model.onnx"]


def test_publish_refuses_unsafe_paths(store: interlock.ArtifactStore) -> None:
    for bad in ("../escape", "/abs", "a\\b", "a/./b"):
        with pytest.raises(ArtifactIntegrityError, match="not a safe relative path"):
            store.publish("m", "1", {"model.onnx": b"x", bad: b"x", "manifest.json": manifest()})
    with pytest.raises(ArtifactIntegrityError, match="without manifest.json"):
        store.publish("m", "1", {"model.onnx": b"x"})
    assert store.names() == []


@requirement("ART-044")
def test_list_files_refuses_symlinks(tmp_path: Path) -> None:
    store = interlock.open_store(str(tmp_path / "s"))
    store.publish("m", "1", {"model.onnx": b"x", "manifest.json": manifest()})
    os.symlink("/etc/hostname", tmp_path / "s" / "m" / "1" / "extra")
    with pytest.raises(ArtifactIntegrityError, match="extra is a symbolic link"):
        store.list_files("m", "1")


@requirement("ART-077")
def test_remove_stale_staging(tmp_path: Path) -> None:
    store = interlock.open_store(str(tmp_path / "s"))
    old = tmp_path / "s" / ".staging" / "old"
    fresh = tmp_path / "s" / ".staging" / "fresh"
    old.mkdir(parents=True)
    fresh.mkdir()
    past = time.time() - 3 * 24 * 3600
    os.utime(old, (past, past))
    assert store.remove_stale_staging() == 1  # type: ignore[attr-defined]
    assert sorted(os.listdir(tmp_path / "s" / ".staging")) == ["fresh"]
