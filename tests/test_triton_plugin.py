"""The ``interlock_triton`` plugin: ``export_triton`` / ``interlock artifact export-triton``
write Triton model repositories whose ``config.pbtxt`` Triton's own protobuf parses and
which agree with the signature; the read-only ``triton`` store serves exported models (their
digests intact) and models Triton users made (a derived manifest), through the real REST
server and ``predict_dataset``; tampering, publishing and paths out of the repository are
refused (spec: artifact.md ART-100 to ART-104).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

import interlock
from interlock import ArtifactExistsError, ArtifactIntegrityError, ArtifactNotFoundError
from interlock.artifacts import ReadOnlyStoreError
from interlock.errors import ArtifactError
from interlock.tensors import DTYPES, Signature
from interlock_conformance import requirement
from interlock_conformance.vectors import load_vector_index
from interlock_triton import TritonRepositoryStore, export_triton

ROOT = Path(__file__).resolve().parent.parent
VECTORS = load_vector_index()
GOLDEN = sorted(VECTORS.models)

FOREIGN_CONFIG = """
name: "mlp"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "x", data_type: TYPE_FP32, dims: [ 4 ] } ]
output [
  { name: "logits", data_type: TYPE_FP32, dims: [ 3 ] },
  { name: "probabilities", data_type: TYPE_FP32, dims: [ -1 ] }
]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""


def _parse(path: Path) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), config)
    return config


def _type_name(dtype: str) -> str:
    oip = DTYPES[dtype].oip
    return "TYPE_STRING" if oip == "BYTES" else f"TYPE_{oip}"


def _check_config(config: model_config_pb2.ModelConfig, name: str, signature: Signature) -> None:
    """config.pbtxt says what the signature says, in Triton's terms."""
    assert config.name == name
    assert config.platform == "onnxruntime_onnx" and config.backend == "onnxruntime"
    batched = config.max_batch_size > 0
    for entries, specs in ((config.input, signature.inputs), (config.output, signature.outputs)):
        assert [e.name for e in entries] == [s.name for s in specs]
        for entry, spec in zip(entries, specs, strict=True):
            assert model_config_pb2.DataType.Name(entry.data_type) == _type_name(spec.dtype)
            shape = spec.shape[1:] if batched else spec.shape
            if batched:
                assert not isinstance(spec.shape[0], int), f"{spec.name}: batch of a fixed dim"
            assert list(entry.dims) == [d if isinstance(d, int) else -1 for d in shape]


def _identity_model(shapes: dict[str, list[int | str | None]], elem: int = TensorProto.FLOAT
                    ) -> onnx.ModelProto:
    nodes, inputs, outputs = [], [], []
    for index, (name, shape) in enumerate(shapes.items()):
        inputs.append(helper.make_tensor_value_info(name, elem, shape))
        outputs.append(helper.make_tensor_value_info(f"out{index}", elem, shape))
        nodes.append(helper.make_node("Identity", [name], [f"out{index}"]))
    graph = helper.make_graph(nodes, "identity", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, interlock.Artifact]]:
    """Every golden model saved in a local store and exported into one Triton repository."""
    base = tmp_path_factory.mktemp("triton-golden")
    saved = {}
    for name in GOLDEN:
        model = onnx.load_from_string(VECTORS.model_bytes(name))
        saved[name] = interlock.save_artifact(model, str(base / "store"), name=name, version="1")
        export_triton(saved[name], base / "repo")
    return base / "repo", saved


@pytest.fixture
def foreign_repo(tmp_path: Path) -> Path:
    """A repository as a Triton user has it: config.pbtxt and model.onnx, no manifest."""
    repo = tmp_path / "models"
    (repo / "mlp" / "3").mkdir(parents=True)
    (repo / "mlp" / "config.pbtxt").write_text(FOREIGN_CONFIG, encoding="utf-8")
    (repo / "mlp" / "3" / "model.onnx").write_bytes(VECTORS.model_bytes("mlp_float32"))
    (repo / "tf_model" / "1" / "model.savedmodel").mkdir(parents=True)
    (repo / "tf_model" / "config.pbtxt").write_text(
        'name: "tf_model"\nplatform: "tensorflow_savedmodel"\n', encoding="utf-8"
    )
    (repo / "no_config" / "1").mkdir(parents=True)
    (repo / "no_config" / "1" / "model.onnx").write_bytes(VECTORS.model_bytes("mlp_float32"))
    return repo


