"""The ``openvino`` runtime plugin (spec: runtime.md), on the real OpenVINO package."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from runtime_models import add, mlp, sample, save, unary

import interlock
from interlock import DeviceUnavailableError, InterlockError, MissingDependencyError, UnsupportedModelError
from interlock.tensors import compare_outputs, tolerances_for
from interlock_conformance import requirement
from interlock_conformance.vectors import load_vector_index

#: Every dtype the runtime claims: RT-051's, and float16 (a claimed capability).
_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64"]


def _custom_op_model(domain: str = "com.acme", op: str = "Frobnicate") -> onnx.ModelProto:
    info = helper.make_tensor_value_info
    nodes = [helper.make_node(op, ["x"], ["t"], domain=domain), helper.make_node("Relu", ["t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [info("x", TensorProto.FLOAT, ["batch", 3])], [info("y", TensorProto.FLOAT, ["batch", 3])])
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])


@requirement("PLG-022")
def test_registered_through_its_entry_point_as_a_fallback() -> None:
    registry = interlock.get_registry()
    runtime = registry.get("runtime", "openvino")
    assert runtime.devices == ("cpu",)
    assert runtime.priority == interlock.FALLBACK_PRIORITY
    assert runtime.capabilities == {"external-data", "float16"}
    owner = registry.owner(runtime)
    assert owner is not None and owner.name == "interlock_openvino"


def test_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, interlock_openvino.plugin as p; p.interlock_runtimes(); "
        "print([m for m in ('openvino', 'numpy', 'pydantic', 'pyarrow', 'onnx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("dtype", _DTYPES)
def test_every_claimed_dtype_agrees_with_onnxruntime(tmp_path: Path, dtype: str) -> None:
    if dtype == "bool":  # ONNX's Add takes no bool
        artifact = save(tmp_path, unary("Not", dtype))
        inputs = {"x": sample(dtype, (4, 3), seed=1)}
    else:
        artifact = save(tmp_path, add(dtype))
        inputs = {"a": sample(dtype, (4, 3), seed=1), "b": sample(dtype, (4, 3), seed=2)}
    if dtype == "int64":  # int64 arithmetic is refused at load (RT-051): Identity instead
        artifact = save(tmp_path, unary("Identity", dtype), name="identity64")
        inputs = {"x": sample(dtype, (4, 3), seed=1) % 1000}
    got = interlock.load_predictor(artifact, "openvino").infer(inputs)
    assert got["y"].dtype == np.dtype(dtype)
    expected = interlock.load_predictor(artifact).infer(inputs)
    if dtype == "float64":  # OpenVINO's CPU plugin computes float64 in float32 (docs/openvino.md)
        np.testing.assert_allclose(got["y"], expected["y"], rtol=1e-6, atol=0)
        return
    assert compare_outputs(expected, got) == []


def test_int64_values_beyond_int32_are_refused_not_truncated(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(save(tmp_path, unary("Identity", "int64")), "openvino")
    with pytest.raises(InterlockError, match="outside the int32 range"):
        predictor.infer({"x": np.array([[2**40, 0, 1]], dtype=np.int64)})
    small = np.array([[2**31 - 1, -(2**31), 7]], dtype=np.int64)
    np.testing.assert_array_equal(predictor.infer({"x": small})["y"], small)


@requirement("RT-051", "RT-082")
def test_int64_arithmetic_on_inputs_is_refused_at_load(tmp_path: Path) -> None:
    """A result beyond int32 from in-range inputs would wrap around unseen, so int64
    arithmetic on values from the inputs is refused at load, naming the operators; arithmetic
    on shapes (a Reshape to [batch * 3]) and a Cast from int32 still load."""
    doubled = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["s"]), helper.make_node("Mul", ["s", "x"], ["y"])],
        "doubled", [helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", 3])])
    model = helper.make_model(doubled, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(interlock.UnsupportedModelError, match="int64 arithmetic") as caught:
        interlock.load_predictor(save(tmp_path, model, name="doubled"), "openvino")
    assert caught.value.operators == ("Add", "Mul") and "onnxruntime" in caught.value.runtimes
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    flat = helper.make_graph(
        [helper.make_node("Shape", ["x"], ["shape"]),
         helper.make_node("ReduceProd", ["shape"], ["n"], keepdims=1),
         helper.make_node("Mul", ["n", "one"], ["size"]),
         helper.make_node("Reshape", ["x", "size"], ["flat"]),
         helper.make_node("Cast", ["flat"], ["y"], to=TensorProto.INT64)],
        "flat", [helper.make_tensor_value_info("x", TensorProto.INT32, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [None])], initializer=[one])
    model = helper.make_model(flat, opset_imports=[helper.make_opsetid("", 17)])
    predictor = interlock.load_predictor(save(tmp_path, model, name="flat"), "openvino")
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(predictor.infer({"x": x})["y"], np.arange(6))


def test_options_reach_the_compiled_model(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(
        save(tmp_path, mlp()), "openvino", inference_num_threads=1, performance_hint="throughput"
    )
    compiled = predictor.compiled_model  # type: ignore[attr-defined]
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert str(compiled.get_property("PERFORMANCE_HINT")).endswith("THROUGHPUT")
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"


def test_bf16_precision_is_close_but_not_exact(tmp_path: Path) -> None:
    import openvino as ov

    artifact = save(tmp_path, mlp())
    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        with pytest.raises(InterlockError, match="no bfloat16 support"):
            interlock.load_predictor(artifact, "openvino", inference_precision="bf16")
        return
    x = {"x": np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)}
    fast = interlock.load_predictor(artifact, "openvino", inference_precision="bf16").infer(x)["y"]
    np.testing.assert_allclose(fast, interlock.load_predictor(artifact).infer(x)["y"], rtol=0.1, atol=0.1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"intra_op_num_threads": 1}, "unknown option 'intra_op_num_threads'"),
        ({"performance_hint": "fast"}, "performance_hint: Input should be 'latency' or 'throughput'"),
        ({"inference_precision": "f16"}, "inference_precision: Input should be 'f32' or 'bf16'"),
        ({"inference_num_threads": -1}, "inference_num_threads: Input should be greater than or equal to 0"),
    ],
)
def test_bad_options_are_named(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(InterlockError, match=message) as info:
        interlock.load_predictor(save(tmp_path, mlp()), "openvino", **options)
    assert "valid options are: inference_num_threads, inference_precision, performance_hint" in str(info.value.hint)


def test_external_data_artifacts_load(tmp_path: Path) -> None:
    proto = mlp(features=32, hidden=256)
    inline = save(tmp_path, proto, name="inline")
    external = save(tmp_path, proto, name="external", external_data=True)
    assert "model.onnx.data" in [entry.path for entry in external.manifest.files]
    x = {"x": np.random.default_rng(0).standard_normal((3, 32)).astype(np.float32)}
    expected = interlock.load_predictor(inline, "openvino").infer(x)["y"]
    np.testing.assert_array_equal(interlock.load_predictor(external, "openvino").infer(x)["y"], expected)


def test_devices(tmp_path: Path) -> None:
    artifact = save(tmp_path, mlp())
    with pytest.raises(DeviceUnavailableError, match="CPU device takes no index"):
        interlock.load_predictor(artifact, "openvino", device="cpu:0")
    with pytest.raises(DeviceUnavailableError, match="supports: cpu"):
        interlock.load_predictor(artifact, "openvino", device="cuda")


@requirement("RT-007")
def test_missing_openvino_says_which_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifact = save(tmp_path, mlp())
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match="the 'openvino' runtime needs the Python package 'openvino'") as info:
        interlock.load_predictor(artifact, "openvino")
    assert info.value.hint == "pip install 'interlock[openvino]'"


@requirement("RT-009")
def test_concurrent_calls_on_one_predictor(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(save(tmp_path, mlp()), "openvino", inference_num_threads=1)
    batches = [np.full((i + 1, 8), i, np.float32) for i in range(16)]
    expected = [predictor.infer({"x": b})["y"] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: predictor.infer({"x": b})["y"], batches * 4))
    for got, want in zip(results, expected * 4):
        np.testing.assert_array_equal(got, want)


@requirement("RT-082")
def test_an_unimplemented_operator_is_refused_at_load_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match=r"runtime 'openvino' cannot run model .*com\.acme\.Frobnicate") as info:
        interlock.load_predictor(save(tmp_path, _custom_op_model()), "openvino")
    assert info.value.operators == ("com.acme.Frobnicate",)
    assert info.value.runtimes == ()


@requirement("RT-082")
def test_the_refusal_names_the_runtimes_that_load_the_model(tmp_path: Path) -> None:
    # Strings: the other runtimes implement ai.onnx.ml LabelEncoder, OpenVINO does not.
    info = helper.make_tensor_value_info
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml",
                            keys_strings=["a", "b"], values_int64s=[1, 2], default_int64=0)
    graph = helper.make_graph([node], "g", [info("x", TensorProto.STRING, ["batch"])], [info("y", TensorProto.INT64, ["batch"])])
    proto = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    with pytest.raises(UnsupportedModelError) as caught:
        interlock.load_predictor(save(tmp_path, proto), "openvino")
    assert caught.value.operators == ("ai.onnx.ml.LabelEncoder",)
    assert caught.value.runtimes == ("onnxruntime", "reference")
    assert "load it with runtime 'onnxruntime' or 'reference'" in str(caught.value.hint)


def test_agrees_with_onnxruntime_on_the_golden_models(tmp_path: Path) -> None:
    vectors = load_vector_index()
    compared = []
    claimed = interlock.get_registry().get("runtime", "openvino").capabilities
    tolerances = tolerances_for(claimed)
    for name, vector in vectors.models.items():
        if not set(vector.runtime_capabilities) <= claimed:  # strings, int64 beyond int32, ...
            continue
        artifact = save(tmp_path, onnx.load_from_string(vectors.model_bytes(name)), name=name)
        inputs = vectors.inputs(name)
        got = interlock.load_predictor(artifact, "openvino").infer(inputs)
        expected = interlock.load_predictor(artifact).infer(inputs)
        assert compare_outputs(expected, got, tolerances) == [], name
        compared.append(name)
    assert len(compared) >= 20 and "mlp_float32" in compared and "add_float64" in compared


@requirement("RT-052")
def test_float64_is_computed_in_float32_and_refused_beyond_its_range(tmp_path: Path) -> None:
    """OpenVINO does not claim float64-precision: exp_float64 agrees with onnxruntime only
    within the float32 row, and a float64 input beyond float32's range is refused."""
    vectors = load_vector_index()
    artifact = save(tmp_path, onnx.load_from_string(vectors.model_bytes("exp_float64")),
                    name="exp64")
    inputs = vectors.inputs("exp_float64")
    got = interlock.load_predictor(artifact, "openvino").infer(inputs)
    expected = interlock.load_predictor(artifact).infer(inputs)
    assert compare_outputs(expected, got)  # beyond float64's tolerance: computed in float32
    assert compare_outputs(expected, got, tolerances_for(set())) == []
    with pytest.raises(interlock.InterlockError, match="beyond float32's range"):
        interlock.load_predictor(artifact, "openvino").infer({"x": np.full((1, 4), 1e39)})


