"""Small ONNX models the runtime, executor and server cases build on the spot (the golden
vectors cover element types; these cover shapes and column mappings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

__all__ = ["bfloat16_identity", "graph", "identity", "scalar_sum", "slow_identity"]

Dims = Sequence[int | str]


def graph(
    nodes: list[onnx.NodeProto],
    inputs: list[tuple[str, int, Dims]],
    outputs: list[tuple[str, int, Dims]],
    opset: int = 17,
    initializers: Sequence[onnx.TensorProto] = (),
) -> onnx.ModelProto:
    """A checked model from nodes and ``(name, element type, dims)`` inputs and outputs."""

    def info(spec: tuple[str, int, Dims]) -> Any:
        return helper.make_tensor_value_info(spec[0], spec[1], list(spec[2]))

    model = helper.make_model(
        helper.make_graph(nodes, "conformance", [info(i) for i in inputs],
                          [info(o) for o in outputs], list(initializers)),
        opset_imports=[helper.make_opsetid("", opset)],
        ir_version=8,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def identity(dims: Dims, elem_type: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """``y = x`` for a tensor of ``dims``."""
    return graph([helper.make_node("Identity", ["x"], ["y"])],
                 [("x", elem_type, dims)], [("y", elem_type, dims)])


def scalar_sum() -> onnx.ModelProto:
    """``y = sum(x)``: x float32 [N, 3] -> a rank-0 output that cannot become a column."""
    return graph([helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)],
                 [("x", TensorProto.FLOAT, ["N", 3])], [("y", TensorProto.FLOAT, [])])


def bfloat16_identity() -> onnx.ModelProto:
    """``y = x`` in bfloat16, which NumPy cannot hold (runtime.md RT-017)."""
    return identity(["N", 3], TensorProto.BFLOAT16)


def slow_identity(width: int = 384, layers: int = 48) -> onnx.ModelProto:
    """``y = x`` through ``layers`` identity MatMuls of ``width``: slow enough (tens of
    milliseconds for a few hundred rows) to keep a request in flight while a server stops."""
    import numpy as np
    from onnx import numpy_helper

    nodes, current = [], "x"
    for i in range(layers):
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [current, "eye"], [out]))
        current = out
    eye = numpy_helper.from_array(np.eye(width, dtype=np.float32), "eye")
    return graph(nodes, [("x", TensorProto.FLOAT, ["N", width])],
                 [("y", TensorProto.FLOAT, ["N", width])], initializers=[eye])
