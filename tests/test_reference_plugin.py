"""The ``reference`` runtime plugin: the pure-Python ONNX reference evaluator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from runtime_models import mlp, model, save, tensor

import interlock
from interlock import DeviceUnavailableError, InterlockError
from interlock_conformance import requirement


@requirement("PLG-022")
def test_registered_through_its_entry_point_as_a_fallback() -> None:
    registry = interlock.get_registry()
    runtime = registry.get("runtime", "reference")
    assert runtime.devices == ("cpu",)
    assert runtime.priority == interlock.FALLBACK_PRIORITY
    owner = registry.owner(runtime)
    assert owner is not None and owner.name == "interlock_reference"


def test_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, interlock_reference.plugin as p; p.interlock_runtimes(); "
        "print([m for m in ('onnx', 'numpy', 'pydantic', 'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runs_a_model(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(save(tmp_path, mlp()), "reference")
    assert predictor.runtime_name == "reference" and predictor.device == "cpu"
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    proto = mlp()
    weights = {init.name: np.frombuffer(init.raw_data, np.float32).reshape(init.dims) for init in proto.graph.initializer}
    hidden = np.maximum(x @ weights["w0"] + weights["b0"], 0)
    np.testing.assert_allclose(predictor.infer({"x": x})["y"], hidden @ weights["w1"] + weights["b1"], rtol=1e-5, atol=1e-5)


def test_external_data_comes_from_the_artifact(tmp_path: Path) -> None:
    artifact = save(tmp_path, mlp(features=32, hidden=256), external_data=True)
    assert "model.onnx.data" in [entry.path for entry in artifact.manifest.files]
    x = {"x": np.ones((2, 32), np.float32)}
    np.testing.assert_allclose(
        interlock.load_predictor(artifact, "reference").infer(x)["y"],
        interlock.load_predictor(artifact).infer(x)["y"],
        rtol=1e-4,
        atol=1e-5,
    )


def test_scalar_results_are_returned_as_arrays(tmp_path: Path) -> None:
    total = model(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)],
        [tensor("x", "float32", ["batch"])],
        [tensor("y", "float32", [])],
    )
    out = interlock.load_predictor(save(tmp_path, total), "reference").infer({"x": np.array([1, 2], np.float32)})
    assert isinstance(out["y"], np.ndarray) and out["y"].shape == () and out["y"] == 3


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cpu_only(tmp_path: Path, device: str) -> None:
    with pytest.raises(DeviceUnavailableError, match=f"runtime 'reference' does not run on device '{device}' \\(it supports: cpu\\)"):
        interlock.load_predictor(save(tmp_path, mlp()), "reference", device=device)
    with pytest.raises(DeviceUnavailableError, match="takes no index"):
        interlock.load_predictor(save(tmp_path, mlp(), version="2"), "reference", device="cpu:0")


def test_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = save(tmp_path, mlp())
    with pytest.raises(InterlockError, match="unknown option 'intra_op_num_threads'") as info:
        interlock.load_predictor(artifact, "reference", intra_op_num_threads=1)
    assert "valid options are: verbose" in str(info.value.hint)
    with pytest.raises(InterlockError, match="verbose: Input should be less than or equal to 4"):
        interlock.load_predictor(artifact, "reference", verbose=7)
    interlock.load_predictor(artifact, "reference", verbose=2).infer({"x": np.ones((1, 8), np.float32)})
    assert "MatMul" in capsys.readouterr().out


@requirement("RT-082")
def test_an_operator_of_a_known_domain_without_an_implementation_is_refused_at_load(
    tmp_path: Path,
) -> None:
    """onnx.reference has no Gradient (ai.onnx.preview.training): refused at load, named."""
    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info
    nodes = [helper.make_node("Add", ["a", "b"], ["c"]),
             helper.make_node("Gradient", ["a", "b"], ["da", "db"], xs=["a", "b"], y="c",
                              domain="ai.onnx.preview.training")]
    graph = helper.make_graph(
        nodes, "gradient", [info("a", TensorProto.FLOAT, [1]), info("b", TensorProto.FLOAT, [1])],
        [info("da", TensorProto.FLOAT, [1]), info("db", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, ir_version=8, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.preview.training", 1)])
    artifact = interlock.save_artifact(model, str(tmp_path), name="gradient", version="1")
    with pytest.raises(interlock.UnsupportedModelError) as caught:
        interlock.load_predictor(artifact, runtime="reference")
    assert "ai.onnx.preview.training.Gradient" in caught.value.operators, caught.value.operators
