#!/usr/bin/env python3
"""Generate the golden vectors of the conformance suite into ``specs/v1/vectors``.

Every vendor's plugin is tested against these same bytes (spec: conformance.md):

- ``datasets/*.arrow``: Arrow IPC files with awkward types (nulls everywhere, nested lists and
  structs, dictionaries, large strings, time zones, decimals, zero-row batches, Unicode);
- ``models/<name>/``: tiny ONNX models over every tensor dtype, with known inputs and outputs
  as ``.npy`` (no pickles) or, for strings, JSON;
- ``vectors.json``: the index (what each vector holds, the capabilities it exercises, expected
  values) and ``CHECKSUMS.sha256`` (``sha256sum -c`` format) over every other file.

The output is deterministic: fixed values and seeds, no timestamps, so running the script twice
gives the same bytes; ``tests/test_vectors.py`` fails when the committed vectors are stale.
Usage: ``python scripts/generate_vectors.py [OUT_DIR]``.
"""

from __future__ import annotations

import decimal
import hashlib
import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "specs" / "v1" / "vectors"
SPEC = ROOT / "specs" / "v1" / "conformance.md"
INDEX = "vectors.json"
CHECKSUMS = "CHECKSUMS.sha256"
OPSET = 17
IR_VERSION = 8
PRODUCER = "interlock generate_vectors.py"

# -- datasets ---------------------------------------------------------------------------------


def _primitives() -> pa.Table:
    # uint64 stops at 2**63 - 1: a text format reads larger values back as float64, which
    # dataset.md (DS-102) allows, so no format-independent case can ask for more.
    ints = {
        name: pa.array(
            [info.min, -1 if info.min < 0 else 0, None, 1, min(info.max, 2**63 - 1)], type
        )
        for name, type in (
            ("int8", pa.int8()),
            ("int16", pa.int16()),
            ("int32", pa.int32()),
            ("int64", pa.int64()),
            ("uint8", pa.uint8()),
            ("uint16", pa.uint16()),
            ("uint32", pa.uint32()),
            ("uint64", pa.uint64()),
        )
        for info in [np.iinfo(type.to_pandas_dtype())]
    }
    floats = {
        "float32": pa.array([1.5, -0.0, None, float("inf"), float("nan")], pa.float32()),
        "float64": pa.array(
            [np.finfo("float64").max, -0.0, float("nan"), None, 5e-324], pa.float64()
        ),
    }
    return pa.table(
        {
            "bool": pa.array([True, False, None, True, False]),
            **ints,
            **floats,
            "string": pa.array(["a", "", None, "plain text", 'with, comma "quote"']),
        }
    )


def _all_nulls() -> pa.Table:
    n = 4
    return pa.table(
        {
            "null": pa.nulls(n, pa.null()),
            "bool": pa.nulls(n, pa.bool_()),
            "int64": pa.nulls(n, pa.int64()),
            "float64": pa.nulls(n, pa.float64()),
            "string": pa.nulls(n, pa.string()),
        }
    )


_UNICODE_VALUES = [
    "ascii",
    "naïve café",  # Latin-1 range
    "日本語テキスト",  # CJK
    "emoji 🙂🚀 and a flag 🇺🇦",  # astral plane, regional indicators
    "עברית ومعها العربية",  # right-to-left
    "e\u0301 combining, \u200d zero-width joiner, \ufeff BOM",
    "line\nbreak\ttab\r\nCRLF",
    "",
    None,
    "nul \x00 inside",
]


def _unicode() -> pa.Table:
    values = _UNICODE_VALUES
    return pa.table(
        {
            "text": pa.array(values, pa.string()),
            "列": pa.array(list(range(len(values))), pa.int32()),
            "clé 🔑": pa.array([v[::-1] if v else v for v in values], pa.string()),
        }
    )


def _binary() -> pa.Table:
    return pa.table(
        {
            "binary": pa.array([b"", b"\x00\x01\xff", None, bytes(range(256))], pa.binary()),
            "fixed4": pa.array(
                [b"abcd", None, b"\x00\x00\x00\x00", b"\xff\xfe\xfd\xfc"], pa.binary(4)
            ),
        }
    )


def _large() -> pa.Table:
    # One value of 64 KiB: large enough to cross any small page or buffer boundary.
    big = ("large ünïcode 🙂 " * 4096)[: 64 * 1024]
    return pa.table(
        {
            "large_string": pa.array([big, "", None, "short"], pa.large_string()),
            "large_binary": pa.array([b"\x00" * 1024, None, b"", b"\xff"], pa.large_binary()),
            "large_list": pa.array(
                [[1, None], None, [], list(range(100))], pa.large_list(pa.int64())
            ),
        }
    )


