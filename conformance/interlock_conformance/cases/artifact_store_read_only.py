"""Cases of read-only artifact stores (spec: artifact.md ART-100 to ART-104, and the reading
half of ART-041... and ART-060...): a store that claims ``read-only`` cannot publish, so each
case saves its artifacts into a plain local directory first, asks the store class to lay them
out in its own storage (``populate``, ART-101), and checks what the store then serves.

The cases of ``artifact_store.py`` that publish do not apply to such a store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx
import pytest

import interlock
from interlock import (
    Artifact,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStore,
    InterlockError,
)
from interlock.artifacts import ReadOnlyStoreError

from interlock_conformance.attribution import checking
from interlock_conformance.markers import capability, component_kind, requirement
from interlock_conformance.vectors import VectorIndex

pytestmark = [component_kind("artifact_store"), capability("read-only")]

_MODEL = "mlp_float32"


@pytest.fixture
def model(vectors: VectorIndex) -> onnx.ModelProto:
    """The golden two-layer perceptron."""
    return onnx.load_from_string(vectors.model_bytes(_MODEL))


def _stock(
    component: type[ArtifactStore],
    tmp_path: Path,
    model: onnx.ModelProto,
    wanted: list[tuple[str, str, Mapping[str, Any]]],
) -> tuple[ArtifactStore, Path, list[Artifact]]:
    """Save each (name, version, save_artifact keywords) into a local directory, have the
    store class lay them out (ART-101) and open the store over the root it returns."""
    source = str(tmp_path / "source")
    artifacts = [
        interlock.save_artifact(model, source, name=name, version=version, **options)
        for name, version, options in wanted
    ]
    directory = tmp_path / "populated"
    directory.mkdir()
    with checking("ART-101"):
        root = component.populate(directory, artifacts)
        assert isinstance(root, str) and root, f"populate() returned {root!r}, not a root URI"
    return component(root, None), directory, artifacts


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@requirement("ART-101", "ART-060", "ART-061", "ART-073", "ART-074", "ART-075", "ART-076")
def test_populated_artifacts_are_served_as_they_were(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """What populate laid out loads back with its digest by NAME:VERSION, by NAME (the newest)
    and from uri_of; names, versions and list_files describe it."""
    store, _, saved = _stock(
        component,
        tmp_path,
        model,
        [("mlp", "1", {"metadata": {"n": 1}}), ("mlp", "2", {"metadata": {"n": 2}}),
         ("another", "1", {})],
    )
    with checking("ART-073"):
        assert store.names() == ["another", "mlp"], f"names() is {store.names()}"
        assert store.versions("mlp") == ["1", "2"], f"versions('mlp') is {store.versions('mlp')}"
        assert store.versions("no-such-name") == [], "versions() of an unknown name is not []"
    with checking("ART-101"):
        for artifact in saved:
            loaded = interlock.load_artifact(f"{artifact.name}:{artifact.version}", store)
            assert loaded.digest == artifact.digest, f"{artifact.name}:{artifact.version} changed"
    with checking("ART-060"):
        assert interlock.load_artifact("mlp", store).digest == saved[1].digest
    first = saved[0]
    listed = store.list_files("mlp", "1")
    expected = sorted(["manifest.json", *(f.path for f in first.manifest.files)])
    assert listed == expected, f"list_files() is {listed}, expected {expected}"
    for entry in first.manifest.files:
        assert len(store.read("mlp", "1", entry.path)) == entry.size, entry.path
    with checking("ART-076"):
        by_uri = interlock.load_artifact(store.uri_of("mlp", "1"))
        assert by_uri.digest == first.digest, "uri_of() does not open as the same artifact"


@requirement("ART-100")
def test_publish_is_refused_and_changes_nothing(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """publish and save_artifact raise ReadOnlyStoreError naming the store; no byte changes."""
    store, directory, saved = _stock(component, tmp_path, model, [("mlp", "1", {})])
    before = _snapshot(directory)
    files = {p: store.read("mlp", "1", p) for p in store.list_files("mlp", "1")}
    for name, version in (("mlp", "2"), ("mlp", "1"), ("new", "1")):
        with pytest.raises(ReadOnlyStoreError) as caught:
            store.publish(name, version, files)
        assert store.root in str(caught.value), f"the error does not name the store: {caught.value}"
        assert caught.value.hint, "the error has no hint saying how such a store is written"
    with pytest.raises(ReadOnlyStoreError):
        interlock.save_artifact(model, store, name="mlp", version="3")
    assert _snapshot(directory) == before, "a refused publish changed the store's storage"
    assert store.versions("mlp") == ["1"] and store.names() == ["mlp"]
    assert interlock.load_artifact("mlp:1", store).digest == saved[0].digest


@requirement("ART-062", "ART-074", "ART-075")
def test_missing_things_raise_not_found(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """Unknown names, versions and files raise ArtifactNotFoundError naming them."""
    store, _, _ = _stock(component, tmp_path, model, [("mlp", "1", {})])
    with pytest.raises(ArtifactNotFoundError) as caught:
        store.read("mlp", "1", "no-such-file.bin")
    assert "no-such-file.bin" in str(caught.value), str(caught.value)
    with pytest.raises(ArtifactNotFoundError):
        store.list_files("mlp", "2")
    with pytest.raises(ArtifactNotFoundError) as caught:
        interlock.load_artifact("mlp:2", store)
    assert "1" in str(caught.value), f"the error does not list the versions: {caught.value}"
    with pytest.raises(ArtifactNotFoundError) as caught:
        interlock.load_artifact("nothing", store)
    assert "mlp" in str(caught.value), f"the error does not list the names: {caught.value}"


@requirement("ART-041", "ART-042", "ART-043", "ART-048")
def test_tampered_files_are_refused(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """A changed or an unlisted file in the store's storage is refused by name when loaded."""
    import fsspec.core

    store, _, _ = _stock(component, tmp_path, model, [("mlp", "1", {}), ("mlp", "2", {})])
    fs, path = fsspec.core.url_to_fs(store.uri_of("mlp", "1"))
    original = fs.cat_file(f"{path}/model.onnx")
    fs.pipe_file(f"{path}/model.onnx", original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ArtifactIntegrityError) as caught:
        interlock.load_artifact("mlp:1", store)
    assert "model.onnx" in str(caught.value), str(caught.value)
    fs, path = fsspec.core.url_to_fs(store.uri_of("mlp", "2"))
    fs.pipe_file(f"{path}/smuggled.bin", b"not listed")
    with pytest.raises(ArtifactIntegrityError) as caught:
        interlock.load_artifact("mlp:2", store)
    assert "smuggled.bin" in str(caught.value), str(caught.value)


