"""Saving, finding and loading artifacts through the public API, on local disk and memory://."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
import pytest
from onnx import TensorProto, helper, numpy_helper

import interlock
from interlock.artifacts import resolve_ref
from interlock import (
    ArtifactError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    ColumnMapping,
    ExportedModel,
    InputBinding,
    LineageEntry,
    OutputBinding,
    Signature,
    TensorSpec,
)
from interlock_conformance import requirement


def make_model(scale: float = 2.0, width: int = 3) -> onnx.ModelProto:
    """y = x * scale, x: float32[batch, width]."""
    weight = numpy_helper.from_array(np.full(width, scale, np.float32), "scale")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["y"])],
        "mul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


@pytest.fixture(params=["local", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store root on local disk and in fsspec's memory filesystem."""
    if request.param == "local":
        return str(tmp_path / "store")
    return f"memory://store-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_CACHE_DIR", str(tmp_path / "cache"))


@requirement("ART-013", "ART-016")
def test_round_trip_by_every_kind_of_reference(root: str) -> None:
    saved = interlock.save_artifact(make_model(), root, name="double", version="1")
    assert saved.signature.inputs[0] == TensorSpec(name="x", dtype="float32", shape=["batch", 3])
    assert saved.columns == ColumnMapping.identity(saved.signature)
    for ref in ("double:1", "double", saved.ref):
        loaded = interlock.load_artifact(ref, root)
        assert loaded.digest == saved.digest
        assert loaded.version == "1"
    by_uri = interlock.load_artifact(saved.uri)
    assert by_uri.digest == saved.digest
    assert by_uri.onnx_model() == make_model()


@requirement("ART-013", "ART-014", "ART-015", "ART-018", "ART-019", "ART-020")
@requirement("ART-021")
def test_manifest_records_everything(root: str) -> None:
    producer = interlock.Producer(name="acme-exporter", version="2.1", component="acme")
    saved = interlock.save_artifact(
        make_model(),
        root,
        name="double",
        version="1",
        lineage=[LineageEntry(uri="s3://bucket/train.parquet", fingerprint="sha256:" + "1" * 64)],
        metadata={"accuracy": 0.97, "tags": ["a", "b"]},
        producer=producer,
        extra_files={"README.md": b"# double\n", "card/details.json": b"{}"},
    )
    manifest = saved.manifest
    assert manifest.producer == producer
    assert manifest.lineage[0].uri == "s3://bucket/train.parquet"
    assert manifest.metadata == {"accuracy": 0.97, "tags": ["a", "b"]}
    assert manifest.onnx.ir_version == 9 and manifest.onnx.opsets == {"": 17}
    assert [f.path for f in manifest.files] == ["model.onnx", "README.md", "card/details.json"]
    assert manifest.created_at.tzinfo is not None
    assert saved.read_bytes("card/details.json") == b"{}"
    assert saved.read_bytes("README.md") == b"# double\n"
    on_disk = json.loads(_manifest_bytes(saved))
    assert on_disk["digest"] == saved.digest
    assert on_disk["metadata"] == {"accuracy": 0.97, "tags": ["a", "b"]}


def _manifest_bytes(artifact: interlock.Artifact) -> bytes:
    import fsspec.core

    fs, path = fsspec.core.url_to_fs(artifact.uri)
    return bytes(fs.cat_file(f"{path}/manifest.json"))


def test_versions_are_immutable(root: str) -> None:
    interlock.save_artifact(make_model(), root, name="double", version="1")
    with pytest.raises(ArtifactExistsError, match="double:1 already exists") as info:
        interlock.save_artifact(make_model(3.0), root, name="double", version="1")
    assert "new version" in (info.value.hint or "")
    assert interlock.load_artifact("double:1", root).onnx_model() == make_model()


def test_listing_and_latest_version(root: str) -> None:
    store = interlock.open_store(root)
    assert store.names() == []
    for version, scale in (("b", 1.0), ("a", 2.0), ("c", 3.0)):
        interlock.save_artifact(make_model(scale), store, name="m", version=version)
    interlock.save_artifact(make_model(), store, name="other", version="1")
    assert store.names() == ["m", "other"]
    # oldest first by creation time, not by name
    assert store.versions("m") == ["b", "a", "c"]
    assert interlock.load_artifact("m", store).version == "c"
    assert resolve_ref(store, "m:a") == ("m", "a")
    assert store.versions("missing") == []


@requirement("ART-090")
def test_not_found_errors_list_what_exists(root: str) -> None:
    saved = interlock.save_artifact(make_model(), root, name="double", version="1")
    with pytest.raises(ArtifactNotFoundError, match=r"no artifact named 'tripple'.*double"):
        interlock.load_artifact("tripple", root)
    with pytest.raises(ArtifactNotFoundError, match=r"no version '2'.*versions: 1"):
        interlock.load_artifact("double:2", root)
    other = "sha256:" + "f" * 64
    with pytest.raises(ArtifactNotFoundError, match=r"has digest sha256:f+ \(versions: 1\)"):
        interlock.load_artifact(f"double@{other}", root)
    with pytest.raises(ArtifactNotFoundError, match="no artifact directory"):
        interlock.load_artifact(saved.uri + "-nope")