def _nested() -> pa.Table:
    inner = pa.struct([("d", pa.float64())])
    record = pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string())), ("c", inner)])
    return pa.table(
        {
            "list": pa.array([[1, 2, 3], [], None, [None, 4], [5]], pa.list_(pa.int64())),
            "list_of_lists": pa.array(
                [[["a"], []], None, [None, ["b", None, "c"]], [], [["d"]]],
                pa.list_(pa.list_(pa.string())),
            ),
            "struct": pa.array(
                [
                    {"a": 1, "b": ["x"], "c": {"d": 1.5}},
                    None,
                    {"a": None, "b": None, "c": None},
                    {"a": 4, "b": [], "c": {"d": None}},
                    {"a": -5, "b": [None, "y"], "c": {"d": -0.25}},
                ],
                record,
            ),
            "map": pa.array(
                [[("k", 1), ("l", None)], [], None, [("ключ", 3)], [("k", 5)]],
                pa.map_(pa.string(), pa.int64()),
            ),
            "list_of_structs": pa.array(
                [
                    [{"a": 1, "b": None}],
                    None,
                    [],
                    [None, {"a": None, "b": "é"}],
                    [{"a": 2, "b": "z"}],
                ],
                pa.list_(pa.struct([("a", pa.int64()), ("b", pa.string())])),
            ),
            "fixed_list": pa.array(
                [[1.0, 2.0, 3.0], None, [0.0, -0.0, 1e30], [None, 5.0, 6.0], [7.0, 8.0, 9.0]],
                pa.list_(pa.float32(), 3),
            ),
        }
    )


def _dictionary() -> pa.Table:
    labels = pa.array(["red", "green", "blue", "unused"])
    return pa.table(
        {
            "color": pa.DictionaryArray.from_arrays(
                pa.array([0, 1, None, 2, 0, 1], pa.int32()), labels
            ),
            "code": pa.array(["x", "y", "x", None, "z", "x"])
            .dictionary_encode()
            .cast(pa.dictionary(pa.int8(), pa.string())),
        }
    )


def _decimal() -> pa.Table:
    d = decimal.Decimal
    return pa.table(
        {
            "price": pa.array(
                [d("0.01"), d("-999.99"), None, d("123.45"), d("0.00")], pa.decimal128(5, 2)
            ),
            "wide": pa.array(
                [
                    d("1234567890123456789012345678.0123456789"),
                    d("-0.0000000001"),
                    d("0E-10"),
                    None,
                    d("1E+27"),
                ],
                pa.decimal128(38, 10),
            ),
            "huge": pa.array(
                [
                    d("9" * 40 + "." + "9" * 36),
                    None,
                    d("-1." + "0" * 35 + "1"),
                    d("0E-36"),
                    d("42"),
                ],
                pa.decimal256(76, 36),
            ),
        }
    )


def _temporal() -> pa.Table:
    return pa.table(
        {
            "date32": pa.array([0, 19_000, None, -1, 2_932_896], pa.date32()),
            "date64": pa.array([0, 1_641_600_000_000, None, -86_400_000, 86_400_000], pa.date64()),
            "time32_s": pa.array([0, 86_399, None, 3_600, 1], pa.time32("s")),
            "time32_ms": pa.array([0, 86_399_999, None, 1, 500], pa.time32("ms")),
            "time64_us": pa.array([0, 86_399_999_999, None, 1, 123_456], pa.time64("us")),
            "time64_ns": pa.array([0, 86_399_999_999_999, None, 1, 123_456_789], pa.time64("ns")),
            "timestamp_ms": pa.array(
                [0, 1_700_000_000_123, None, -1, 253_402_300_799_999], pa.timestamp("ms")
            ),
            "timestamp_us": pa.array([0, 1_700_000_000_123_456, None, -1, 1], pa.timestamp("us")),
            "timestamp_ns": pa.array(
                [0, 1_700_000_000_123_456_789, None, -1, 1], pa.timestamp("ns")
            ),
            "duration_s": pa.array([0, -1, None, 86_400, 1], pa.duration("s")),
            "duration_ns": pa.array([0, -1, None, 86_400_000_000_000, 1], pa.duration("ns")),
        }
    )


def _timestamp_tz() -> pa.Table:
    # Instants around the 2021-03-14 US daylight-saving change, the epoch and a pre-1970 value.
    base = [1_615_705_200, 1_615_708_800, None, 0, -86_400]
    return pa.table(
        {
            "utc": pa.array(
                [v * 1_000_000 if v is not None else None for v in base],
                pa.timestamp("us", tz="UTC"),
            ),
            "new_york": pa.array(
                [v * 1_000_000_000 if v is not None else None for v in base],
                pa.timestamp("ns", tz="America/New_York"),
            ),
            "kathmandu": pa.array(
                [v * 1_000 if v is not None else None for v in base],
                pa.timestamp("ms", tz="Asia/Kathmandu"),
            ),
            "offset": pa.array(base, pa.timestamp("s", tz="+05:30")),
        }
    )


