"""onnxruntime and the reference evaluator agree within the spec's tolerance (RT-060).

The same artifacts run through both reference runtimes; ``compare_outputs`` applies the
tolerance table of the spec. The comparison itself is tested too, so that a real
disagreement cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper
from runtime_models import mlp, model, save, tensor

import interlock
from interlock.tensors import TOLERANCES, compare_outputs
from interlock_conformance import requirement


def scored() -> onnx.ModelProto:
    """Two inputs sharing a symbolic batch: a float64 score, an int64 class, a bool flag."""
    return model(
        [
            helper.make_node("Mul", ["a", "b"], ["ab"]),
            helper.make_node("Sigmoid", ["ab"], ["score"]),
            helper.make_node("ArgMax", ["ab"], ["label"], axis=1, keepdims=0),
            helper.make_node("Greater", ["score", "half"], ["high"]),
        ],
        [tensor("a", "float64", ["batch", 4]), tensor("b", "float64", ["batch", 4])],
        [tensor("score", "float64", ["batch", 4]), tensor("label", "int64", ["batch"]), tensor("high", "bool", ["batch", 4])],
        [("half", np.array(0.5))],
    )


def strings() -> onnx.ModelProto:
    """String in; a comparison, a label encoding and a string concatenation out."""
    return model(
        [
            helper.make_node("Equal", ["text", "red"], ["is_red"]),
            helper.make_node(
                "LabelEncoder", ["text"], ["code"], domain="ai.onnx.ml",
                keys_strings=["red", "green", "blue"], values_int64s=[1, 2, 3], default_int64=-1,
            ),
            helper.make_node("Unsqueeze", ["text", "axis"], ["column"]),
            helper.make_node("Concat", ["column", "column"], ["pair"], axis=1),
        ],
        [tensor("text", "string", ["batch"])],
        [tensor("is_red", "bool", ["batch"]), tensor("code", "int64", ["batch"]), tensor("pair", "string", ["batch", 2])],
        [("red", np.array(["red"], dtype=object)), ("axis", np.array([1], dtype=np.int64))],
        opset=19,
        ml_opset=2,
    )


def half() -> onnx.ModelProto:
    """A float16 matrix product and a Tanh."""
    weights = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float16)
    return model(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Tanh", ["m"], ["y"])],
        [tensor("x", "float16", ["batch", 6])],
        [tensor("y", "float16", ["batch", 5])],
        [("w", weights)],
    )


def _inputs(name: str, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if name == "mlp":
        return {"x": rng.standard_normal((rows, 16)).astype(np.float32)}
    if name == "scored":
        return {"a": rng.standard_normal((rows, 4)), "b": rng.standard_normal((rows, 4))}
    if name == "strings":
        words = np.array(["red", "green", "blue", "Red", "", "grün", "🙂"], dtype=object)
        return {"text": words[rng.integers(0, len(words), rows)]}
    return {"x": (rng.standard_normal((rows, 6)) * 0.5).astype(np.float16)}


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "mlp": lambda: mlp(features=16, hidden=64, classes=5, seed=7),
    "scored": scored,
    "strings": strings,
    "half": half,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnxruntime_agrees_with_the_reference_evaluator(tmp_path: Path, name: str) -> None:
    artifact = save(tmp_path, MODELS[name](), name=name)
    fast = interlock.load_predictor(artifact, "onnxruntime", intra_op_num_threads=1)
    reference = interlock.load_predictor(artifact, "reference")
    rng = np.random.default_rng(11)
    for rows in (1, 7, 64):
        inputs = _inputs(name, rows, rng)
        assert compare_outputs(reference.infer(inputs), fast.infer(inputs)) == [], (name, rows)


def test_the_comparison_catches_differences_beyond_the_tolerance() -> None:
    rtol, atol = TOLERANCES["float32"]
    base = np.array([1.0, 100.0, np.nan, np.inf], np.float32)
    within = base * np.float32(1 + rtol / 2)
    assert compare_outputs({"y": base}, {"y": within}) == []
    beyond = base.copy()
    beyond[1] = 100.0 * (1 + 3 * rtol)
    problems = compare_outputs({"y": base}, {"y": beyond})
    assert len(problems) == 1 and "1 of 4 elements differ beyond rtol=0.0001, atol=1e-05; first at [1]" in problems[0]
    assert compare_outputs({"y": np.array([0.0], np.float32)}, {"y": np.array([atol / 2], np.float32)}) == []


@requirement("RT-052", "RT-060")
def test_float64_is_compared_with_the_float32_row_when_a_runtime_lacks_float64_precision() -> None:
    from interlock.tensors import tolerances_for

    full = {"float64-precision", "int64-range"}
    assert tolerances_for(full, full) == TOLERANCES
    relaxed = tolerances_for(full, {"int64-range"})
    assert relaxed["float64"] == TOLERANCES["float32"]
    assert relaxed["float32"] == TOLERANCES["float32"] and tolerances_for() == TOLERANCES
    base = np.array([1.0, 2.5], np.float64)
    near = base * (1 + 1e-7)  # what computing in float32 costs
    assert compare_outputs({"y": base}, {"y": near})  # beyond float64's row ...
    assert compare_outputs({"y": base}, {"y": near}, relaxed) == []  # ... within float32's


def test_the_comparison_is_exact_for_integers_bools_and_strings() -> None:
    assert compare_outputs({"i": np.array([1, 2])}, {"i": np.array([1, 3])})[0].startswith("'i': 1 of 2")
    assert compare_outputs({"b": np.array([True])}, {"b": np.array([False])})
    assert compare_outputs({"s": np.array(["a"], dtype=object)}, {"s": np.array(["b"], dtype=object)})
    assert compare_outputs({"s": np.array(["a"], dtype=object)}, {"s": np.array(["a"], dtype=object)}) == []


def test_the_comparison_reports_dtype_shape_and_missing_outputs() -> None:
    assert "float64[1] where the reference has float32[1]" in compare_outputs(
        {"y": np.zeros(1, np.float32)}, {"y": np.zeros(1, np.float64)}
    )[0]
    assert "float32[2]" in compare_outputs({"y": np.zeros(1, np.float32)}, {"y": np.zeros(2, np.float32)})[0]
    assert compare_outputs({"y": np.zeros(1)}, {}) == ["'y': missing from the candidate outputs"]