# -- config.pbtxt ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOLDEN)
def test_every_golden_config_parses_and_agrees_with_the_signature(
    golden: tuple[Path, dict[str, interlock.Artifact]], name: str
) -> None:
    repo, saved = golden
    config = _parse(repo / name / "config.pbtxt")
    assert config.max_batch_size == 32  # every golden model starts with the symbolic batch
    _check_config(config, name, saved[name].signature)
    assert sorted(os.listdir(repo / name)) == ["1", "config.pbtxt"]
    assert "TYPE_STRING" in (repo / "identity_string" / "config.pbtxt").read_text()


@pytest.mark.parametrize(
    ("shapes", "max_batch_size", "expected_batch", "expected_dims"),
    [
        ({"x": [2, 3]}, 32, 0, [[2, 3]]),  # fixed: full dims, no batching
        ({"x": ["batch", "seq"]}, 32, 32, [[-1]]),  # symbolic beyond the batch: -1
        ({"x": [None, 3]}, 16, 16, [[3]]),  # an unnamed first dimension batches too
        ({"a": ["n", 3], "b": ["m", 3]}, 32, 0, [[-1, 3], [-1, 3]]),  # two different firsts
        ({"x": ["batch", 3]}, 0, 0, [[-1, 3]]),  # --max-batch-size 0: full dims
        ({"x": []}, 32, 0, [[]]),  # a scalar
    ],
)
def test_dims_and_max_batch_size_follow_the_shapes(
    tmp_path: Path,
    shapes: dict[str, list[int | str | None]],
    max_batch_size: int,
    expected_batch: int,
    expected_dims: list[list[int]],
) -> None:
    artifact = interlock.save_artifact(
        _identity_model(shapes), str(tmp_path / "store"), name="m", version="1"
    )
    done = export_triton(artifact, tmp_path / "repo", max_batch_size=max_batch_size)
    config = _parse(done.model_dir / "config.pbtxt")
    assert config.max_batch_size == expected_batch
    assert [list(i.dims) for i in config.input] == expected_dims
    _check_config(config, "m", artifact.signature)
    store = interlock.open_store(f"triton://{tmp_path / 'repo'}")
    assert interlock.load_artifact("m:1", store).digest == artifact.digest


def test_external_data_is_exported_and_served(tmp_path: Path) -> None:
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    artifact = interlock.save_artifact(
        model, str(tmp_path / "store"), name="mlp", version="1", external_data=True
    )
    done = export_triton(artifact, tmp_path / "repo")
    assert sorted(os.listdir(done.version_dir)) == ["manifest.json", "model.onnx", "model.onnx.data"]
    _check_config(_parse(done.model_dir / "config.pbtxt"), "mlp", artifact.signature)
    loaded = interlock.load_artifact("mlp:1", f"triton://{tmp_path / 'repo'}")
    assert loaded.digest == artifact.digest
    inputs = VECTORS.inputs("mlp_float32")
    expected = interlock.load_predictor(artifact).infer(inputs)
    got = interlock.load_predictor(loaded).infer(inputs)
    assert all(np.array_equal(expected[k], got[k]) for k in expected)


# -- exported models through the store ------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp_float32", "identity_string", "add_int64", "identity_bool"])
def test_export_open_load_predict_equals_the_original(
    golden: tuple[Path, dict[str, interlock.Artifact]], name: str
) -> None:
    repo, saved = golden
    store = interlock.open_store(f"triton://{repo}")
    assert isinstance(store, TritonRepositoryStore)
    loaded = interlock.load_artifact(f"{name}:1", store)
    assert loaded.digest == saved[name].digest  # the manifest survived the round trip
    inputs = VECTORS.inputs(name)
    expected = interlock.load_predictor(saved[name]).infer(inputs)
    got = interlock.load_predictor(loaded).infer(inputs)
    assert expected.keys() == got.keys()
    for key in expected:
        assert np.array_equal(expected[key], got[key]), key


def test_the_store_lists_every_exported_model(
    golden: tuple[Path, dict[str, interlock.Artifact]]
) -> None:
    repo, _ = golden
    store = interlock.open_store(f"triton://{repo}")
    assert store.names() == GOLDEN
    assert all(store.versions(name) == ["1"] for name in GOLDEN)
    assert store.unsupported() == {}