def _empty() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([], pa.int64()),
            "score": pa.array([], pa.float64()),
            "label": pa.array([], pa.string()),
            "flag": pa.array([], pa.bool_()),
        }
    )


def _zero_row_batches() -> list[pa.RecordBatch]:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    sizes = [3, 0, 2, 0, 1]
    batches, start = [], 0
    for size in sizes:
        ids = list(range(start, start + size))
        batches.append(
            pa.record_batch(
                [pa.array(ids, pa.int64()), pa.array([f"row {i}" for i in ids])], schema=schema
            )
        )
        start += size
    return batches


def _filterable() -> list[pa.RecordBatch]:
    # Sorted ids in separate batches, so a format that keeps batches as row groups can prune.
    schema = pa.schema([("id", pa.int64()), ("group", pa.string()), ("value", pa.float64())])
    batches = []
    for start in range(0, 40, 10):
        ids = list(range(start, start + 10))
        batches.append(
            pa.record_batch(
                [
                    pa.array(ids, pa.int64()),
                    pa.array(["even" if i % 2 == 0 else "odd" for i in ids]),
                    pa.array([None if i % 7 == 3 else i / 4 for i in ids], pa.float64()),
                ],
                schema=schema,
            )
        )
    return batches


#: name -> (builder, capabilities a format must claim to round-trip it, description)
DATASETS: dict[str, tuple[Callable[[], Any], list[str], str]] = {
    "primitives": (
        _primitives,
        [],
        "bool, every integer width at its extremes (uint64 up to 2**63-1), float32/64 with NaN, "
        "infinities and -0.0, strings with CSV-hostile characters; nulls in every column",
    ),
    "all_nulls": (
        _all_nulls,
        [],
        "columns whose every value is null, including a column of Arrow's null type",
    ),
    "unicode": (
        _unicode,
        [],
        "Unicode text (CJK, emoji, right-to-left, combining marks, BOM, NUL, line breaks) and "
        "non-ASCII column names",
    ),
    "binary": (
        _binary,
        ["types:binary"],
        "binary and fixed_size_binary values, including empty and all 256 byte values",
    ),
    "large": (
        _large,
        ["types:large"],
        "large_string (with a 64 KiB value), large_binary and large_list columns",
    ),
    "nested": (
        _nested,
        ["types:nested"],
        "list, list of lists, list of structs, struct with nested list and struct, map and "
        "fixed_size_list, with nulls at every level and empty lists",
    ),
    "dictionary": (
        _dictionary,
        ["types:dictionary"],
        "dictionary-encoded strings with int32 and int8 indices, nulls and an unused dictionary "
        "entry",
    ),
    "decimal": (
        _decimal,
        ["types:decimal"],
        "decimal128(5,2), decimal128(38,10) and decimal256(76,36) at the edges of their precision",
    ),
    "temporal": (
        _temporal,
        ["types:temporal"],
        "date32, date64, time32, time64, naive timestamps (ms, us, ns) and durations, including "
        "pre-1970 values",
    ),
    "timestamp_tz": (
        _timestamp_tz,
        ["types:timestamp_tz"],
        "timezone-aware timestamps (UTC, America/New_York across a DST change, Asia/Kathmandu, "
        "+05:30) in s, ms, us and ns",
    ),
    "empty": (_empty, [], "a dataset with a schema and zero rows"),
    "zero_row_batches": (
        _zero_row_batches,
        [],
        "a stream of five batches of 3, 0, 2, 0 and 1 rows",
    ),
    "filterable": (
        _filterable,
        [],
        "40 rows with sorted ids in four batches of 10, for projection and filter cases",
    ),
}


def _batches(value: pa.Table | list[pa.RecordBatch]) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    if isinstance(value, pa.Table):
        return value.schema, value.to_batches() or []
    return value[0].schema, value