@requirement("ART-090")
def test_malformed_references_are_explained(root: str) -> None:
    with pytest.raises(ArtifactError, match="not a valid content address"):
        interlock.load_artifact("double@sha256:abc")
    with pytest.raises(ArtifactError, match="not an artifact reference, but a store was given"):
        interlock.load_artifact("a/b", root)


def test_exported_model_supplies_signature_columns_metadata(root: str) -> None:
    signature = Signature(
        inputs=[TensorSpec(name="x", dtype="float32", shape=[None, 3])],
        outputs=[TensorSpec(name="y", dtype="float32", shape=[None, 3])],
    )
    columns = ColumnMapping(
        inputs=[InputBinding(tensor="x", columns=["a", "b", "c"])],
        outputs=[OutputBinding(tensor="y", column="doubled")],
    )
    exported = ExportedModel(make_model(), signature, columns, metadata={"framework": "numpy"})
    saved = interlock.save_artifact(
        exported, root, name="double", version="1", metadata={"owner": "me"}
    )
    assert saved.signature == signature
    assert saved.columns == columns
    assert saved.manifest.metadata == {"framework": "numpy", "owner": "me"}


@requirement("ART-016")
def test_signature_may_refine_but_not_contradict_the_graph(root: str) -> None:
    refined = Signature(
        inputs=[TensorSpec(name="x", dtype="float32", shape=[8, 3])],
        outputs=[TensorSpec(name="y", dtype="float32", shape=[8, 3])],
    )
    saved = interlock.save_artifact(make_model(), root, name="d", version="1", signature=refined)
    assert saved.signature == refined
    wrong_dtype = Signature(
        inputs=[TensorSpec(name="x", dtype="float64", shape=[8, 3])],
        outputs=refined.outputs,
    )
    with pytest.raises(ArtifactError, match="input tensor 'x'.*dtype float64.*float32"):
        interlock.save_artifact(make_model(), root, name="d", version="2", signature=wrong_dtype)
    wrong_dim = Signature(
        inputs=[TensorSpec(name="x", dtype="float32", shape=[8, 4])], outputs=refined.outputs
    )
    with pytest.raises(ArtifactError, match="dimension 1 = 4 but the graph fixes it at 3"):
        interlock.save_artifact(make_model(), root, name="d", version="2", signature=wrong_dim)
    wrong_names = Signature(
        inputs=[TensorSpec(name="z", dtype="float32", shape=[8, 3])], outputs=refined.outputs
    )
    with pytest.raises(ArtifactError, match=r"inputs \['z'\] are not the graph's \['x'\]"):
        interlock.save_artifact(make_model(), root, name="d", version="2", signature=wrong_names)


@requirement("ART-005", "ART-020", "ART-090", "ART-091")
def test_save_refuses_bad_input_and_names_the_problem(root: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="artifact name 'no spaces' is not valid"):
        interlock.save_artifact(make_model(), root, name="no spaces", version="1")
    with pytest.raises(ArtifactError, match="cannot save a dict"):
        interlock.save_artifact({}, root, name="d", version="1")  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="no ONNX model file"):
        interlock.save_artifact(tmp_path / "missing.onnx", root, name="d", version="1")
    with pytest.raises(ArtifactError, match="extra file path '../up' is not allowed"):
        interlock.save_artifact(
            make_model(), root, name="d", version="1", extra_files={"../up": b""}
        )
    with pytest.raises(ArtifactError, match="'model.onnx' is reserved"):
        interlock.save_artifact(
            make_model(), root, name="d", version="1", extra_files={"model.onnx": b""}
        )
    with pytest.raises(ArtifactError, match="would put a file inside the file 'notes'"):
        interlock.save_artifact(
            make_model(),
            root,
            name="d",
            version="1",
            extra_files={"notes": b"", "notes/today.txt": b""},
        )
    with pytest.raises(ArtifactError, match="inside the file 'model.onnx.data'"):
        interlock.save_artifact(
            make_model(), root, name="d", version="1", extra_files={"model.onnx.data/x": b""}
        )
    with pytest.raises(ArtifactError, match="metadata"):
        interlock.save_artifact(
            make_model(), root, name="d", version="1", metadata={"bad": float("nan")}
        )
    with pytest.raises(ArtifactError, match="column mapping binds output tensors"):
        interlock.save_artifact(
            make_model(),
            root,
            name="d",
            version="1",
            columns=ColumnMapping(inputs=[InputBinding(tensor="x", columns=["x"])], outputs=[]),
        )
    broken = make_model()
    broken.graph.node[0].op_type = "NoSuchOperator"
    with pytest.raises(ArtifactError, match="the ONNX model is not valid"):
        interlock.save_artifact(broken, root, name="d", version="1")
    # nothing of the refused saves became visible
    assert interlock.open_store(root).names() == []


