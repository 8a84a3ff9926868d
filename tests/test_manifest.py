"""The manifest model, its canonical digest and its path rules (interlock.artifacts._manifest)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import interlock
from interlock.artifacts import check_relative_path, compute_digest, parse_manifest
from interlock_conformance import requirement


def _fields() -> dict[str, Any]:
    return {
        "spec_version": "1",
        "name": "iris",
        "version": "1.0",
        "format": "onnx",
        "onnx": {"ir_version": 9, "opsets": {"": 17}, "model_file": "model.onnx"},
        "files": [{"path": "model.onnx", "sha256": "a" * 64, "size": 10}],
        "signature": {
            "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}],
            "outputs": [{"name": "y", "dtype": "int64", "shape": ["batch"]}],
        },
        "columns": {
            "inputs": [{"tensor": "x", "columns": ["a", "b", "c", "d"]}],
            "outputs": [{"tensor": "y", "column": "label"}],
        },
        "producer": {"name": "test", "version": "0", "component": None},
        "lineage": [],
        "metadata": {"note": "café", "score": 0.5},
        "created_at": "2024-05-01T12:00:00Z",
    }


def _sealed(fields: dict[str, Any]) -> bytes:
    return json.dumps({**fields, "digest": compute_digest(fields)}).encode()


@requirement("ART-030")
def test_digest_is_sha256_of_canonical_json_without_digest() -> None:
    fields = {"b": [1, 2.5, None, True], "a": {"é": "x", "A": 1}, "digest": "ignored"}
    canonical = '{"a":{"A":1,"é":"x"},"b":[1,2.5,null,true]}'.encode()
    assert compute_digest(fields) == "sha256:" + hashlib.sha256(canonical).hexdigest()


# The worked example of specs/v1/artifact.md (ART-032): same input, same canonical bytes.
SPEC_EXAMPLE = (
    r'{"digest": "sha256:0000", "b": [1, 2.5, null, true], "a": {"é": "x", "A": 1}, '
    r'"c": "tab\there \"q\" \\ \u0001", "d": [1e16, 1.5E-5, 0.0001, -0.0, 1e2, -0]}'
)
SPEC_CANONICAL = (
    r'{"a":{"A":1,"é":"x"},"b":[1,2.5,null,true],"c":"tab\there \"q\" \\ \u0001",'
    r'"d":[1e+16,1.5e-05,0.0001,-0.0,100.0,0]}'
)
SPEC_DIGEST = "sha256:3e70909d742a5ab0a9ef5f657f167e795483f3ea3e93ca744c553b42fa6e1f77"


@requirement("ART-032")
def test_spec_worked_example() -> None:
    spec = (Path(__file__).resolve().parent.parent / "specs" / "v1" / "artifact.md").read_text()
    assert SPEC_EXAMPLE in spec and SPEC_CANONICAL in spec and SPEC_DIGEST in spec
    assert "sha256:" + hashlib.sha256(SPEC_CANONICAL.encode()).hexdigest() == SPEC_DIGEST
    assert compute_digest(json.loads(SPEC_EXAMPLE)) == SPEC_DIGEST


@requirement("ART-031")
def test_digest_refuses_values_json_cannot_hold() -> None:
    with pytest.raises(ValueError):
        compute_digest({"x": float("nan")})


def test_parse_round_trip_and_ref() -> None:
    manifest = parse_manifest(_sealed(_fields()), where="m.json")
    assert manifest.ref == f"iris@{manifest.digest}"
    assert manifest.expected_digest() == manifest.digest
    # What the model writes parses back to the same digest.
    assert parse_manifest(manifest.to_json_bytes(), where="again").digest == manifest.digest


@requirement("ART-030")
def test_digest_does_not_depend_on_key_order_or_whitespace() -> None:
    fields = _fields()
    sealed = json.loads(_sealed(fields))
    reordered = json.dumps(dict(reversed(list(sealed.items()))), indent=4).encode()
    assert parse_manifest(reordered, where="m.json").digest == sealed["digest"]


@requirement("ART-033")
def test_modified_manifest_is_refused() -> None:
    sealed = json.loads(_sealed(_fields()))
    sealed["metadata"]["note"] = "changed"
    with pytest.raises(interlock.ArtifactIntegrityError, match="m.json was modified"):
        parse_manifest(json.dumps(sealed).encode(), where="m.json")
    # Without the digest check (listing) the same bytes parse.
    parse_manifest(json.dumps(sealed).encode(), where="m.json", check_digest=False)


@requirement("ART-010", "ART-040")
def test_unknown_field_is_named() -> None:
    fields = _fields()
    fields["files"][0]["mode"] = "0644"
    with pytest.raises(interlock.ArtifactIntegrityError, match=r"unknown field 'files.0.mode'"):
        parse_manifest(_sealed(fields), where="m.json")


@requirement("ART-012")
def test_other_format_is_refused_clearly() -> None:
    fields = {**_fields(), "format": "pickle"}
    with pytest.raises(interlock.ArtifactIntegrityError, match="format 'pickle'") as info:
        parse_manifest(_sealed(fields), where="m.json")
    assert "ONNX" in str(info.value)


@requirement("ART-011")
def test_newer_spec_version_says_upgrade() -> None:
    fields = {**_fields(), "spec_version": "2"}
    with pytest.raises(interlock.ArtifactIntegrityError, match="spec_version '2'") as info:
        parse_manifest(_sealed(fields), where="m.json")
    assert "upgrade" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
@requirement("ART-022", "ART-040")
def test_malformed_json_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(interlock.ArtifactIntegrityError, match=message):
        parse_manifest(data, where="m.json")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a\\b", "a//b", "./a", "C:x", "a/\x01"])
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        check_relative_path(path)
    fields = _fields()
    fields["files"].append({"path": path, "sha256": "b" * 64, "size": 1})
    with pytest.raises(interlock.ArtifactIntegrityError, match="files.1.path"):
        parse_manifest(_sealed(fields), where="m.json")


def test_nested_relative_paths_are_allowed() -> None:
    assert check_relative_path("card/README.md") == "card/README.md"


@requirement("ART-021")
def test_created_at_needs_a_utc_offset() -> None:
    fields = {**_fields(), "created_at": "2024-05-01T12:00:00"}
    with pytest.raises(interlock.ArtifactIntegrityError, match="created_at"):
        parse_manifest(_sealed(fields), where="m.json")


@requirement("ART-017")
def test_column_mapping_must_bind_every_tensor() -> None:
    fields = _fields()
    fields["columns"]["outputs"] = []
    with pytest.raises(interlock.ArtifactIntegrityError, match="column mapping binds output"):
        parse_manifest(_sealed(fields), where="m.json")


@requirement("ART-015")
def test_model_file_must_be_listed_once() -> None:
    fields = _fields()
    fields["files"] = [{"path": "weights.bin", "sha256": "a" * 64, "size": 1}]
    with pytest.raises(interlock.ArtifactIntegrityError, match="must list 'model.onnx'"):
        parse_manifest(_sealed(fields), where="m.json")


def test_a_listed_file_cannot_also_be_a_directory() -> None:
    fields = _fields()
    fields["files"] += [
        {"path": "notes", "sha256": "b" * 64, "size": 1},
        {"path": "notes/today.txt", "sha256": "c" * 64, "size": 1},
    ]
    with pytest.raises(interlock.ArtifactIntegrityError, match="inside the file 'notes'"):
        parse_manifest(_sealed(fields), where="m.json")


@requirement("ART-040")
def test_a_manifest_nested_too_deep_is_refused_not_a_crash() -> None:
    """JSON nested 100,000 levels deep (found by fuzzing) is an ArtifactIntegrityError, never
    a RecursionError."""
    deep = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    with pytest.raises(interlock.ArtifactIntegrityError, match="nested too deep"):
        parse_manifest(deep, where="memory://deep/manifest.json")