@requirement("ART-104", "ART-075", "ART-050")
def test_nothing_outside_the_root_is_read(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """'..', absolute and backslash paths, names and versions are refused; a symbolic link
    from inside the storage to a model outside it is neither listed nor followed."""
    store, directory, saved = _stock(component, tmp_path, model, [("mlp", "1", {})])
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the store")
    for bad in ("../secret.txt", "../../secret.txt", "../../../secret.txt", str(secret),
                "a/../../secret.txt", "..\\secret.txt"):
        with pytest.raises(InterlockError):
            store.read("mlp", "1", bad)
    for name, version in (("..", "1"), ("../mlp", "1"), ("mlp", ".."), ("mlp", "../1"),
                          ("a/b", "1")):
        with pytest.raises(InterlockError):
            store.read(name, version, "manifest.json")
        with pytest.raises(InterlockError):
            store.list_files(name, version)
    outside = tmp_path / "outside"
    (outside / "populated").mkdir(parents=True)
    component.populate(outside / "populated", [saved[0]])
    placed = sorted(p for p in (outside / "populated").iterdir())
    for entry in placed:
        os.symlink(entry, directory / f"linked-{entry.name}")
    listed = store.names()
    assert listed == ["mlp"], f"names() follows symbolic links out of the store: {listed}"
    for entry in placed:
        with pytest.raises(InterlockError):
            interlock.load_artifact(f"linked-{entry.name}:1", store)


@requirement("ART-060")
@capability("digest-refs")
def test_digest_reference_resolves(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """NAME@sha256:<hex> loads the version with that digest, and only that one."""
    store, _, saved = _stock(
        component, tmp_path, model,
        [("mlp", "1", {"metadata": {"n": 1}}), ("mlp", "2", {"metadata": {"n": 2}})],
    )
    loaded = interlock.load_artifact(f"mlp@{saved[0].digest}", store)
    assert loaded.version == "1" and loaded.digest == saved[0].digest
    with pytest.raises(ArtifactNotFoundError):
        interlock.load_artifact("mlp@sha256:" + "0" * 64, store)


@requirement("ART-003", "ART-101")
@capability("external-data")
def test_external_data_is_served(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """An artifact whose weights live in model.onnx.data loads back with the same weights."""
    store, _, saved = _stock(component, tmp_path, model, [("mlp", "1", {"external_data": True})])
    assert "model.onnx.data" in [f.path for f in saved[0].manifest.files]
    loaded = interlock.load_artifact("mlp:1", store).onnx_model()
    for tensor in model.graph.initializer:
        got = next(t for t in loaded.graph.initializer if t.name == tensor.name)
        assert (
            onnx.numpy_helper.to_array(got).tobytes()
            == onnx.numpy_helper.to_array(tensor).tobytes()
        ), f"initializer {tensor.name!r} changed"


@requirement("ART-002", "ART-101")
@capability("nested-files")
def test_nested_extra_files_are_served(
    component: type[ArtifactStore], model: onnx.ModelProto, tmp_path: Path
) -> None:
    """Extra files in subdirectories are listed and read back exactly."""
    extra = {"docs/MODEL_CARD.md": "# mlp ✓\n".encode(), "tokenizer/a/b/vocab.txt": b"a\nb\n"}
    store, _, _ = _stock(component, tmp_path, model, [("mlp", "1", {"extra_files": extra})])
    assert set(extra) <= set(store.list_files("mlp", "1"))
    loaded = interlock.load_artifact("mlp:1", store)
    for path, data in extra.items():
        assert loaded.read_bytes(path) == data, f"{path} changed"