@requirement("RT-082")
def test_a_model_whose_inputs_openvino_drops_is_refused_at_load(tmp_path: Path) -> None:
    """OpenVINO drops graph inputs when it compiles some models (sequence operators among
    them, whose outputs then come from uninitialised memory): refused at load, naming the
    operators that consume the dropped input."""
    info = helper.make_tensor_value_info
    nodes = [helper.make_node("SequenceConstruct", ["x", "z"], ["s"]),
             helper.make_node("SequenceAt", ["s", "i"], ["y"])]
    graph = helper.make_graph(
        nodes, "sequence",
        [info("x", TensorProto.FLOAT, [2]), info("z", TensorProto.FLOAT, [2]),
         info("i", TensorProto.INT64, [])],
        [info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
    artifact = interlock.save_artifact(model, str(tmp_path), name="sequence", version="1")
    try:
        predictor = interlock.load_predictor(artifact, runtime="openvino")
    except UnsupportedModelError as refused:
        assert refused.operators and "onnxruntime" in refused.runtimes, refused
        return
    # OpenVINO kept every input: then its answer must be right.
    inputs = {"x": np.array([1.0, 2.0], np.float32), "z": np.array([3.0, 4.0], np.float32),
              "i": np.array(1, np.int64)}
    assert np.array_equal(predictor.infer(inputs)["y"], inputs["z"])


@requirement("RT-070")
def test_string_tensors_are_refused_at_load(tmp_path: Path) -> None:
    """openvino does not claim string-tensors: a string model is refused when it is loaded."""
    info = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "strings",
                              [info("x", TensorProto.STRING, ["batch"])],
                              [info("y", TensorProto.STRING, ["batch"])])
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
    artifact = interlock.save_artifact(model, str(tmp_path), name="strings", version="1")
    with pytest.raises(InterlockError, match="does not claim string-tensors") as caught:
        interlock.load_predictor(artifact, runtime="openvino")
    assert "'x'" in str(caught.value) and "runtime='onnxruntime'" in (caught.value.hint or "")


def test_predictions_stream_into_a_delta_table(tmp_path: Path) -> None:
    """deltalake pulls the prediction batches on its own Rust worker threads: the predictor
    runs there (no request bound to a short-lived thread, whose teardown used to crash the
    process), and the table holds every row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    artifact = save(tmp_path, mlp(features=4), name="mlp")
    x = np.random.default_rng(0).standard_normal((1000, 4)).astype(np.float32)
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"row": pa.array(range(1000)),
                             "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 4)}),
                   source)
    summary = interlock.predict_dataset(str(source), artifact, str(tmp_path / "out"),
                                        runtime="openvino", output_format="delta",
                                        keep_columns=["row"], batch_size=100)
    assert summary["rows"] == 1000
    assert interlock.open_dataset(str(tmp_path / "out")).to_table().num_rows == 1000
