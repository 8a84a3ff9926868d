"""Every spec dtype NumPy can hold runs through both reference runtimes (spec: runtime.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from runtime_models import ADDABLE, NUMERIC, add, sample, save, unary

import interlock
from interlock.tensors import compare_outputs
from interlock.tensors import arrow_dtype_name

RUNTIMES = ["onnxruntime", "reference"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dtypes") / "store"


def saved(store: Path, name: str, build: object) -> interlock.Artifact:
    try:
        return interlock.load_artifact(f"{name}:1", store=str(store))
    except interlock.ArtifactNotFoundError:
        return save(store, build() if callable(build) else build, name=name)  # type: ignore[arg-type]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("dtype", [*NUMERIC, "string"])
def test_identity_round_trips_exactly(store: Path, runtime: str, dtype: str) -> None:
    artifact = saved(store, f"identity-{dtype}", lambda: unary("Identity", dtype))
    predictor = interlock.load_predictor(artifact, runtime)
    value = sample(dtype, (4, 3))
    out = predictor.infer({"x": value})["y"]
    assert out.dtype == value.dtype and out.shape == (4, 3)
    np.testing.assert_array_equal(out, value)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("dtype", ADDABLE)
def test_add_computes_in_the_declared_dtype(store: Path, runtime: str, dtype: str) -> None:
    artifact = saved(store, f"add-{dtype}", lambda: add(dtype))
    predictor = interlock.load_predictor(artifact, runtime)
    a, b = sample(dtype, (5, 3), seed=1), sample(dtype, (5, 3), seed=2)
    out = predictor.infer({"a": a, "b": b})
    assert compare_outputs({"y": a + b}, out) == []


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bool_logic(store: Path, runtime: str) -> None:
    predictor = interlock.load_predictor(saved(store, "not-bool", lambda: unary("Not", "bool")), runtime)
    value = sample("bool", (3, 3))
    np.testing.assert_array_equal(predictor.infer({"x": value})["y"], ~value)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("dtype", [*NUMERIC, "string"])
def test_predict_round_trips_every_dtype_through_arrow(store: Path, runtime: str, dtype: str) -> None:
    artifact = saved(store, f"identity-{dtype}", lambda: unary("Identity", dtype))
    predictor = interlock.load_predictor(artifact, runtime)
    value = sample(dtype, (4, 3))
    arrow_type = pa.string() if dtype == "string" else pa.from_numpy_dtype(value.dtype)
    assert arrow_dtype_name(arrow_type) == dtype
    column = pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1), arrow_type), 3)
    result = predictor.predict(pa.record_batch({"x": column}))
    assert result.schema.field("y").type == pa.list_(arrow_type, 3)
    assert result.column("y").to_pylist() == value.tolist()