def test_another_name_and_version_reseal_the_manifest(tmp_path: Path) -> None:
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    artifact = interlock.save_artifact(model, str(tmp_path / "store"), name="mlp", version="1.2.0")
    with pytest.raises(ArtifactError, match="not a Triton version") as caught:
        export_triton(artifact, tmp_path / "repo")
    assert "version=N" in str(caught.value)
    assert not (tmp_path / "repo").exists(), "a refused export left the repository behind"
    done = export_triton(artifact, tmp_path / "repo", name="scorer", version=7)
    loaded = interlock.load_artifact("scorer:7", f"triton://{tmp_path / 'repo'}")
    assert (loaded.name, loaded.version) == ("scorer", "7")
    assert loaded.manifest.metadata["triton"] == {"source": artifact.ref}
    assert loaded.manifest.files == artifact.manifest.files  # every file's sha256 survives
    assert loaded.digest == done.manifest.digest != artifact.digest


def test_existing_versions_and_configs_are_refused_unless_overwrite(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    first = interlock.save_artifact(model, store, name="mlp", version="1")
    export_triton(first, tmp_path / "repo")
    version_dir = tmp_path / "repo" / "mlp" / "1"
    before = {p.name: p.read_bytes() for p in version_dir.iterdir()}
    with pytest.raises(ArtifactExistsError, match="already exists"):
        export_triton(first, tmp_path / "repo")
    assert {p.name: p.read_bytes() for p in version_dir.iterdir()} == before
    other = interlock.save_artifact(_identity_model({"x": ["batch", 4]}), store, name="o", version="2")
    with pytest.raises(ArtifactExistsError, match="config.pbtxt"):
        export_triton(other, tmp_path / "repo", name="mlp")  # one config for every version
    assert not (tmp_path / "repo" / "mlp" / "2").exists()
    second = interlock.save_artifact(model, store, name="mlp", version="2", metadata={"n": 2})
    export_triton(second, tmp_path / "repo", version=1, overwrite=True)
    assert interlock.load_artifact("mlp:1", f"triton://{tmp_path / 'repo'}").manifest.metadata == {
        "n": 2, "triton": {"source": second.ref}}
    leftovers = [p.name for p in (tmp_path / "repo" / "mlp").iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"staging left behind: {leftovers}"


# -- models Triton users made -------------------------------------------------------------------------


@requirement("ART-102")
def test_a_foreign_model_gets_a_derived_manifest(foreign_repo: Path, tmp_path: Path) -> None:
    store = interlock.open_store(f"triton://{foreign_repo}")
    artifact = interlock.load_artifact("mlp", store)
    manifest = artifact.manifest
    assert (manifest.name, manifest.version) == ("mlp", "3")
    assert [(t.name, t.shape) for t in manifest.signature.inputs] == [("x", ["batch", 4])]
    assert [f.path for f in manifest.files] == ["model.onnx"]
    assert manifest.metadata["triton"]["config"]["max_batch_size"] == 8
    assert store.list_files("mlp", "3") == ["manifest.json", "model.onnx"]
    # the same bytes elsewhere, later, with other timestamps: the same digest
    copy = tmp_path / "copy"
    shutil.copytree(foreign_repo, copy, copy_function=shutil.copy)
    os.utime(copy / "mlp" / "3" / "model.onnx", (0, 0))
    again = interlock.load_artifact(f"mlp@{artifact.digest}", f"triton://{copy}")
    assert again.digest == artifact.digest
    expected = VECTORS.outputs("mlp_float32")
    got = interlock.load_predictor(artifact).infer(VECTORS.inputs("mlp_float32"))
    assert np.allclose(got["logits"], expected["logits"], atol=1e-5)


@requirement("ART-102")
@pytest.mark.parametrize(
    "config",
    ['backend: "onnxruntime"\n',
     'platform: "onnxruntime_onnx"\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 4 ] } ]',
     'name: "mlp"\nsome_future_field: 3\n'],  # no platform: Triton goes by model.onnx
)
def test_a_config_without_tensors_takes_the_graphs(foreign_repo: Path, config: str) -> None:
    (foreign_repo / "mlp" / "config.pbtxt").write_text(config)
    artifact = interlock.load_artifact("mlp:3", f"triton://{foreign_repo}")
    graph = Signature.from_onnx(onnx.load_from_string(VECTORS.model_bytes("mlp_float32")))
    assert artifact.signature == graph


@requirement("ART-102")
def test_a_foreign_model_with_external_data(foreign_repo: Path) -> None:
    """A Triton user's model whose weights are in a file of its own name loads with them;
    a location outside the version directory is refused."""
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    version = foreign_repo / "mlp" / "3"
    onnx.save(model, version / "model.onnx", save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    artifact = interlock.load_artifact("mlp:3", f"triton://{foreign_repo}")
    assert sorted(f.path for f in artifact.manifest.files) == ["model.onnx", "weights.bin"]
    got = interlock.load_predictor(artifact).infer(VECTORS.inputs("mlp_float32"))
    assert np.allclose(got["logits"], VECTORS.outputs("mlp_float32")["logits"], atol=1e-5)
    escaping = onnx.load(version / "model.onnx", load_external_data=False)
    for tensor in escaping.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../../outside.bin"
    (version / "model.onnx").write_bytes(escaping.SerializeToString())
    with pytest.raises(ArtifactIntegrityError, match="outside.bin"):
        interlock.load_artifact("mlp:3", f"triton://{foreign_repo}")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (FOREIGN_CONFIG.replace("TYPE_FP32, dims: [ 4 ]", "TYPE_INT64, dims: [ 4 ]"),
         "data_type TYPE_INT64"),
        (FOREIGN_CONFIG.replace("dims: [ 4 ]", "dims: [ 5 ]"), "dimension 1 is 5"),
        (FOREIGN_CONFIG.replace("dims: [ 4 ]", "dims: [ 2, 4 ]"), "3 dimensions"),
        (FOREIGN_CONFIG.replace('name: "x"', 'name: "input"'), "lists the inputs ['input']"),
        ("max_batch_size: [", "not a Triton model configuration"),
    ],
)
def test_a_config_that_contradicts_the_graph_is_refused(
    foreign_repo: Path, config: str, message: str
) -> None:
    (foreign_repo / "mlp" / "config.pbtxt").write_text(config)
    with pytest.raises(ArtifactError, match="mlp") as caught:
        interlock.load_artifact("mlp:3", f"triton://{foreign_repo}")
    assert message in str(caught.value)


@requirement("ART-103")
def test_other_platforms_are_not_listed_and_say_why(foreign_repo: Path) -> None:
    store = interlock.open_store(f"triton://{foreign_repo}")
    assert store.names() == ["mlp"]
    assert store.versions("tf_model") == []
    (foreign_repo / "bad name").mkdir()
    assert sorted(store.unsupported()) == ["bad name", "no_config", "tf_model"]
    assert "tensorflow_savedmodel" in store.unsupported()["tf_model"]
    assert "no config.pbtxt" in store.unsupported()["no_config"]
    with pytest.raises(ArtifactNotFoundError, match="tensorflow_savedmodel") as caught:
        interlock.load_artifact("tf_model:1", store)
    assert "ONNX" in str(caught.value)


def test_a_foreign_repository_is_served_and_batch_scored(foreign_repo: Path, tmp_path: Path) -> None:
    """The real REST server answers a request for the Triton user's model, and
    predict_dataset scores a Parquet file with it."""
    from interlock.serving.oip.client import RestClient

    x = VECTORS.inputs("mlp_float32")["x"]
    expected = VECTORS.outputs("mlp_float32")["logits"]
    root = f"triton://{foreign_repo}"
    with interlock.serve(["mlp"], store=root, servers={"rest": 0}, block=False) as running:
        with RestClient(running.url("rest")) as client:
            outputs = client.infer("mlp", {"x": x})
            metadata = client.metadata("mlp")
    assert np.allclose(outputs["logits"], expected, atol=1e-5)
    assert metadata["versions"] == ["3"]
    source = tmp_path / "x.parquet"
    pq.write_table(pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 4)}),
                   source)
    summary = interlock.predict_dataset(str(source), "mlp:3", str(tmp_path / "out.parquet"),
                                        store=root)
    assert summary["rows"] == len(x)
    scored = np.stack(pq.read_table(tmp_path / "out.parquet")["logits"].to_numpy(
        zero_copy_only=False))
    assert np.allclose(scored, expected, atol=1e-5)


