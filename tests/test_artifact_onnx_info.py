"""Reading signatures, IR versions and opsets out of ONNX graphs (Signature.from_onnx and interlock.artifacts)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import interlock
from interlock.artifacts import external_data_refs, iter_tensors, onnx_info
from interlock.tensors import Signature
from interlock_conformance import requirement


def _model(
    inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], **kw: Any
) -> onnx.ModelProto:
    """A one-graph model; ``nodes`` defaults to Identity(first input) -> first output."""
    nodes = kw.pop("nodes", [helper.make_node("Identity", [inputs[0].name], [outputs[0].name])])
    graph = helper.make_graph(nodes, "g", inputs, outputs, kw.pop("initializer", []))
    return helper.make_model(graph, **kw)


@requirement("ART-016")
def test_dims_become_ints_symbols_and_none() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, None])
    sig = Signature.from_onnx(_model([x], [y]))
    assert sig.inputs[0].shape == ["batch", 3, None]
    assert sig.inputs[0].dtype == "float32"
    assert sig.outputs[0].name == "y"


@pytest.mark.parametrize(
    ("elem_type", "dtype"),
    [
        (TensorProto.BOOL, "bool"),
        (TensorProto.INT64, "int64"),
        (TensorProto.UINT8, "uint8"),
        (TensorProto.FLOAT16, "float16"),
        (TensorProto.BFLOAT16, "bfloat16"),
        (TensorProto.DOUBLE, "float64"),
        (TensorProto.STRING, "string"),
    ],
)
def test_element_types_map_to_spec_names(elem_type: int, dtype: str) -> None:
    x = helper.make_tensor_value_info("x", elem_type, [2])
    y = helper.make_tensor_value_info("y", elem_type, [2])
    assert Signature.from_onnx(_model([x], [y])).inputs[0].dtype == dtype


@requirement("ART-016")
def test_initializer_backed_inputs_are_not_signature_inputs() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    bias_input = helper.make_tensor_value_info("bias", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    bias = numpy_helper.from_array(np.ones(2, np.float32), "bias")
    model = _model(
        [x, bias_input],
        [y],
        nodes=[helper.make_node("Add", ["x", "bias"], ["y"])],
        initializer=[bias],
    )
    assert [s.name for s in Signature.from_onnx(model).inputs] == ["x"]


@requirement("ART-091")
def test_unsupported_element_type_names_tensor_and_type() -> None:
    x = helper.make_tensor_value_info("z", TensorProto.COMPLEX64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.COMPLEX64, [2])
    with pytest.raises(
        interlock.ArtifactError, match=r"input 'z' has element type COMPLEX64"
    ) as info:
        Signature.from_onnx(_model([x], [y]))
    assert info.value.hint


@requirement("ART-091")
def test_non_tensor_output_is_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])
    model = _model([x], [seq], nodes=[helper.make_node("SequenceConstruct", ["x"], ["s"])])
    with pytest.raises(interlock.ArtifactError, match=r"output 's' is a sequence_type"):
        Signature.from_onnx(model)


@requirement("ART-091")
def test_unknown_rank_is_refused_with_hint() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    with pytest.raises(interlock.ArtifactError, match=r"input 'x' declares no shape") as info:
        Signature.from_onnx(_model([x], [y]))
    assert "symbolic" in (info.value.hint or "")


@requirement("ART-014")
def test_onnx_info_normalizes_the_default_domain() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    model = _model(
        [x],
        [y],
        opset_imports=[helper.make_opsetid("ai.onnx", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        ir_version=9,
    )
    info = onnx_info(model)
    assert info.ir_version == 9
    assert info.opsets == {"": 17, "ai.onnx.ml": 3}


@requirement("ART-051")
def test_iter_tensors_reaches_subgraphs_and_attributes() -> None:
    inner_init = numpy_helper.from_array(np.ones(2, np.float32), "inner")
    then_graph = helper.make_graph(
        [helper.make_node("Identity", ["inner"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])],
        [inner_init],
    )
    const = helper.make_node(
        "Constant", [], ["c"], value=numpy_helper.from_array(np.zeros(2, np.float32), "cval")
    )
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [2])
    model = _model(
        [cond],
        [out],
        nodes=[
            const,
            helper.make_node(
                "If", ["cond"], ["out"], then_branch=then_graph, else_branch=then_graph
            ),
        ],
    )
    names = {t.name for t in iter_tensors(model)}
    assert {"inner", "cval"} <= names


def test_external_data_refs_parse_location_offset_length() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    w = numpy_helper.from_array(np.ones(2, np.float32), "w")
    model = _model([x], [y], initializer=[w])
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "16"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    [ref] = external_data_refs(model)
    assert (ref.location, ref.offset, ref.length) == ("w.bin", 16, 8)
    tensor.external_data[1].value = "-3"
    with pytest.raises(ValueError, match="negative"):
        external_data_refs(model)
