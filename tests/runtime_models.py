"""Small ONNX models and artifacts for the runtime tests, built with ``onnx.helper``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

import interlock
from interlock.tensors import DTYPES

Shape = Sequence[int | str | None]

#: Every spec dtype NumPy can hold, with a NumPy value maker.
NUMERIC = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
]  # fmt: skip
ADDABLE = [d for d in NUMERIC if d != "bool"]


def tensor(name: str, dtype: str, shape: Shape) -> onnx.ValueInfoProto:
    """A graph input or output of a spec dtype."""
    return helper.make_tensor_value_info(name, DTYPES[dtype].onnx, list(shape))


def model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: Sequence[tuple[str, np.ndarray]] = (),
    opset: int = 17,
    ml_opset: int | None = None,
) -> onnx.ModelProto:
    """A checked model; initializers are ``(name, array)`` pairs."""
    weights = [numpy_helper.from_array(array, name) for name, array in initializers]
    graph = helper.make_graph(nodes, "test", inputs, outputs, weights)
    opsets = [helper.make_opsetid("", opset)]
    if ml_opset is not None:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ml_opset))
    proto = helper.make_model(graph, opset_imports=opsets, ir_version=9)
    onnx.checker.check_model(proto)
    return proto


def unary(op: str, dtype: str, shape: Shape = ("batch", 3), out_dtype: str | None = None) -> onnx.ModelProto:
    """``y = op(x)``."""
    return model(
        [helper.make_node(op, ["x"], ["y"])],
        [tensor("x", dtype, shape)],
        [tensor("y", out_dtype or dtype, shape)],
    )


def add(dtype: str, shape: Shape = ("batch", 3)) -> onnx.ModelProto:
    """``y = a + b``."""
    return model(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        [tensor("a", dtype, shape), tensor("b", dtype, shape)],
        [tensor("y", dtype, shape)],
    )


def mlp(features: int = 8, hidden: int = 16, classes: int = 3, seed: int = 0) -> onnx.ModelProto:
    """``y = relu(x @ w0 + b0) @ w1 + b1`` with random float32 weights and a symbolic batch."""
    rng = np.random.default_rng(seed)
    return model(
        [
            helper.make_node("MatMul", ["x", "w0"], ["m0"]),
            helper.make_node("Add", ["m0", "b0"], ["z0"]),
            helper.make_node("Relu", ["z0"], ["a0"]),
            helper.make_node("MatMul", ["a0", "w1"], ["m1"]),
            helper.make_node("Add", ["m1", "b1"], ["y"]),
        ],
        [tensor("x", "float32", ["batch", features])],
        [tensor("y", "float32", ["batch", classes])],
        [
            ("w0", rng.standard_normal((features, hidden)).astype(np.float32)),
            ("b0", rng.standard_normal(hidden).astype(np.float32)),
            ("w1", rng.standard_normal((hidden, classes)).astype(np.float32)),
            ("b1", rng.standard_normal(classes).astype(np.float32)),
        ],
    )


def save(store: Path, proto: onnx.ModelProto, name: str = "m", version: str = "1", **kwargs: Any) -> interlock.Artifact:
    """Save ``proto`` as ``name:version`` in the store rooted at ``store``."""
    return interlock.save_artifact(proto, str(store), name=name, version=version, **kwargs)


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Deterministic values of ``dtype`` that stay small (no overflow when added)."""
    rng = np.random.default_rng(seed)
    if dtype == "string":
        return np.array([f"s{i}" for i in range(int(np.prod(shape)))], dtype=object).reshape(shape)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 50, shape).astype(dtype)