def test_a_repository_root_is_served_as_a_source(foreign_repo: Path) -> None:
    """`interlock serve triton:///repo`: the store root itself is a source (every model and
    version in it), as a store root of any other scheme is."""
    from interlock.serving.oip.client import RestClient

    x = VECTORS.inputs("mlp_float32")["x"]
    with interlock.serve([f"triton://{foreign_repo}"], servers={"rest": 0}, block=False) as running:
        with RestClient(running.url("rest")) as client:
            outputs = client.infer("mlp", {"x": x})
    assert np.allclose(outputs["logits"], VECTORS.outputs("mlp_float32")["logits"], atol=1e-5)


# -- refusals --------------------------------------------------------------------------------------------


def test_tampered_files_are_refused(
    golden: tuple[Path, dict[str, interlock.Artifact]], foreign_repo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(golden[0] / "mlp_float32", repo / "mlp_float32")
    model = repo / "mlp_float32" / "1" / "model.onnx"
    data = model.read_bytes()
    model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ArtifactIntegrityError, match="model.onnx"):
        interlock.load_artifact("mlp_float32:1", f"triton://{repo}")
    # a foreign model: reads after the first are checked against what was first read, and a
    # content address pins the bytes for any later store
    store = interlock.open_store(f"triton://{foreign_repo}")
    pinned = interlock.load_artifact("mlp:3", store).ref
    foreign = foreign_repo / "mlp" / "3" / "model.onnx"
    data = foreign.read_bytes()
    foreign.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ArtifactIntegrityError, match="model.onnx"):
        interlock.load_artifact("mlp:3", store)
    with pytest.raises(ArtifactNotFoundError, match="digest"):
        interlock.load_artifact(pinned, f"triton://{foreign_repo}")


