"""What interlock's gRPC server costs over a bare gRPC server around onnxruntime.

Two servers run side by side in one child process, on one event loop each:

* **raw**: a minimal ``grpc.aio`` ``ModelInfer`` that does ``numpy.frombuffer``,
  ``InferenceSession.run`` and ``tobytes`` and nothing else (no validation, no limits, no
  metrics): the floor any Python gRPC front end on onnxruntime pays;
* **interlock**: ``interlock.serve(..., servers={"grpc": 0})`` on the same ONNX model.

The parent process drives both with the unmodified Triton gRPC client, interleaving the two
servers repetition by repetition, and reports median latency of sequential requests and the
throughput of concurrent clients, with ratios interlock / raw.

    python benchmarks/bench_grpc.py [--repeats 5] [--requests 300] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

FEATURES = 256
SIZES = {"1 row": 1, "64 rows": 64}


def build_model() -> Any:
    """``y = relu(x @ W + b)`` with ``x`` FP32 [batch, 256] and ``W`` [256, 256]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.standard_normal((FEATURES, FEATURES)).astype(np.float32)
    bias = rng.standard_normal(FEATURES).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["z"]),
            helper.make_node("Relu", ["z"], ["y"]),
        ],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", FEATURES])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


# -- child: the two servers ---------------------------------------------------------------------


def serve_both() -> None:
    import grpc
    import onnxruntime as ort

    import interlock
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
    from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pb_grpc

    model = build_model()
    root = tempfile.mkdtemp(prefix="bench-grpc-")
    interlock.save_artifact(model, root, name="dense", version="1")
    # One onnxruntime thread per call on both sides: the comparison is about the serving
    # layers, and concurrent requests already keep the cores busy.
    running = interlock.serve(
        [root],
        servers={"grpc": 0},
        block=False,
        runtime_options={"intra_op_num_threads": 1},
    )

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    class Raw(pb_grpc.GRPCInferenceServiceServicer):
        async def ModelInfer(self, request: Any, context: Any) -> Any:
            tensor = request.inputs[0]
            x = np.frombuffer(request.raw_input_contents[0], dtype=np.float32).reshape(tensor.shape)
            y = session.run(None, {"x": x})[0]
            response = pb.ModelInferResponse(model_name="dense", model_version="1", id=request.id)
            response.outputs.add(name="y", datatype="FP32", shape=y.shape)
            response.raw_output_contents.append(y.tobytes())
            return response

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    address: list[str] = []

    async def start() -> None:
        server = grpc.aio.server()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(Raw(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        address.append(f"127.0.0.1:{port}")
        ready.set()
        await server.wait_for_termination()

    threading.Thread(target=loop.run_until_complete, args=(start(),), daemon=True).start()
    ready.wait()
    print(f"{address[0]} {running.address('grpc')}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    running.stop(grace_seconds=1)


# -- parent: the clients ------------------------------------------------------------------------


def sequential_ms(address: str, rows: int, requests: int) -> float:
    import tritonclient.grpc as triton

    x = np.ones((rows, FEATURES), dtype=np.float32)
    with triton.InferenceServerClient(address) as client:
        tensor = triton.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        for _ in range(10):  # warm-up
            client.infer("dense", [tensor])
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            client.infer("dense", [tensor])
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def throughput(address: str, rows: int, requests: int, clients: int) -> float:
    import tritonclient.grpc as triton

    x = np.ones((rows, FEATURES), dtype=np.float32)

    def worker(count: int) -> None:
        with triton.InferenceServerClient(address) as client:
            tensor = triton.InferInput("x", list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            for _ in range(count):
                client.infer("dense", [tensor])

    per_client = max(1, requests // clients)
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, [per_client] * clients))
    return per_client * clients / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_both()
        return
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        raw_address, interlock_address = child.stdout.readline().split()
        servers = {"raw": raw_address, "interlock": interlock_address}
        rows_out = []
        for label, rows in SIZES.items():
            latency: dict[str, list[float]] = {name: [] for name in servers}
            rate: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(args.repeats):  # interleaved: raw, interlock, raw, interlock, ...
                for name, address in servers.items():
                    latency[name].append(sequential_ms(address, rows, args.requests))
                    rate[name].append(throughput(address, rows, args.requests, args.clients))
            lat = {n: statistics.median(v) for n, v in latency.items()}
            thr = {n: statistics.median(v) for n, v in rate.items()}
            rows_out.append((label, lat, thr))
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(30)
    print(f"\nModelInfer, FP32 [rows, {FEATURES}] dense layer, Triton gRPC client")
    print(f"{'request':<10}{'metric':<28}{'raw':>10}{'interlock':>12}{'ratio':>8}")
    for label, lat, thr in rows_out:
        print(
            f"{label:<10}{'median latency (ms)':<28}{lat['raw']:>10.3f}"
            f"{lat['interlock']:>12.3f}{lat['interlock'] / lat['raw']:>8.2f}"
        )
        print(
            f"{'':<10}{f'throughput, {args.clients} clients (req/s)':<28}{thr['raw']:>10.0f}"
            f"{thr['interlock']:>12.0f}{thr['interlock'] / thr['raw']:>8.2f}"
        )


if __name__ == "__main__":
    main()
