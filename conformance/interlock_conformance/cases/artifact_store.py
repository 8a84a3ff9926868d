"""Artifact store cases (spec: artifact.md): publishing and loading through the store's
primitives, naming and ordering, immutability, digest references, verification of what the
store hands back, and keeping every read and write inside the store's root.

Each case opens its own store of the component's class on a fresh root: a local directory if
the store serves ``file`` (or any protocol), else ``memory://``, else the root given with
``--interlock-store-root``. These cases publish, so they do not apply to a store that claims
``read-only``; ``artifact_store_read_only.py`` holds that store's cases.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest

import interlock
from interlock import (
    ArtifactExistsError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStore,
    InterlockError,
)

from interlock_conformance.attribution import checking
from interlock_conformance.markers import (
    capability,
    component_kind,
    requirement,
    when_unclaimed,
)
from interlock_conformance.session import ConformanceSession
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("artifact_store")

_MODEL = "mlp_float32"


def _serves(component: type[ArtifactStore], protocol: str) -> bool:
    return "*" in component.protocols or protocol in component.protocols


def _root_for(
    component: type[ArtifactStore],
    protocol: str,
    tmp_path: Path,
    memory_root: str,
    conformance: ConformanceSession,
) -> str:
    if protocol == "file" and _serves(component, "file"):
        return str(tmp_path / "store")
    if protocol == "memory" and _serves(component, "memory"):
        return f"{memory_root}/store"
    if conformance.store_root:
        return f"{conformance.store_root.rstrip('/')}/{uuid.uuid4().hex}"
    if component.populate.__func__ is not ArtifactStore.populate.__func__:  # type: ignore[attr-defined]
        # A store over other storage (a database, a registry) lays out a fresh, empty store of
        # its own under a local directory: populate with no artifacts (ART-101).
        return component.populate(tmp_path / f"store-{uuid.uuid4().hex[:8]}", [])
    pytest.fail(
        f"artifact store {component.name!r} serves {list(component.protocols)}, neither local "
        "paths nor memory://; give a root it serves with --interlock-store-root URI"
    )


@pytest.fixture
def store(
    component: type[ArtifactStore],
    tmp_path: Path,
    memory_root: str,
    conformance: ConformanceSession,
) -> Iterator[ArtifactStore]:
    """A store of the class under test on a fresh root (local disk when it serves it)."""
    protocol = "file" if _serves(component, "file") else "memory"
    yield component(_root_for(component, protocol, tmp_path, memory_root, conformance), None)


@pytest.fixture
def model(vectors: VectorIndex) -> onnx.ModelProto:
    """The golden two-layer perceptron."""
    return onnx.load_from_string(vectors.model_bytes(_MODEL))


def _directory_fs(store: ArtifactStore, name: str, version: str) -> tuple[object, str]:
    import fsspec.core

    fs, path = fsspec.core.url_to_fs(store.uri_of(name, version), **store.storage_options)
    return fs, str(path).rstrip("/")


@requirement("ART-078", "PLG-011")
def test_store_class_declares_its_protocols(component: type[ArtifactStore]) -> None:
    """protocols is a non-empty tuple of fsspec protocol names, or '*'."""
    protocols = component.protocols
    assert isinstance(protocols, tuple) and protocols, (
        f"store {component.name!r} declares protocols {protocols!r}; declare a tuple such "
        "as ('s3',)"
    )
    assert all(isinstance(p, str) and p and "://" not in p for p in protocols), protocols


@when_unclaimed("read-only")
@requirement("ART-070", "ART-073", "ART-074", "ART-075", "ART-076", "ART-060", "ART-061")
@pytest.mark.parametrize("protocol", ["file", "memory"])
def test_publish_and_load_round_trip(
    component: type[ArtifactStore],
    protocol: str,
    model: onnx.ModelProto,
    tmp_path: Path,
    memory_root: str,
    conformance: ConformanceSession,
) -> None:
    """What save_artifact publishes loads back byte for byte, by NAME:VERSION, by NAME and
    from uri_of; names, versions and list_files describe it."""
    if not _serves(component, protocol):
        protocol = "file" if _serves(component, "file") else "memory"
    store = component(_root_for(component, protocol, tmp_path, memory_root, conformance), None)
    saved = interlock.save_artifact(model, store, name="mlp", version="1.0")
    for ref in ("mlp:1.0", "mlp"):
        loaded = interlock.load_artifact(ref, store)
        assert loaded.digest == saved.digest, f"{ref!r} loaded another artifact"
    assert store.names() == ["mlp"], f"names() is {store.names()}"
    assert store.versions("mlp") == ["1.0"], f"versions('mlp') is {store.versions('mlp')}"
    assert store.versions("no-such-name") == [], "versions() of an unknown name is not []"
    listed = store.list_files("mlp", "1.0")
    expected = sorted(["manifest.json", *(f.path for f in saved.manifest.files)])
    assert listed == expected, f"list_files() is {listed}, expected {expected}"
    for entry in saved.manifest.files:
        data = store.read("mlp", "1.0", entry.path)
        assert len(data) == entry.size, (
            f"read({entry.path!r}) returned {len(data)} bytes, not {entry.size}"
        )
    assert onnx.load_from_string(loaded.read_bytes("model.onnx")).graph == model.graph
    by_uri = interlock.load_artifact(store.uri_of("mlp", "1.0"))
    assert by_uri.digest == saved.digest, "uri_of() does not open as the same artifact"


@when_unclaimed("read-only")
@requirement("ART-060", "ART-073")
def test_versions_are_oldest_first_and_a_bare_name_is_the_newest(
    store: ArtifactStore, model: onnx.ModelProto
) -> None:
    """Ordered by creation, not by name: 'b' then 'a' lists as ['b', 'a']; 'mlp' is 'a'."""
    interlock.save_artifact(model, store, name="mlp", version="b")
    newest = interlock.save_artifact(model, store, name="mlp", version="a")
    interlock.save_artifact(model, store, name="another", version="1")
    with checking("ART-073"):
        assert store.versions("mlp") == ["b", "a"], f"versions('mlp') is {store.versions('mlp')}"
        assert store.names() == ["another", "mlp"], f"names() is {store.names()}"
    # The core resolves a bare name from versions(), so this can only fail on its own once
    # versions() is right.
    with checking("ART-060"):
        assert interlock.load_artifact("mlp", store).version == newest.version


@when_unclaimed("read-only")
@requirement("ART-062", "ART-074", "ART-075")
def test_missing_things_raise_not_found(store: ArtifactStore, model: onnx.ModelProto) -> None:
    """Unknown versions, files and directories raise ArtifactNotFoundError naming them."""
    interlock.save_artifact(model, store, name="mlp", version="1")
    with pytest.raises(ArtifactNotFoundError) as caught:
        store.read("mlp", "1", "no-such-file.bin")
    assert "no-such-file.bin" in str(caught.value), str(caught.value)
    with pytest.raises(ArtifactNotFoundError):
        store.list_files("mlp", "2")
    with pytest.raises(ArtifactNotFoundError) as caught:
        interlock.load_artifact("mlp:2", store)
    assert "1" in str(caught.value), (
        f"the error does not list the existing versions: {caught.value}"
    )


@when_unclaimed("read-only")
@requirement("ART-071")
@capability("immutable-versions")
def test_published_versions_are_immutable(store: ArtifactStore, model: onnx.ModelProto) -> None:
    """Publishing an existing version raises ArtifactExistsError and changes no byte."""
    saved = interlock.save_artifact(model, store, name="mlp", version="1")
    before = {p: store.read("mlp", "1", p) for p in store.list_files("mlp", "1")}
    with pytest.raises(ArtifactExistsError):
        interlock.save_artifact(model, store, name="mlp", version="1", metadata={"other": True})
    with pytest.raises(ArtifactExistsError):
        store.publish("mlp", "1", {"manifest.json": b"{}", "model.onnx": b"junk"})
    after = {p: store.read("mlp", "1", p) for p in store.list_files("mlp", "1")}
    assert after == before, "a refused publish changed the published version"
    assert interlock.load_artifact("mlp:1", store).digest == saved.digest


@when_unclaimed("read-only")
@requirement("ART-060")
@capability("digest-refs")
def test_digest_reference_resolves_to_its_version(
    store: ArtifactStore, model: onnx.ModelProto
) -> None:
    """NAME@sha256:<hex> loads the version with that manifest digest, and only that one."""
    first = interlock.save_artifact(model, store, name="mlp", version="1", metadata={"n": 1})
    interlock.save_artifact(model, store, name="mlp", version="2", metadata={"n": 2})
    loaded = interlock.load_artifact(f"mlp@{first.digest}", store)
    assert loaded.version == "1" and loaded.digest == first.digest
    with pytest.raises(ArtifactNotFoundError):
        interlock.load_artifact("mlp@sha256:" + "0" * 64, store)


@when_unclaimed("read-only")
@requirement("ART-041", "ART-042", "ART-043", "ART-048", "ART-074")
def test_tampered_artifacts_are_refused(store: ArtifactStore, model: onnx.ModelProto) -> None:
    """A changed or an unlisted file in a published version is refused by name when loaded."""
    interlock.save_artifact(model, store, name="mlp", version="1")
    fs, directory = _directory_fs(store, "mlp", "1")
    original = fs.cat_file(f"{directory}/model.onnx")  # type: ignore[attr-defined]
    flipped = original[:-1] + bytes([original[-1] ^ 1])
    fs.pipe_file(f"{directory}/model.onnx", flipped)  # type: ignore[attr-defined]
    with pytest.raises(ArtifactIntegrityError) as caught:
        interlock.load_artifact("mlp:1", store)
    assert "model.onnx" in str(caught.value), str(caught.value)

    interlock.save_artifact(model, store, name="mlp", version="2")
    fs, directory = _directory_fs(store, "mlp", "2")
    fs.pipe_file(f"{directory}/smuggled.bin", b"not listed")  # type: ignore[attr-defined]
    assert "smuggled.bin" in store.list_files("mlp", "2"), "list_files() hides an unlisted file"
    with pytest.raises(ArtifactIntegrityError) as caught:
        interlock.load_artifact("mlp:2", store)
    assert "smuggled.bin" in str(caught.value), str(caught.value)


@when_unclaimed("read-only")
@requirement("ART-050", "ART-075")
def test_paths_outside_the_root_are_refused(
    component: type[ArtifactStore],
    model: onnx.ModelProto,
    tmp_path: Path,
    memory_root: str,
    conformance: ConformanceSession,
) -> None:
    """publish and read refuse '..', absolute and backslash paths and never touch a byte
    outside the root."""
    protocol = "file" if _serves(component, "file") else "memory"
    root = _root_for(component, protocol, tmp_path / "inside", memory_root, conformance)
    store = component(root, None)
    saved = interlock.save_artifact(model, store, name="mlp", version="1")
    if protocol == "file":
        secret = tmp_path / "secret.txt"
        secret.write_bytes(b"outside the store")
    manifest = store.read("mlp", "1", "manifest.json")
    model_bytes = store.read("mlp", "1", "model.onnx")
    for bad in (
        "../escape.bin",
        "../../escape.bin",
        "/tmp/escape.bin",
        "a/../../escape.bin",
        "..\\escape.bin",
    ):
        with pytest.raises(InterlockError):
            store.publish(
                "evil", "1", {bad: b"x", "model.onnx": model_bytes, "manifest.json": manifest}
            )
        with pytest.raises(InterlockError):
            store.read("mlp", "1", bad)
    for bad_name in ("..", "../mlp", "a/b"):
        with pytest.raises(InterlockError):
            store.publish(bad_name, "1", {"model.onnx": model_bytes, "manifest.json": manifest})
    if protocol == "file":
        with pytest.raises(InterlockError):
            store.read("mlp", "1", "../../../secret.txt")
        escaped = sorted(str(p) for p in tmp_path.rglob("escape.bin"))
        assert not escaped, f"a refused publish wrote {escaped}"
    assert store.names() == ["mlp"], f"names() is {store.names()} after refused publishes"
    assert interlock.load_artifact("mlp:1", store).digest == saved.digest


@when_unclaimed("read-only")
@requirement("ART-072")
@capability("atomic-publish")
def test_failed_publish_leaves_nothing_visible(
    store: ArtifactStore, model: onnx.ModelProto, tmp_path: Path
) -> None:
    """A publish whose input fails midway shows nothing through names, versions or refs."""
    saved = interlock.save_artifact(model, store, name="mlp", version="1")
    files = {p: store.read("mlp", "1", p) for p in store.list_files("mlp", "1")}
    broken: dict[str, bytes | Path] = {**files, "zz-missing.bin": tmp_path / "does-not-exist.bin"}
    with pytest.raises(Exception):  # noqa: B017 - any error; what matters is what stays visible
        store.publish("mlp", "2", broken)
    assert store.versions("mlp") == ["1"], f"versions('mlp') is {store.versions('mlp')}"
    assert store.names() == ["mlp"]
    with pytest.raises(ArtifactNotFoundError):
        interlock.load_artifact("mlp:2", store)
    assert interlock.load_artifact("mlp", store).digest == saved.digest


@when_unclaimed("read-only")
@requirement("ART-003", "ART-070")
@capability("external-data")
def test_external_data_round_trips(store: ArtifactStore, model: onnx.ModelProto) -> None:
    """An artifact whose weights live in model.onnx.data loads back with the same weights."""
    saved = interlock.save_artifact(model, store, name="mlp", version="ext", external_data=True)
    assert "model.onnx.data" in [f.path for f in saved.manifest.files], (
        "save_artifact(external_data=True) wrote no model.onnx.data"
    )
    loaded = interlock.load_artifact("mlp:ext", store).onnx_model()
    weights = {
        t.name: t.raw_data or onnx.numpy_helper.to_array(t).tobytes()
        for t in loaded.graph.initializer
    }
    expected = {t.name: onnx.numpy_helper.to_array(t).tobytes() for t in model.graph.initializer}
    assert weights.keys() == expected.keys()
    for name in expected:
        got = onnx.numpy_helper.to_array(
            next(t for t in loaded.graph.initializer if t.name == name)
        )
        assert got.tobytes() == expected[name], f"initializer {name!r} changed"


@when_unclaimed("read-only")
@requirement("ART-002", "ART-070")
@capability("nested-files")
def test_nested_extra_files_round_trip(store: ArtifactStore, model: onnx.ModelProto) -> None:
    """Extra files in subdirectories are listed, published and read back exactly."""
    extra = {
        "docs/MODEL_CARD.md": "# mlp\nünïcode ✓\n".encode(),
        "tokenizer/a/b/vocab.txt": b"a\nb\n",
    }
    interlock.save_artifact(model, store, name="mlp", version="1", extra_files=extra)
    listed = store.list_files("mlp", "1")
    assert set(extra) <= set(listed), f"list_files() is {listed}"
    loaded = interlock.load_artifact("mlp:1", store)
    for path, data in extra.items():
        assert loaded.read_bytes(path) == data, f"{path} changed"


@when_unclaimed("read-only")
@requirement("ART-071")
@capability("race-safe-publish")
def test_concurrent_publishers_of_one_version_have_one_winner(
    store: ArtifactStore, model: onnx.ModelProto
) -> None:
    """Of several threads publishing the same version, exactly one succeeds; the others get
    ArtifactExistsError; the version holds the winner's files."""
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def publish(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(
                interlock.save_artifact(
                    model, store, name="mlp", version="1", metadata={"writer": i}
                )
            )
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if isinstance(o, interlock.Artifact)]
    losers = [o for o in outcomes if not isinstance(o, interlock.Artifact)]
    assert len(winners) == 1, f"{len(winners)} publishers succeeded: {losers}"
    assert all(isinstance(o, ArtifactExistsError) for o in losers), losers
    assert interlock.load_artifact("mlp:1", store).digest == winners[0].digest
