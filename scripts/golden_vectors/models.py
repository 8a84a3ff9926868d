"""The model vectors: tiny ONNX models over every tensor dtype, with known inputs and outputs
as ``.npy`` (no pickles) or, for strings, JSON.

Inputs come from fixed values and seeds, and models are serialized deterministically, so the
files are the same bytes on every run.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["IR_VERSION", "OPSET", "build_models"]

OPSET = 17
IR_VERSION = 8
#: Recorded in every model; it names the script, which is what a reader runs to regenerate.
PRODUCER = "interlock generate_vectors.py"

_NUMERIC = [
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
]
_ALL = ["bool", *_NUMERIC, "string"]
_ONNX_TYPE = {
    "bool": TensorProto.BOOL,
    "int8": TensorProto.INT8,
    "int16": TensorProto.INT16,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "uint8": TensorProto.UINT8,
    "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32,
    "uint64": TensorProto.UINT64,
    "float16": TensorProto.FLOAT16,
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
    "string": TensorProto.STRING,
}


def _tolerance(dtype: str) -> dict[str, float]:
    return {
        "float16": {"rtol": 1e-3, "atol": 1e-3},
        "float32": {"rtol": 1e-5, "atol": 1e-6},
        "float64": {"rtol": 1e-12, "atol": 1e-12},
    }.get(dtype, {"rtol": 0.0, "atol": 0.0})


def _identity_input(dtype: str) -> np.ndarray:
    if dtype == "bool":
        return np.array([[True, False, True], [False, False, True]])
    if dtype == "string":
        return np.array([["a", "", "日本"], ["🙂 emoji", "tab\there", "x" * 40]], dtype=object)
    if dtype.startswith(("int", "uint")):
        ints = np.iinfo(dtype)
        return np.array([[ints.min, 0, ints.max], [1, ints.max - 1, ints.min + 1]], dtype=dtype)
    floats = np.finfo(dtype)
    return np.array(
        [[floats.min, -0.0, floats.max], [np.nan, np.inf, float(floats.tiny)]], dtype=dtype
    )


def _add_inputs(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240601)
    low, high, scale = (0, 50, 1) if dtype.startswith("uint") else (-50, 50, 1)
    if dtype.startswith("float"):
        # Multiples of 1/8 below 100: exact in every float width, so sums are exact too.
        low, high, scale = -800, 800, 8
    a = rng.integers(low, high, size=(3, 4)) / scale
    b = rng.integers(low, high, size=(3, 4)) / scale
    return a.astype(dtype), b.astype(dtype)


def _model(
    name: str,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] | None = None,
) -> bytes:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers or [])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name=PRODUCER,
    )
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString(deterministic=True))


def _tensor_file(array: np.ndarray, dtype: str) -> tuple[str, bytes]:
    if dtype == "string":
        payload = {
            "dtype": "string",
            "shape": list(array.shape),
            "data": [str(v) for v in array.ravel()],
        }
        return ".json", (json.dumps(payload, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return ".npy", buffer.getvalue()


def _mlp() -> tuple[bytes, dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    # Weights are multiples of 1/16, so that every implementation starts from the same exact
    # values and the matrix products are exact in float32; 64 hidden units make w1 1 KiB, the
    # size from which artifacts store an initializer as external data.
    hidden = 64
    w1 = (rng.integers(-16, 16, size=(4, hidden)) / 16).astype("float32")
    b1 = (rng.integers(-8, 8, size=(hidden,)) / 16).astype("float32")
    w2 = (rng.integers(-16, 16, size=(hidden, 3)) / 16).astype("float32")
    b2 = (rng.integers(-8, 8, size=(3,)) / 16).astype("float32")
    x = (rng.integers(-32, 32, size=(5, 4)) / 8).astype("float32")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["z0"]),
        helper.make_node("Add", ["z0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    inits = [
        numpy_helper.from_array(v, n) for n, v in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))
    ]
    model = _model(
        "mlp_float32",
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
        ],
        inits,
    )
    # Expected values in float64, rounded to float32 once at the end.
    h = np.maximum(x.astype("float64") @ w1 + b1, 0)
    logits = h @ w2 + b2
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    return (
        model,
        {"x": x},
        {"logits": logits.astype("float32"), "probabilities": probabilities.astype("float32")},
    )


def _model_entry(
    files: dict[str, bytes],
    name: str,
    description: str,
    model: bytes,
    inputs: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    dtypes: dict[str, str],
    shapes: dict[str, list[Any]],
    also_needs: tuple[str, ...] = (),
) -> dict[str, Any]:
    base = f"models/{name}"
    files[f"{base}/model.onnx"] = model

    def tensors(values: dict[str, np.ndarray], kind: str) -> list[dict[str, Any]]:
        listed = []
        for tensor, array in values.items():
            suffix, data = _tensor_file(array, dtypes[tensor])
            path = f"{base}/{kind}/{tensor}{suffix}"
            files[path] = data
            listed.append(
                {"name": tensor, "dtype": dtypes[tensor], "shape": shapes[tensor], "file": path}
            )
        return listed

    output_dtypes = {dtypes[t] for t in outputs}
    tolerance = max((_tolerance(d) for d in output_dtypes), key=lambda t: t["rtol"])
    needs = runtime_capabilities(set(dtypes.values()), [*inputs.values(), *outputs.values()])
    needs = sorted({*needs, *also_needs})
    return {
        "name": name,
        "file": f"{base}/model.onnx",
        "description": description,
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "dtypes": sorted({*dtypes.values()}),
        "inputs": tensors(inputs, "inputs"),
        "outputs": tensors(outputs, "outputs"),
        "tolerance": tolerance,
        "nan_equal": True,
        "runtime_capabilities": needs,
    }


#: The runtime capability a model needs for tensors of an element type (runtime.md RT-070).
_DTYPE_CAPABILITY = {"float16": "float16", "string": "string-tensors"}
_INT32 = np.iinfo(np.int32)


def runtime_capabilities(dtypes: set[str], values: list[np.ndarray]) -> list[str]:
    """The runtime capabilities a model needs: those of its element types, ``int64-range``
    when an int64 tensor holds values outside the int32 range (runtime.md RT-051), and
    ``float64-precision`` when a float64 tensor holds a value float32 cannot represent
    exactly (RT-052)."""
    needs = {_DTYPE_CAPABILITY[d] for d in dtypes if d in _DTYPE_CAPABILITY}
    for value in values:
        if value.dtype == np.int64 and value.size and (
            value.min() < _INT32.min or value.max() > _INT32.max
        ):
            needs.add("int64-range")
        if value.dtype == np.float64 and not _float32_exact(value):
            needs.add("float64-precision")
    return sorted(needs)


def _float32_exact(value: np.ndarray) -> bool:
    """Whether every element survives a round trip through float32 (NaN counts as such)."""
    with np.errstate(over="ignore"):
        back = value.astype(np.float32).astype(np.float64)
    return bool(np.all((back == value) | (np.isnan(back) & np.isnan(value))))


def _exp_vector(files: dict[str, bytes]) -> dict[str, Any]:
    """``exp_float64``: Exp over float64 values that float32 cannot hold exactly, so that a
    runtime computing float64 in 32 bits is told apart (RT-052)."""
    x = np.linspace(-5.0, 5.0, 12, dtype=np.float64).reshape(3, 4) + 1e-9
    model = _model(
        "exp_float64",
        [helper.make_node("Exp", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["batch", 4])],
    )
    return _model_entry(
        files,
        "exp_float64",
        "Exp over float64 values that float32 cannot represent: float64 precision is needed",
        model,
        {"x": x},
        {"y": np.exp(x)},
        {"x": "float64", "y": "float64"},
        {"x": ["batch", 4], "y": ["batch", 4]},
    )


def _identity_vector(files: dict[str, bytes], dtype: str) -> dict[str, Any]:
    """``identity_<dtype>``: Identity over the dtype's extreme values."""
    t = _ONNX_TYPE[dtype]
    x = _identity_input(dtype)
    model = _model(
        f"identity_{dtype}",
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", t, ["batch", 3])],
        [helper.make_tensor_value_info("y", t, ["batch", 3])],
    )
    return _model_entry(
        files,
        f"identity_{dtype}",
        f"Identity over {dtype}, with the dtype's extreme values",
        model,
        {"x": x},
        {"y": x.copy()},
        {"x": dtype, "y": dtype},
        {"x": ["batch", 3], "y": ["batch", 3]},
    )