def _ipc_bytes(schema: pa.Schema, batches: list[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _column_summary(schema: pa.Schema, batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    table = pa.Table.from_batches(batches, schema=schema)
    return [
        {
            "name": field.name,
            "type": str(field.type),
            "nullable": field.nullable,
            "null_count": table.column(field.name).null_count,
        }
        for field in schema
    ]


def build_datasets(files: dict[str, bytes]) -> list[dict[str, Any]]:
    entries = []
    for name, (builder, capabilities, description) in DATASETS.items():
        schema, batches = _batches(builder())
        path = f"datasets/{name}.arrow"
        files[path] = _ipc_bytes(schema, batches)
        entry: dict[str, Any] = {
            "name": name,
            "file": path,
            "description": description,
            "capabilities": capabilities,
            "num_rows": sum(b.num_rows for b in batches),
            "batch_rows": [b.num_rows for b in batches],
            "columns": _column_summary(schema, batches),
        }
        if name == "unicode":
            # Exact expected text, readable without Arrow: what every reader must return.
            entry["expected_rows"] = pa.Table.from_batches(batches, schema=schema).to_pylist()
        entries.append(entry)
    return entries


# -- models -----------------------------------------------------------------------------------

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
    }


def build_models(files: dict[str, bytes]) -> list[dict[str, Any]]:
    entries = []
    for dtype in _ALL:
        t = _ONNX_TYPE[dtype]
        x = _identity_input(dtype)
        model = _model(
            f"identity_{dtype}",
            [helper.make_node("Identity", ["x"], ["y"])],
            [helper.make_tensor_value_info("x", t, ["batch", 3])],
            [helper.make_tensor_value_info("y", t, ["batch", 3])],
        )
        entries.append(
            _model_entry(
                files,
                f"identity_{dtype}",
                f"Identity over {dtype}, with the dtype's extreme values",
                model,
                {"x": x},
                {"y": x.copy()},
                {"x": dtype, "y": dtype},
                {"x": ["batch", 3], "y": ["batch", 3]},
            )
        )
    for dtype in _NUMERIC:
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
        entries.append(
            _model_entry(
                files,
                f"add_{dtype}",
                f"element-wise Add of two {dtype} tensors (no overflow)",
                model,
                {"a": a, "b": b},
                {"sum": (a + b).astype(dtype)},
                {"a": dtype, "b": dtype, "sum": dtype},
                {"a": ["batch", 4], "b": ["batch", 4], "sum": ["batch", 4]},
            )
        )
    model, inputs, outputs = _mlp()
    entries.append(
        _model_entry(
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
    )
    return entries


# -- index, checksums, output -----------------------------------------------------------------


def build() -> dict[str, bytes]:
    """Every vector file, by path relative to the vectors directory."""
    files: dict[str, bytes] = {}
    index = {
        "spec_version": "1",
        "generator": "scripts/generate_vectors.py",
        "datasets": build_datasets(files),
        "models": build_models(files),
    }
    files[INDEX] = (json.dumps(index, ensure_ascii=False, indent=1, allow_nan=False) + "\n").encode(
        "utf-8"
    )
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items())
    ]
    files[CHECKSUMS] = "".join(lines).encode("ascii")
    return files


def checksums_digest(files: dict[str, bytes]) -> str:
    """The sha256 of ``CHECKSUMS.sha256``, which conformance.md records."""
    return hashlib.sha256(files[CHECKSUMS]).hexdigest()


_DIGEST_BLOCK = re.compile(r"(<!-- vectors-digest -->)(.*?)(<!-- /vectors-digest -->)", re.S)


def spec_with_digest(spec_text: str, digest: str) -> str:
    """``conformance.md`` with its vectors digest line set to ``digest``."""
    line = f"\n`CHECKSUMS.sha256` has SHA-256 `{digest}`.\n"
    return _DIGEST_BLOCK.sub(lambda m: m.group(1) + line + m.group(3), spec_text)


def generate(out_dir: Path, spec: Path | None = SPEC) -> dict[str, bytes]:
    """Write every vector into ``out_dir`` (removing files that are no longer generated) and
    record the checksums digest in ``spec``; return the files written."""
    files = build()
    out_dir.mkdir(parents=True, exist_ok=True)
    for existing in sorted(out_dir.rglob("*"), reverse=True):
        relative = existing.relative_to(out_dir).as_posix()
        if existing.is_file() and relative not in files:
            existing.unlink()
        elif existing.is_dir() and not any(existing.iterdir()):
            existing.rmdir()
    for path, data in files.items():
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
    if spec is not None and spec.is_file():
        text = spec.read_text(encoding="utf-8")
        updated = spec_with_digest(text, checksums_digest(files))
        if updated != text:
            spec.write_text(updated, encoding="utf-8")
    return files


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else VECTORS
    files = generate(out_dir, SPEC if out_dir == VECTORS else None)
    total = sum(len(data) for data in files.values())
    print(f"wrote {len(files)} files ({total / 1024:.0f} KiB) to {out_dir}")
    print(f"CHECKSUMS.sha256: sha256 {checksums_digest(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
