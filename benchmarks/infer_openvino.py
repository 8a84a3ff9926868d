"""The OpenVINO cases of ``bench_infer.py``: OpenVINO against onnxruntime, and interlock's
``openvino`` predictor against OpenVINO called directly.

Two models, each at batch 1 and at a large batch: the benchmark's MLP and a small
convolutional net (Conv 3x3 3->16, Relu, Conv 3x3 16->16, Relu, GlobalAveragePool, Flatten,
Gemm 16->10 on float32[batch, 3, 32, 32]). Every side runs on one thread: onnxruntime with
``intra_op_num_threads=1`` and ``inter_op_num_threads=1``, OpenVINO with
``INFERENCE_NUM_THREADS=1`` and the latency hint, which compute on the calling thread, so
that the thread's CPU time covers all the work, as in the onnxruntime cases.

* raw vs raw: ``InferRequest.infer`` against ``InferenceSession.run`` on the same model
  file; the ratio is OpenVINO's rows/s over onnxruntime's (above 1: OpenVINO is faster); at
  batch 1 also ``infer(..., share_inputs=True)``, which reads the input in place instead of
  copying it into OpenVINO's tensor first;
* interlock: ``load_predictor(..., runtime="openvino", inference_num_threads=1)`` against
  raw ``InferRequest.infer`` (the same call the predictor makes): interlock's overhead.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import interlock
from bench_infer import FEATURES, THREADS, Row, added_row, compare, mlp, raw_session

IMAGE = (3, 32, 32)
CHANNELS, CONV_CLASSES = 16, 10
#: What the ``openvino`` predictor compiles with, given ``inference_num_threads=1``.
OV_CONFIG = {"INFERENCE_NUM_THREADS": "1", "PERFORMANCE_HINT": "LATENCY",
             "INFERENCE_PRECISION_HINT": "f32"}


def conv_net() -> Any:
    """The convolutional benchmark model, built with onnx.helper (random weights)."""
    rng = np.random.default_rng(2)

    def weight(name: str, *shape: int) -> Any:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name
        )

    weights = [
        weight("c1", CHANNELS, IMAGE[0], 3, 3), weight("b1", CHANNELS),
        weight("c2", CHANNELS, CHANNELS, 3, 3), weight("b2", CHANNELS),
        weight("g", CONV_CLASSES, CHANNELS), weight("gb", CONV_CLASSES),
    ]
    pads = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [
        helper.make_node("Conv", ["x", "c1", "b1"], ["h1"], **pads),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Conv", ["a1", "c2", "b2"], ["h2"], **pads),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("GlobalAveragePool", ["a2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "g", "gb"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "convnet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *IMAGE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", CONV_CLASSES])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def ratio_row(case: str, m: dict[str, float], rows_per_call: int) -> Row:
    """A table row for OpenVINO (``ours``) against onnxruntime (``raw``), raw vs raw."""
    return (
        case,
        "rows/s",
        f"{rows_per_call / m['raw_cpu']:,.0f}",
        f"{rows_per_call / m['ours_cpu']:,.0f}",
        f"{m['raw_cpu'] / m['ours_cpu']:.2f}x",
        f"{m['raw'] / m['ours']:.2f}x",
        "(openvino/onnxruntime)",
    )


def overhead_row(case: str, m: dict[str, float], rows_per_call: int) -> Row:
    """A table row for interlock's ``openvino`` predictor against raw OpenVINO, at a batch."""
    return (
        case,
        "rows/s",
        f"{rows_per_call / m['raw_cpu']:,.0f}",
        f"{rows_per_call / m['ours_cpu']:,.0f}",
        f"{m['raw_cpu'] / m['ours_cpu']:.3f}x",
        f"{m['raw'] / m['ours']:.3f}x",
        "(interlock/raw)",
    )


def model_cases(
    label: str, artifact: interlock.Artifact, shape: tuple[int, ...], args: argparse.Namespace
) -> list[Row]:
    """Batch 1 and ``args.rows`` of one model: OpenVINO vs onnxruntime, interlock vs OpenVINO."""
    import openvino as ov

    session = raw_session(artifact)
    compiled = ov.Core().compile_model(str(artifact.local_dir() / "model.onnx"), "CPU", OV_CONFIG)
    request = compiled.create_infer_request()
    predictor = interlock.load_predictor(artifact, "openvino", inference_num_threads=1)
    rng = np.random.default_rng(3)
    # per call, a large batch of images costs about 400 calls at batch 1: fewer calls
    scale = max(1, int(np.prod(shape)) // FEATURES)
    rows: list[Row] = []
    for batch, calls in ((1, args.calls), (args.rows, max(3, args.calls // (25 * scale)))):
        x = {"x": rng.standard_normal((batch, *shape)).astype(np.float32)}
        m = compare(lambda: session.run(None, x), lambda: request.infer(x), calls, args.reps)
        rows.append(ratio_row(f"{label}, batch {batch}: ov vs ort", m, batch))
        if batch == 1:  # OpenVINO reading the input in place instead of copying it first
            # (its own request: a request that shared an input keeps that array as its tensor)
            own = compiled.create_infer_request()
            shared = lambda: own.infer(x, share_inputs=True)  # noqa: E731
            m = compare(lambda: session.run(None, x), shared, calls, args.reps)
            rows.append(ratio_row(f"{label}, batch 1: ov shared vs ort", m, batch))
        m = compare(lambda: request.infer(x), lambda: predictor.infer(x), calls, args.reps)
        if batch == 1:  # the onnxruntime predictor's target (10 us) is not OpenVINO's: none
            rows.append((*added_row(f"{label}, batch 1: interlock ov", m)[:6], "(interlock-raw)"))
        else:
            rows.append(overhead_row(f"{label}, batch {batch}: interlock ov", m, batch))
    return rows


def openvino_cases(store: str, args: argparse.Namespace) -> list[Row]:
    """Every OpenVINO row: the MLP, then the convolutional net."""
    mlp_artifact = interlock.save_artifact(mlp(), store, name="ov-mlp", version="1")
    conv_artifact = interlock.save_artifact(conv_net(), store, name="ov-conv", version="1")
    rows = model_cases("mlp", mlp_artifact, (FEATURES,), args)
    return rows + model_cases("conv", conv_artifact, IMAGE, args)


def print_openvino_table(rows: list[Row], reps: int) -> None:
    import openvino as ov

    print(f"\nopenvino {ov.__version__.split('-')[0]} (CPU, INFERENCE_NUM_THREADS=1, latency hint,"
          f" f32) against onnxruntime ({THREADS}); conv: {CHANNELS}-channel 3x3 convs on "
          f"float32[batch,{','.join(map(str, IMAGE))}]; medians of {reps} repetitions, CPU time")
    header = ("case", "unit", "baseline", "measured", "ratio (CPU)", "ratio (wall)", "")
    widths = (34, 8, 12, 12, 13, 14, 22)
    for row in [header, *rows]:
        cells = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        print("  ".join(cells))