def test_a_manifest_under_another_name_is_refused(
    golden: tuple[Path, dict[str, interlock.Artifact]], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(golden[0] / "mlp_float32", repo / "renamed")
    with pytest.raises(ArtifactIntegrityError, match="manifest of mlp_float32:1"):
        interlock.load_artifact("renamed:1", f"triton://{repo}")


@requirement("ART-100")
def test_publishing_is_refused(foreign_repo: Path) -> None:
    store = interlock.open_store(f"triton://{foreign_repo}")
    before = sorted(str(p) for p in foreign_repo.rglob("*"))
    with pytest.raises(ReadOnlyStoreError, match="read-only") as caught:
        interlock.save_artifact(_identity_model({"x": [1]}), store, name="new", version="1")
    assert "export-triton" in str(caught.value)
    assert sorted(str(p) for p in foreign_repo.rglob("*")) == before


@requirement("ART-104")
def test_nothing_outside_the_repository_is_read(foreign_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(foreign_repo / "mlp", outside / "mlp")
    os.symlink(outside / "mlp", foreign_repo / "linked")  # a model directory
    os.symlink(outside / "mlp" / "3", foreign_repo / "mlp" / "4")  # a version directory
    os.symlink(outside / "mlp" / "3" / "model.onnx", foreign_repo / "mlp" / "3" / "extra.onnx")
    store = interlock.open_store(f"triton://{foreign_repo}")
    assert store.names() == ["mlp"]
    assert store.versions("mlp") == ["3"]
    with pytest.raises(ArtifactIntegrityError, match="symbolic link"):
        interlock.load_artifact("mlp:3", store)
    with pytest.raises(ArtifactIntegrityError, match="symbolic link"):
        interlock.load_artifact("linked:3", store)
    with pytest.raises(ArtifactNotFoundError, match="versions: 3"):
        interlock.load_artifact("mlp:4", store)  # not listed, not followed
    with pytest.raises(ArtifactIntegrityError, match="symbolic link"):
        store.list_files("mlp", "4")
    for name, version, path in (("..", "3", "model.onnx"), ("mlp", "..", "model.onnx"),
                                ("mlp", "3", "../config.pbtxt"), ("mlp", "3", "/etc/passwd")):
        with pytest.raises((ArtifactNotFoundError, ArtifactIntegrityError)):
            store.read(name, version, path)


def test_store_roots_are_triton_uris() -> None:
    with pytest.raises(ArtifactError, match="not a Triton repository URI"):
        TritonRepositoryStore("/srv/models", None)
    with pytest.raises(ArtifactError, match="storage_options"):
        TritonRepositoryStore("triton:///srv/models", {"anon": True})
    assert interlock.open_store("triton:///nowhere").names() == []


# -- the command line ------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interlock.cli", "artifact", "export-triton", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_command_exports_and_its_errors_are_one_line(tmp_path: Path) -> None:
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    store = str(tmp_path / "store")
    interlock.save_artifact(model, store, name="mlp", version="1")
    interlock.save_artifact(model, store, name="semver", version="1.2.0")
    done = _cli("mlp:1", "repo", "--store", store, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert (printed["name"], printed["version"]) == ("mlp", 1)
    _check_config(_parse(tmp_path / "repo" / "mlp" / "config.pbtxt"), "mlp",
                  interlock.load_artifact("mlp:1", store).signature)
    (tmp_path / "a-file").write_text("not a directory")
    snapshot = sorted(str(p) for p in tmp_path.rglob("*"))
    cases = [
        (("nothing:1", "repo", "--store", store), 1, "no artifact named 'nothing'"),
        (("mlp:1", "repo", "--store", store), 1, "--overwrite"),
        (("semver:1.2.0", "repo", "--store", store), 1, "--version N"),
        (("mlp:1", "repo", "--store", store, "--version", "0"), 2, "--version"),
        (("mlp:1", "repo", "--store", store, "--version", "x"), 2, "--version"),
        (("mlp:1", "a-file", "--store", store), 1, "is a file"),
    ]
    for args, code, words in cases:
        done = _cli(*args, cwd=tmp_path)
        where = " ".join(args)
        assert done.returncode == code, f"{where}: {done.returncode} {done.stderr}"
        assert words in done.stderr, f"{where}: {done.stderr}"
        assert "Traceback" not in done.stderr, f"{where}: {done.stderr}"
        if code == 1:
            assert len(done.stderr.strip().splitlines()) == 1, f"{where}: {done.stderr}"
    assert sorted(str(p) for p in tmp_path.rglob("*")) == snapshot, "a failed export left files"


def test_staging_directories_are_invisible(tmp_path: Path) -> None:
    """What an export killed midway leaves (a staging directory, a temporary config) is not a
    version to Triton (not a number) nor to the store."""
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    artifact = interlock.save_artifact(model, str(tmp_path / "store"), name="mlp", version="1")
    done = export_triton(artifact, tmp_path / "repo")
    shutil.copytree(done.version_dir, done.model_dir / ".interlock-staging-0123")
    (done.model_dir / ".interlock-staging-0123" / "model.onnx").write_bytes(b"half written")
    (done.model_dir / ".interlock-staging-4567.pbtxt").write_text("name: ")
    store = interlock.open_store(f"triton://{tmp_path / 'repo'}")
    assert store.versions("mlp") == ["1"]
    assert interlock.load_artifact("mlp", store).digest == artifact.digest


@requirement("ART-101")
def test_populate_by_default_publishes_into_the_store(tmp_path: Path) -> None:
    """A writable store's populate is its publish: the reference store keeps the digests."""
    model = onnx.load_from_string(VECTORS.model_bytes("mlp_float32"))
    saved = interlock.save_artifact(model, str(tmp_path / "source"), name="mlp", version="1.0")
    fsspec_store = interlock.get_registry().get("artifact_store", "fsspec")
    root = fsspec_store.populate(tmp_path / "populated", [saved])
    assert interlock.load_artifact("mlp:1.0", root).digest == saved.digest


def test_a_served_triton_model_is_certified_by_address(
    foreign_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """interlock serving a Triton user's model passes the protocol's certification."""
    from interlock.cli import main
    from interlock_conformance import read_report

    out = tmp_path / "cert"
    with interlock.serve(["mlp"], store=f"triton://{foreign_repo}", servers={"rest": 0},
                         block=False) as running:
        try:
            main(["certify", "--server", running.url("rest"), "--model", "mlp",
                  "--output", str(out)])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    report = read_report(out / "report.json")
    assert code == 0, [(r.id, r.failures) for r in report.failed()]
    assert report.verdict == "certified"
    assert capsys.readouterr().out.startswith("certified: http://")
