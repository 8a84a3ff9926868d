"""Every way an artifact can be damaged or malicious is refused by name (spec ART-040...)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import interlock
from interlock import ArtifactIntegrityError, ArtifactNotFoundError
from interlock.artifacts import compute_digest
from interlock_conformance import requirement


def make_model(external_location: str | None = None, offset: int = 0) -> onnx.ModelProto:
    """y = x + w with w: float32[16]; optionally w's data is external at ``external_location``."""
    weight = numpy_helper.from_array(np.arange(16, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    if external_location is not None:
        tensor = model.graph.initializer[0]
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", external_location),
            ("offset", str(offset)),
            ("length", "64"),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return model


WEIGHTS = np.arange(16, dtype=np.float32).tobytes()


def forge(
    directory: str,
    files: dict[str, bytes],
    *,
    listed: dict[str, bytes] | None = None,
    fs: Any = None,
    **overrides: Any,
) -> None:
    """Write an artifact by hand: ``files`` on disk, ``listed`` (default: the same) in a
    manifest whose digest is correct, so that only the defect under test is wrong."""
    fs = fs or fsspec.filesystem("file")
    for path, data in files.items():
        fs.makedirs(f"{directory}/{path}".rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(f"{directory}/{path}", data)
    entries = [
        {"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for p, d in (files if listed is None else listed).items()
    ]
    fields: dict[str, Any] = {
        "spec_version": "1",
        "name": "forged",
        "version": "1",
        "format": "onnx",
        "onnx": {"ir_version": 9, "opsets": {"": 17}, "model_file": "model.onnx"},
        "files": entries,
        "signature": {
            "inputs": [{"name": "x", "dtype": "float32", "shape": [16]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [16]}],
        },
        "columns": {
            "inputs": [{"tensor": "x", "columns": ["x"]}],
            "outputs": [{"tensor": "y", "column": "y"}],
        },
        "producer": {"name": "test", "version": "0", "component": None},
        "lineage": [],
        "metadata": {},
        "created_at": "2024-05-01T12:00:00Z",
        **overrides,
    }
    fields["digest"] = compute_digest(fields)
    fs.pipe_file(f"{directory}/manifest.json", json.dumps(fields, indent=1).encode())


def good_files() -> dict[str, bytes]:
    return {"model.onnx": make_model().SerializeToString(), "README.md": b"hello"}


@pytest.fixture(params=["local", "memory"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    """An artifact directory URI and its filesystem, on local disk and in memory."""
    if request.param == "local":
        return str(tmp_path / "art"), fsspec.filesystem("file")
    return f"memory://integrity-{uuid.uuid4().hex}/art", fsspec.filesystem("memory")


@requirement("ART-001")
def test_forged_good_artifact_loads(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs)
    artifact = interlock.load_artifact(uri)
    assert artifact.read_bytes("README.md") == b"hello"


def test_tampered_file_is_refused(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs)
    fs.pipe_file(f"{uri}/README.md", b"HELLO")
    with pytest.raises(
        ArtifactIntegrityError, match=r"README.md does not match its sha256"
    ) as info:
        interlock.load_artifact(uri)
    assert info.value.hint


def test_truncated_file_is_refused(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs)
    fs.pipe_file(f"{uri}/README.md", b"hell")
    with pytest.raises(
        ArtifactIntegrityError, match=r"README.md has 4 bytes but the manifest says 5"
    ):
        interlock.load_artifact(uri)


def test_missing_file_is_refused(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs)
    fs.rm(f"{uri}/README.md")
    with pytest.raises(
        ArtifactIntegrityError, match=r"README.md is listed in the manifest but missing"
    ):
        interlock.load_artifact(uri)


@requirement("ART-001")
def test_extra_unlisted_file_is_refused(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs)
    fs.makedirs(f"{uri}/sub", exist_ok=True)
    fs.pipe_file(f"{uri}/sub/payload.py", b"import os")
    with pytest.raises(
        ArtifactIntegrityError, match=r"sub/payload.py is not listed in the manifest"
    ):
        interlock.load_artifact(uri)


@pytest.mark.parametrize("bad_path", ["../outside.txt", "/etc/passwd", "dir\\file.txt"])
def test_unsafe_manifest_path_is_refused(place: tuple[str, Any], bad_path: str) -> None:
    uri, fs = place
    listed = {**good_files(), bad_path: b"x"}
    forge(uri, good_files(), listed=listed, fs=fs)
    with pytest.raises(ArtifactIntegrityError, match=r"files.2.path") as info:
        interlock.load_artifact(uri)
    assert bad_path.replace("\\", "\\\\") in str(info.value)


@requirement("ART-045", "ART-051", "ART-053")
def test_external_data_leaving_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(WEIGHTS)  # what an attacker wants read, beside the artifact
    uri = str(tmp_path / "art")
    forge(uri, {"model.onnx": make_model("../x").SerializeToString()})
    with pytest.raises(ArtifactIntegrityError, match=r"tensor 'w' keeps its data in '../x'"):
        interlock.load_artifact(uri)
    # Loading without verification still never follows the location.
    unverified = interlock.load_artifact(uri, verify=False)
    for load_data in (True, False):
        with pytest.raises(ArtifactIntegrityError, match=r"'../x', which leaves the artifact"):
            unverified.onnx_model(load_external_data=load_data)


@pytest.mark.parametrize("location", ["/etc/passwd", "sub/../../x", "C:\\x"])
@requirement("ART-045", "ART-051")
def test_other_escaping_locations_are_refused(tmp_path: Path, location: str) -> None:
    uri = str(tmp_path / "art")
    forge(uri, {"model.onnx": make_model(location).SerializeToString()})
    with pytest.raises(ArtifactIntegrityError, match="which leaves the artifact"):
        interlock.load_artifact(uri)


@requirement("ART-045", "ART-052")
def test_external_data_must_be_a_listed_file(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, {"model.onnx": make_model("weights.bin").SerializeToString()}, fs=fs)
    with pytest.raises(ArtifactIntegrityError, match="'weights.bin', which is not a data file"):
        interlock.load_artifact(uri)


@requirement("ART-045", "ART-052")
def test_external_data_must_fit_in_its_file(place: tuple[str, Any]) -> None:
    uri, fs = place
    files = {"model.onnx": make_model("w.bin", offset=8).SerializeToString(), "w.bin": WEIGHTS}
    forge(uri, files, fs=fs)
    with pytest.raises(ArtifactIntegrityError, match=r"reads past its end \(64 bytes\)"):
        interlock.load_artifact(uri)


@requirement("ART-053")
def test_listed_external_data_loads_from_verified_bytes(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, {"model.onnx": make_model("w.bin").SerializeToString(), "w.bin": WEIGHTS}, fs=fs)
    artifact = interlock.load_artifact(uri)
    model = artifact.onnx_model()
    assert numpy_helper.to_array(model.graph.initializer[0]).tolist() == list(range(16))
    lazy = artifact.onnx_model(load_external_data=False)
    assert lazy.graph.initializer[0].data_location == TensorProto.EXTERNAL
    # bytes changed after loading are caught when read
    fs.pipe_file(f"{uri}/w.bin", WEIGHTS[::-1])
    with pytest.raises(ArtifactIntegrityError, match="w.bin does not match its sha256"):
        artifact.onnx_model()


@requirement("ART-004", "ART-044")
def test_symlinks_are_refused(tmp_path: Path) -> None:
    uri = tmp_path / "art"
    forge(str(uri), good_files())
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    os.symlink(secret, uri / "link.txt")
    with pytest.raises(ArtifactIntegrityError, match=r"link.txt is a symbolic link"):
        interlock.load_artifact(str(uri))
    (uri / "link.txt").unlink()
    (uri / "README.md").unlink()
    os.symlink(secret, uri / "README.md")  # a listed file replaced by a link
    with pytest.raises(ArtifactIntegrityError, match=r"README.md is a symbolic link"):
        interlock.load_artifact(str(uri))
    (uri / "README.md").unlink()
    (uri / "README.md").write_bytes(b"hello")
    os.symlink(tmp_path, uri / "sub")  # a linked directory
    with pytest.raises(ArtifactIntegrityError, match=r"sub is a symbolic link"):
        interlock.load_artifact(str(uri))


@requirement("ART-004", "ART-044")
def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    uri = tmp_path / "art"
    forge(str(uri), good_files())
    os.mkfifo(uri / "pipe")
    with pytest.raises(ArtifactIntegrityError, match="pipe is not a regular file"):
        interlock.load_artifact(str(uri))


@requirement("ART-010", "ART-040")
def test_unknown_manifest_field_is_named(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs, signed_by="mallory")
    with pytest.raises(ArtifactIntegrityError, match="unknown field 'signed_by'"):
        interlock.load_artifact(uri)


@requirement("ART-012", "ART-040")
def test_other_format_is_refused(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs, format="pickle")
    with pytest.raises(ArtifactIntegrityError, match="format 'pickle'.*ONNX models only"):
        interlock.load_artifact(uri)


@requirement("ART-033")
def test_tampered_manifest_is_refused(place: tuple[str, Any]) -> None:
    uri, fs = place
    forge(uri, good_files(), fs=fs)
    manifest = json.loads(fs.cat_file(f"{uri}/manifest.json"))
    manifest["metadata"] = {"approved": True}
    fs.pipe_file(f"{uri}/manifest.json", json.dumps(manifest).encode())
    with pytest.raises(ArtifactIntegrityError, match="manifest.json was modified"):
        interlock.load_artifact(uri)


@requirement("ART-001")
def test_directory_without_manifest_is_not_an_artifact(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "model.onnx").write_bytes(make_model().SerializeToString())
    with pytest.raises(ArtifactNotFoundError, match="holds no manifest.json"):
        interlock.load_artifact(str(tmp_path / "art"))


@requirement("ART-046")
def test_verify_false_skips_hashing_but_reads_stay_checked(tmp_path: Path) -> None:
    uri = str(tmp_path / "art")
    forge(uri, good_files())
    (tmp_path / "art" / "README.md").write_bytes(b"HELLO")
    artifact = interlock.load_artifact(uri, verify=False)
    with pytest.raises(ArtifactIntegrityError, match="README.md does not match"):
        artifact.read_bytes("README.md")


def test_tampering_inside_a_store_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    saved = interlock.save_artifact(make_model(), str(root), name="m", version="1")
    (root / "m" / "1" / "model.onnx").write_bytes(b"\0" * saved.manifest.files[0].size)
    with pytest.raises(ArtifactIntegrityError, match=r"m/1/model.onnx does not match"):
        interlock.load_artifact("m:1", str(root))
    with pytest.raises(ArtifactIntegrityError, match=r"m/1/model.onnx does not match"):
        interlock.load_artifact(saved.ref, str(root))
