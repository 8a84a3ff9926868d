"""The golden vectors in specs/v1/vectors: current, checksummed, small, and correct."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pyarrow as pa
import pytest
from onnx.reference import ReferenceEvaluator

from interlock_conformance import load_vector_index, requirement, vectors_dir
from interlock_conformance.vectors import VectorError, outputs_mismatch

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "specs" / "v1" / "vectors"
STALE = "the golden vectors are stale: run python scripts/generate_vectors.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_vectors", ROOT / "scripts" / "generate_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


@pytest.fixture(scope="module")
def generated() -> dict[str, bytes]:
    files: dict[str, bytes] = SCRIPT.build()
    return files


def _committed() -> dict[str, bytes]:
    return {
        path.relative_to(VECTORS).as_posix(): path.read_bytes()
        for path in sorted(VECTORS.rglob("*"))
        if path.is_file()
    }


@requirement("CONF-040")
def test_committed_vectors_are_what_the_script_generates(generated: dict[str, bytes]) -> None:
    committed = _committed()
    assert sorted(committed) == sorted(generated), STALE
    changed = [path for path, data in generated.items() if committed[path] != data]
    assert not changed, f"{STALE} (differs: {', '.join(changed[:5])})"


@requirement("CONF-040")
def test_generation_is_deterministic(generated: dict[str, bytes]) -> None:
    assert SCRIPT.build() == generated


@requirement("CONF-041")
def test_checksums_list_every_other_file_and_match() -> None:
    lines = (VECTORS / "CHECKSUMS.sha256").read_text(encoding="ascii").splitlines()
    listed = {path: digest for digest, path in (line.split("  ", 1) for line in lines)}
    files = _committed()
    assert sorted(listed) == sorted(p for p in files if p != "CHECKSUMS.sha256")
    for path, digest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest, path


def test_the_spec_records_the_checksums_digest() -> None:
    digest = hashlib.sha256((VECTORS / "CHECKSUMS.sha256").read_bytes()).hexdigest()
    spec = (ROOT / "specs" / "v1" / "conformance.md").read_text(encoding="utf-8")
    assert f"`CHECKSUMS.sha256` has SHA-256 `{digest}`." in spec, STALE


@requirement("CONF-044")
def test_vectors_stay_small() -> None:
    total = sum(len(data) for data in _committed().values())
    assert total < 1024 * 1024, f"the vectors hold {total} bytes; keep them under 1 MiB"


def test_the_suite_reads_the_repository_vectors() -> None:
    assert vectors_dir().resolve() == VECTORS.resolve()


@requirement("CONF-041")
def test_a_modified_vector_is_refused(tmp_path: Path) -> None:
    for path, data in _committed().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    index = load_vector_index(tmp_path)
    victim = tmp_path / index.datasets["unicode"].file
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(VectorError) as caught:
        index.table("unicode")
    assert "unicode.arrow" in str(caught.value)
    assert caught.value.hint and "generate_vectors.py" in caught.value.hint


def test_dataset_vectors_hold_what_the_index_describes() -> None:
    index = load_vector_index()
    assert {
        "primitives",
        "all_nulls",
        "unicode",
        "nested",
        "dictionary",
        "decimal",
        "temporal",
        "timestamp_tz",
        "large",
        "binary",
        "empty",
        "zero_row_batches",
    } <= set(index.datasets)
    for name, vector in index.datasets.items():
        batches = index.batches(name)
        table = index.table(name)
        assert [b.num_rows for b in batches] == vector.batch_rows, name
        assert table.num_rows == vector.num_rows, name
        for column in vector.columns:
            field = table.schema.field(column.name)
            assert str(field.type) == column.type, (name, column.name)
            assert table.column(column.name).null_count == column.null_count, (name, column.name)
    assert 0 in index.datasets["zero_row_batches"].batch_rows
    assert index.table("empty").num_rows == 0
    unicode = index.datasets["unicode"]
    assert unicode.expected_rows == index.table("unicode").to_pylist()
    tz_types = index.schema("timestamp_tz").types
    assert {t.tz for t in tz_types} == {"UTC", "America/New_York", "Asia/Kathmandu", "+05:30"}
    nested = index.schema("nested")
    assert pa.types.is_map(nested.field("map").type)
    assert pa.types.is_struct(nested.field("struct").type.field("c").type)


@requirement("CONF-042", "CONF-043")
def test_model_vectors_cover_every_dtype_with_known_outputs() -> None:
    index = load_vector_index()
    identity = {m.dtypes[0] for m in index.models.values() if m.name.startswith("identity_")}
    assert identity == {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "string",
    }
    for name, vector in index.models.items():
        model = onnx.load_from_string(index.model_bytes(name))
        onnx.checker.check_model(model)
        inputs = index.inputs(name)
        for spec in vector.inputs:
            expected_dtype = object if spec.dtype == "string" else np.dtype(spec.dtype)
            assert inputs[spec.name].dtype == expected_dtype, (name, spec.name)
        evaluator = ReferenceEvaluator(model)
        actual = dict(zip(evaluator.output_names, evaluator.run(None, inputs)))
        assert outputs_mismatch(vector, index.outputs(name), actual) is None, name


@requirement("CONF-042")
def test_tensors_load_without_pickle() -> None:
    index = load_vector_index()
    for vector in index.models.values():
        for spec in [*vector.inputs, *vector.outputs]:
            data = index.read_bytes(spec.file)
            if spec.file.endswith(".json"):
                payload = json.loads(data)
                assert set(payload) == {"dtype", "shape", "data"}
            else:
                # allow_pickle=False refuses object arrays: every .npy is plain data.
                np.load(io.BytesIO(data), allow_pickle=False)


@requirement("CONF-043")
def test_outputs_mismatch_names_the_tensor_and_position() -> None:
    index = load_vector_index()
    vector = index.models["mlp_float32"]
    expected = index.outputs("mlp_float32")
    wrong = {name: array.copy() for name, array in expected.items()}
    wrong["probabilities"][2, 1] += 0.01
    message = outputs_mismatch(vector, expected, wrong)
    assert message is not None and "'probabilities'[(2, 1)]" in message
    assert "dtype" in (
        outputs_mismatch(
            vector, expected, {**expected, "logits": expected["logits"].astype("float64")}
        )
        or ""
    )
    assert "missing" in (outputs_mismatch(vector, expected, {"logits": expected["logits"]}) or "")
