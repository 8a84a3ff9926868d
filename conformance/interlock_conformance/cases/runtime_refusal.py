"""Runtime case about refusing a model at load (spec: runtime.md RT-082): a model that uses an
operator the runtime does not implement fails in ``load_predictor`` with
``interlock.UnsupportedModelError`` naming the operator, never at the first inference.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

import interlock
from interlock import Runtime, UnsupportedModelError

from interlock_conformance.markers import component_kind, requirement

pytestmark = component_kind("runtime")

#: A domain no runtime implements: its operator cannot be run by anyone.
_DOMAIN = "org.interlock.conformance.unimplemented"


def _unimplemented_operator_model() -> onnx.ModelProto:
    """``y = Relu(Frobnicate(x))``, where ``Frobnicate`` is an operator of a domain that no
    runtime implements."""
    info = helper.make_tensor_value_info
    nodes = [helper.make_node("Frobnicate", ["x"], ["t"], domain=_DOMAIN),
             helper.make_node("Relu", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "refusal", [info("x", TensorProto.FLOAT, ["batch", 3])],
                              [info("y", TensorProto.FLOAT, ["batch", 3])])
    return helper.make_model(graph, ir_version=8, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid(_DOMAIN, 1)])


@requirement("RT-082")
def test_unimplemented_operator_is_refused_at_load(component: Runtime, tmp_path: Path) -> None:
    """Loading a model with an operator of an unknown domain raises UnsupportedModelError
    naming the operator, the runtime and the model."""
    artifact = interlock.save_artifact(_unimplemented_operator_model(), str(tmp_path),
                                       name="unimplemented", version="1")
    with pytest.raises(UnsupportedModelError) as caught:
        interlock.load_predictor(artifact, runtime=component.name)
    error = caught.value
    operator = f"{_DOMAIN}.Frobnicate"
    assert operator in error.operators, (
        f"the error names operators {error.operators}, not {operator!r}"
    )
    message = str(error)
    missing = [w for w in (operator, repr(component.name), "unimplemented") if w not in message]
    assert not missing, f"the message {message!r} does not name {missing}"
    assert component.name not in error.runtimes, (
        f"the error says runtime {component.name!r} itself loads the model: {error.runtimes}"
    )
    assert isinstance(error.runtimes, tuple), f"runtimes is {type(error.runtimes).__name__}"