def _add_vector(files: dict[str, bytes], dtype: str) -> dict[str, Any]:
    """``add_<dtype>``: element-wise Add of two tensors whose sum cannot overflow."""
    t = _ONNX_TYPE[dtype]
    a, b = _add_inputs(dtype)
    model = _model(
        f"add_{dtype}",
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        [
            helper.make_tensor_value_info("a", t, ["batch", 4]),
            helper.make_tensor_value_info("b", t, ["batch", 4]),
        ],
        [helper.make_tensor_value_info("sum", t, ["batch", 4])],
    )
    return _model_entry(
        files,
        f"add_{dtype}",
        f"element-wise Add of two {dtype} tensors (no overflow)",
        model,
        {"a": a, "b": b},
        {"sum": (a + b).astype(dtype)},
        {"a": dtype, "b": dtype, "sum": dtype},
        {"a": ["batch", 4], "b": ["batch", 4], "sum": ["batch", 4]},
        # int64 arithmetic on inputs: a runtime computing int64 in 32 bits refuses it (RT-051)
        ("int64-range",) if dtype == "int64" else (),
    )


def _mlp_vector(files: dict[str, bytes]) -> dict[str, Any]:
    """``mlp_float32``: the perceptron of :func:`_mlp`, two outputs."""
    model, inputs, outputs = _mlp()
    return _model_entry(
        files,
        "mlp_float32",
        "a two-layer perceptron (4-64-3) with fixed weights: MatMul, Add, Relu, Softmax; two "
        "outputs; w1 is 1 KiB",
        model,
        inputs,
        outputs,
        {"x": "float32", "logits": "float32", "probabilities": "float32"},
        {"x": ["batch", 4], "logits": ["batch", 3], "probabilities": ["batch", 3]},
    )


def build_models(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Add every model vector's files to ``files``; return their index entries, in order."""
    return [
        *(_identity_vector(files, dtype) for dtype in _ALL),
        *(_add_vector(files, dtype) for dtype in _NUMERIC),
        _mlp_vector(files),
        _exp_vector(files),
    ]
