"""Small ONNX models for the serving tests, built with ``onnx.helper`` and saved as artifacts."""

from __future__ import annotations

from pathlib import Path

import interlock
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: interlock dtype -> (ONNX element type, a sample of 2 rows x 3 columns)
SAMPLES: dict[str, tuple[int, np.ndarray]] = {
    "bool": (TensorProto.BOOL, np.array([[True, False, True], [False, False, True]])),
    "int8": (TensorProto.INT8, np.array([[-128, 0, 127], [1, 2, 3]], dtype=np.int8)),
    "int16": (TensorProto.INT16, np.array([[-32768, 0, 32767], [1, 2, 3]], dtype=np.int16)),
    "int32": (TensorProto.INT32, np.array([[-(2**31), 0, 2**31 - 1], [1, 2, 3]], dtype=np.int32)),
    "int64": (TensorProto.INT64, np.array([[-(2**63), 0, 2**63 - 1], [1, 2, 3]], dtype=np.int64)),
    "uint8": (TensorProto.UINT8, np.array([[0, 128, 255], [1, 2, 3]], dtype=np.uint8)),
    "uint16": (TensorProto.UINT16, np.array([[0, 1, 65535], [1, 2, 3]], dtype=np.uint16)),
    "uint32": (TensorProto.UINT32, np.array([[0, 1, 2**32 - 1], [1, 2, 3]], dtype=np.uint32)),
    "uint64": (TensorProto.UINT64, np.array([[0, 1, 2**64 - 1], [1, 2, 3]], dtype=np.uint64)),
    "float16": (TensorProto.FLOAT16, np.array([[0.5, -1.25, 65504], [1, 2, 3]], dtype=np.float16)),
    "float32": (TensorProto.FLOAT, np.array([[0.1, -1e30, 3.5], [1, 2, 3]], dtype=np.float32)),
    "float64": (TensorProto.DOUBLE, np.array([[0.1, -1e300, 3.5], [1, 2, 3]], dtype=np.float64)),
    "string": (
        TensorProto.STRING,
        np.array([["a", "", "héllo ✓"], ["x y", "z", "0"]], dtype=object),
    ),
}


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: tuple[onnx.TensorProto, ...] | list[onnx.TensorProto] = (),
    opset: int = 17,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def mlp_model(seed: int = 0) -> onnx.ModelProto:
    """float32 [batch, 64] -> 256 -> 256 -> 10, ReLU between."""
    rng = np.random.default_rng(seed)
    sizes = [64, 256, 256, 10]
    inits, nodes = [], []
    current = "x"
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = (rng.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32)
        b = (rng.standard_normal(n) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(sizes) - 2
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], ["y" if last else f"a{i}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"a{i}"], [f"r{i}"]))
            current = f"r{i}"
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )


def identity_model(elem_type: int) -> onnx.ModelProto:
    """x [batch, 3] -> y [batch, 3], unchanged."""
    return _model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", elem_type, ["batch", 3])],
        [helper.make_tensor_value_info("y", elem_type, ["batch", 3])],
    )


def two_outputs_model() -> onnx.ModelProto:
    """a, b float32 [batch, 4] -> sum = a + b, product = a * b."""
    return _model(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Mul", ["a", "b"], ["product"]),
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 4]) for n in ("a", "b")],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 4])
            for n in ("sum", "product")
        ],
    )


def exclaim_model() -> onnx.ModelProto:
    """text string [n] -> text + "!" [n] (StringConcat, opset 20)."""
    suffix = numpy_helper.from_array(np.array(["!"], dtype=object), "suffix")
    return _model(
        [helper.make_node("StringConcat", ["text", "suffix"], ["loud"])],
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("loud", TensorProto.STRING, ["n"])],
        [suffix],
        opset=20,
    )


def slow_model(width: int = 512, layers: int = 40) -> onnx.ModelProto:
    """x float32 [batch, width] -> the same values, through ``layers`` identity MatMuls.

    Slow enough (milliseconds per call) to keep requests in flight; the output equals the
    input, so every caller can check it got its own rows back.
    """
    eye = numpy_helper.from_array(np.eye(width, dtype=np.float32), "eye")
    nodes, current = [], "x"
    for i in range(layers):
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [current, "eye"], [out]))
        current = out
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        [eye],
    )


def fixed_batch_model() -> onnx.ModelProto:
    """x float32 [2, 3] -> y (a fixed first dimension: never batched)."""
    return _model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )


def build_store(root: Path) -> str:
    """A store holding every test model: ``mlp`` (versions 1 and 2), ``identity_<dtype>``,
    ``two_outputs``, ``exclaim``, ``slow`` and ``fixed``."""
    store = str(root)
    interlock.save_artifact(mlp_model(0), store, name="mlp", version="1")
    interlock.save_artifact(mlp_model(1), store, name="mlp", version="2")
    for dtype, (elem_type, _) in SAMPLES.items():
        interlock.save_artifact(
            identity_model(elem_type), store, name=f"identity_{dtype}", version="1"
        )
    interlock.save_artifact(two_outputs_model(), store, name="two_outputs", version="1")
    interlock.save_artifact(exclaim_model(), store, name="exclaim", version="1")
    interlock.save_artifact(slow_model(), store, name="slow", version="1")
    interlock.save_artifact(fixed_batch_model(), store, name="fixed", version="1")
    return store