class _TableDataset(interlock.Dataset):
    """A small in-memory Dataset, enough to be recorded as lineage."""

    def __init__(self, table: pa.Table, uri: str) -> None:
        self.table, self.uri, self.format_name = table, uri, "memory-table"

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def to_reader(
        self, columns: Any = None, filter: Any = None, batch_size: Any = None
    ) -> pa.RecordBatchReader:
        return self.table.to_reader()

    def files(self) -> list[str]:
        return []

    def fingerprint(self) -> str:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.table.schema) as writer:
            writer.write_table(self.table)
        import hashlib

        return "sha256:" + hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()

    def shards(self, n: int) -> list[interlock.Dataset]:
        return [self]


@requirement("ART-019")
def test_lineage_takes_datasets(root: str) -> None:
    dataset = _TableDataset(pa.table({"x": [1.0, 2.0]}), "memory://train.arrow")
    saved = interlock.save_artifact(make_model(), root, name="d", version="1", lineage=[dataset])
    [entry] = saved.manifest.lineage
    assert entry.uri == "memory://train.arrow"
    assert entry.fingerprint == dataset.fingerprint()
    assert entry.role == "training"


@requirement("ART-047")
def test_read_bytes_only_serves_listed_files(root: str) -> None:
    saved = interlock.save_artifact(make_model(), root, name="d", version="1")
    assert saved.read_bytes("model.onnx") == make_model().SerializeToString()
    with pytest.raises(
        ArtifactNotFoundError, match=r"has no file 'weights.bin' \(files: model.onnx\)"
    ):
        saved.read_bytes("weights.bin")


@requirement("ART-080", "ART-081")
def test_local_dir(root: str, tmp_path: Path) -> None:
    saved = interlock.save_artifact(make_model(), root, name="d", version="1")
    directory = saved.local_dir()
    assert (directory / "model.onnx").read_bytes() == saved.read_bytes("model.onnx")
    if root.startswith("memory://"):
        # remote artifacts are copied once into the cache, keyed by digest
        assert directory == tmp_path / "cache" / "artifacts" / saved.digest.removeprefix("sha256:")
        again = interlock.load_artifact("d:1", root).local_dir()
        assert again == directory
    else:
        assert directory == Path(root) / "d" / "1"


@requirement("ART-081", "ART-082", "ART-083")
def test_cached_copy_is_verified_and_replaced_when_damaged(tmp_path: Path) -> None:
    root = f"memory://store-{uuid.uuid4().hex}"
    saved = interlock.save_artifact(make_model(), root, name="d", version="1")
    directory = saved.local_dir()
    (directory / "model.onnx").write_bytes(b"tampered")
    fresh = interlock.load_artifact("d:1", root).local_dir()
    assert fresh == directory
    assert (fresh / "model.onnx").read_bytes() == make_model().SerializeToString()
    assert not [p for p in fresh.parent.iterdir() if p.name.startswith(".")]


def test_default_store_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", str(tmp_path / "env-store"))
    saved = interlock.save_artifact(make_model(), name="d", version="1")
    assert Path(saved.uri) == tmp_path / "env-store" / "d" / "1"
    assert interlock.load_artifact("d").digest == saved.digest
    assert interlock.open_store().root == str(tmp_path / "env-store")
    monkeypatch.delenv("INTERLOCK_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert interlock.open_store().root == str(tmp_path / "xdg" / "interlock" / "artifacts")


def test_chained_url_root() -> None:
    root = f"simplecache::memory://chained-{uuid.uuid4().hex}"
    saved = interlock.save_artifact(make_model(), root, name="d", version="1")
    assert saved.uri == f"{root}/d/1"
    assert interlock.load_artifact("d:1", root).digest == saved.digest
    assert interlock.load_artifact(saved.uri).digest == saved.digest
    plain = root.removeprefix("simplecache::")
    assert interlock.load_artifact("d:1", plain).digest == saved.digest


def test_open_store_resolution() -> None:
    store = interlock.open_store("memory://x", store="fsspec")
    assert store.name == "fsspec"
    assert "atomic-publish" in store.capabilities
    with pytest.raises(interlock.PluginError, match="no artifact store named 'nope'"):
        interlock.open_store("memory://x", store="nope")
    with pytest.raises(ArtifactError, match="storage_options were given with a store object"):
        interlock.load_artifact("d", store, storage_options={"anon": True})


def test_a_bare_word_is_a_name_and_the_error_says_how_to_load_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = interlock.save_artifact(make_model(), str(tmp_path / "store"), name="d", version="1")
    monkeypatch.chdir(Path(saved.uri).parent)  # a directory "1" is here
    monkeypatch.setenv("INTERLOCK_STORE", str(tmp_path / "empty"))
    with pytest.raises(ArtifactNotFoundError, match="no artifact named '1'") as info:
        interlock.load_artifact("1")
    assert "./1" in (info.value.hint or "")
    assert interlock.load_artifact("./1").digest == saved.digest
