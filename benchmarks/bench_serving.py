"""Serving throughput and latency: interlock against MLServer, a bare ASGI endpoint and
in-process onnxruntime, all in one run.

The model is an MLP (64-256-256-10, float32, fixed seed, built with onnx.helper). Every side
runs onnxruntime on the CPU with ``intra_op_num_threads=1``, and each server is one process
on one event loop:

* **onnxruntime in-process**: ``InferenceSession.run`` in a loop, the floor;
* **bare ASGI**: body -> orjson -> onnxruntime -> orjson and nothing else, on uvicorn with
  httptools and uvloop (``serving/servers.py``), the practical limit of a Python endpoint;
  **bare gRPC** is the same for gRPC (``grpc.aio``: ``frombuffer`` -> onnxruntime ->
  ``tobytes``), the ceiling of any Python gRPC front end;
* **MLServer** 1.7.1, in its own virtualenv (``benchmarks/.venv-mlserver``, created on first
  run), serving the ONNX file through a minimal custom runtime (``serving/mlserver_runtime.py``)
  and set up for speed: ``parallel_workers=0``, debug (access logs) off, metrics off, gzip off;
* **interlock**: ``interlock.serve`` (REST and gRPC in one process), with JSON, with the binary
  tensor data extension and over gRPC; and with dynamic batching (``max_batch_size=32``).

Load: ``wrk`` (system package) with a Lua script that POSTs the request for REST, and
``h2load`` (nghttp2's HTTP/2 load generator, system package ``nghttp2-client``) for gRPC: one
connection, the request as a length-prefixed gRPC message, per-call latencies from its log.
Both are C and closed loops that keep ``concurrency`` requests in flight and record every
latency. (``serving/grpc_load.py``, a grpcio client, is the alternative with
``--grpc-load python``; it tops out below the faster servers, so it measures itself.)
With two or more cores the servers are pinned to CPU 0 and the load generators to CPU 1.
Cells (concurrency 1, 8, 32 x batch 1, 32) are interleaved across servers and repeated;
figures are medians over repetitions.

    python benchmarks/bench_serving.py [--quick] [--repeats 3] [--duration 5] [--no-doc]

Needs ``wrk`` and ``h2load`` (``apt-get install -y wrk nghttp2-client``; installed
automatically when run as root) and uvicorn for the bare ASGI endpoint
(``pip install -e '.[all,bench]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SERVING = HERE / "serving"
MLSERVER_VENV = HERE / ".venv-mlserver"
MLSERVER_PACKAGES = ["mlserver==1.7.1", "uvloop<0.22", "httptools", "onnxruntime", "numpy"]
DOC = HERE.parent / "docs" / "performance.md"
FEATURES, HIDDEN, CLASSES = 64, 256, 10
BATCHES = (1, 32)
CONCURRENCY = (1, 8, 32)

sys.path.insert(0, str(SERVING))
from report import Sample, report  # noqa: E402


def build_model() -> Any:
    """The MLP 64-256-256-10 (ReLU between layers), random weights from seed 0."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    sizes = [FEATURES, HIDDEN, HIDDEN, CLASSES]
    nodes, weights, current = [], [], "x"
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.1).astype(np.float32)
        weights += [
            numpy_helper.from_array(w, f"w{layer}"),
            numpy_helper.from_array(b, f"b{layer}"),
        ]
        last = layer == len(sizes) - 2
        out = "y" if last else f"z{layer}"
        nodes.append(helper.make_node("MatMul", [current, f"w{layer}"], [f"m{layer}"]))
        nodes.append(helper.make_node("Add", [f"m{layer}", f"b{layer}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"a{layer}"]))
            current = f"a{layer}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", CLASSES])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def inputs(batch: int) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, FEATURES)).astype(np.float32)


def write_requests(directory: Path) -> dict[tuple[str, int], tuple[Path, int | None]]:
    """Request files by (kind, batch): the body, and the JSON part's length for binary ones."""
    import orjson
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

    files: dict[tuple[str, int], tuple[Path, int | None]] = {}
    for batch in BATCHES:
        x = inputs(batch)
        shape = [batch, FEATURES]
        tensor = {"name": "x", "shape": shape, "datatype": "FP32"}
        body = orjson.dumps({"inputs": [{**tensor, "data": x.ravel().tolist()}]})
        header = orjson.dumps(
            {
                "inputs": [{**tensor, "parameters": {"binary_data_size": x.nbytes}}],
                "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
            }
        )
        request = pb.ModelInferRequest(model_name="mlp")
        request.inputs.add(name="x", datatype="FP32", shape=shape)
        request.raw_input_contents.append(x.tobytes())
        for kind, data, length in (
            ("json", body, None),
            ("binary", header + x.tobytes(), len(header)),
            ("grpc", request.SerializeToString(), None),
        ):
            path = directory / f"{kind}-{batch}.bin"
            path.write_bytes(data)
            files[kind, batch] = (path, length)
    return files


# -- tools --------------------------------------------------------------------------------------


def ensure_tool(tool: str, package: str) -> str:
    """The path of a load generator; installed with apt-get when missing and running as root."""
    found = shutil.which(tool)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {tool} (apt-get install -y {package}) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=False,
                       stdout=subprocess.DEVNULL)
        found = shutil.which(tool)
    if found is None:
        sys.exit(f"bench_serving needs the {tool} load generator: sudo apt-get install -y "
                 f"{package}, then run again")
    return found


def ensure_mlserver() -> Path:
    """MLServer's interpreter, in its own virtualenv (created and filled on first use)."""
    python = MLSERVER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import mlserver, onnxruntime, httptools, uvloop"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing {' '.join(MLSERVER_PACKAGES)} into {MLSERVER_VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *MLSERVER_PACKAGES], check=True)
    return python


def versions() -> str:
    """The versions of what was measured, for the record."""
    import platform

    import interlock
    import onnxruntime

    probe = "import mlserver; print(mlserver.__version__)"
    mlserver = subprocess.run([str(MLSERVER_VENV / "bin" / "python"), "-c", probe],
                              capture_output=True, text=True).stdout.strip() or "?"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    wrk_words = (wrk.stdout or wrk.stderr).split()
    return (f"interlock {interlock.__version__}, MLServer {mlserver}, onnxruntime "
            f"{onnxruntime.__version__}, wrk {wrk_words[1] if len(wrk_words) > 1 else '?'}, "
            f"Python {platform.python_version()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *command] if cpu is not None else command


# -- servers ------------------------------------------------------------------------------------


class Process:
    """A server process: started pinned, awaited until its model is ready, stopped by SIGINT."""

    def __init__(self, name: str, command: list[str], port: int, log: Path, *,
                 http: bool = True, **popen: Any):
        self.name = name
        self.port = port
        self.http = http
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(command, stdout=self._file, stderr=subprocess.STDOUT,
                                        start_new_session=True, **popen)

    def wait_ready(self, timeout: float = 180.0) -> None:
        url = f"http://127.0.0.1:{self.port}/v2/models/mlp/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{self.name} exited; its log:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if not self.http:  # a gRPC-only server listens once its model is loaded
                    socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                    return
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.25)
        sys.exit(f"{self.name} was not ready after {timeout:.0f} s; log: {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()


@contextlib.contextmanager
def servers(work: Path, cpu: str | None, batching: bool) -> Iterator[dict[str, Any]]:
    """Start every server; yield the endpoint of each measured configuration."""
    mlserver_python = ensure_mlserver()
    model = build_model()
    onnx_path = work / "model.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    import interlock

    store = work / "store"
    interlock.save_artifact(model, str(store), name="mlp", version="1")
    me = sys.executable
    ports = {name: free_port() for name in ("il", "il-g", "ilb", "ilb-g", "bare", "bare-g", "ml",
                                            "ml-g")}
    repo = work / "mlserver"
    (repo / "mlp").mkdir(parents=True)
    (repo / "settings.json").write_text(json.dumps({
        "debug": False, "parallel_workers": 0, "metrics_endpoint": None, "gzip_enabled": False,
        "host": "127.0.0.1", "http_port": ports["ml"], "grpc_port": ports["ml-g"],
    }))
    (repo / "mlp" / "model-settings.json").write_text(json.dumps({
        "name": "mlp", "implementation": "mlserver_runtime.OnnxModel",
        "parameters": {"uri": str(onnx_path)},
    }))
    script = str(SERVING / "servers.py")
    started = [
        Process("interlock", pinned([me, script, "interlock", str(store), "--http-port",
                str(ports["il"]), "--grpc-port", str(ports["il-g"])], cpu), ports["il"],
                work / "interlock.log"),
        Process("bare ASGI", pinned([me, script, "bare", str(onnx_path), "--http-port",
                str(ports["bare"])], cpu), ports["bare"], work / "bare.log"),
        Process("bare gRPC", pinned([me, script, "bare-grpc", str(onnx_path), "--grpc-port",
                str(ports["bare-g"])], cpu), ports["bare-g"], work / "bare-grpc.log", http=False),
        Process("MLServer", pinned([str(mlserver_python), "-m", "mlserver.cli.main", "start",
                str(repo)], cpu), ports["ml"], work / "mlserver.log",
                env={**os.environ, "PYTHONPATH": str(SERVING)}, cwd=str(repo)),
    ]
    if batching:
        started.append(Process("interlock batching", pinned(
            [me, script, "interlock", str(store), "--http-port", str(ports["ilb"]),
             "--grpc-port", str(ports["ilb-g"]), "--max-batch-size", "32"], cpu),
            ports["ilb"], work / "interlock-batching.log"))
    try:
        for process in started:
            process.wait_ready()
        rest = "http://127.0.0.1:{}/v2/models/mlp/infer"
        yield {
            "bare ASGI, JSON": ("rest", "json", rest.format(ports["bare"])),
            "bare gRPC": ("grpc", "grpc", f"127.0.0.1:{ports['bare-g']}"),
            "MLServer REST, JSON": ("rest", "json", rest.format(ports["ml"])),
            "MLServer gRPC": ("grpc", "grpc", f"127.0.0.1:{ports['ml-g']}"),
            "interlock REST, JSON": ("rest", "json", rest.format(ports["il"])),
            "interlock REST, binary": ("rest", "binary", rest.format(ports["il"])),
            "interlock gRPC": ("grpc", "grpc", f"127.0.0.1:{ports['il-g']}"),
            "interlock REST, JSON, batching": ("rest", "json", rest.format(ports["ilb"])),
            "interlock gRPC, batching": ("grpc", "grpc", f"127.0.0.1:{ports['ilb-g']}"),
        }
    finally:
        for process in started:
            process.stop()


def check_answers(endpoints: dict[str, Any],
                  requests: dict[tuple[str, int], tuple[Path, int | None]],
                  model_path: Path) -> None:
    """Every endpoint must compute what onnxruntime computes: a fair race runs the same model."""
    import grpc
    import onnxruntime as ort
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    for batch in BATCHES:
        expected = session.run(None, {"x": inputs(batch)})[0]
        for name, (protocol, kind, address) in endpoints.items():
            path, json_length = requests[kind, batch]
            if protocol == "grpc":
                with grpc.insecure_channel(address) as channel:
                    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
                    answer = pb.ModelInferResponse.FromString(call(path.read_bytes(), timeout=30))
                got = np.frombuffer(answer.raw_output_contents[0], dtype=np.float32)
            else:
                headers = {"Content-Type": "application/json"}
                if json_length is not None:
                    headers["Inference-Header-Content-Length"] = str(json_length)
                post = urllib.request.Request(address, data=path.read_bytes(), headers=headers)
                with urllib.request.urlopen(post, timeout=30) as response:
                    body = response.read()
                    header = response.headers.get("Inference-Header-Content-Length")
                if header is None:
                    got = np.asarray(json.loads(body)["outputs"][0]["data"], dtype=np.float32)
                else:
                    got = np.frombuffer(body[int(header):], dtype=np.float32)
            if not np.allclose(got.reshape(expected.shape), expected, rtol=1e-4, atol=1e-5):
                sys.exit(f"{name} answered batch {batch} with other values than onnxruntime")


# -- load ---------------------------------------------------------------------------------------


def run_wrk(wrk: str, url: str, request: tuple[Path, int | None], concurrency: int,
            duration: float, cpu: str | None) -> dict[str, float]:
    path, json_length = request
    env = {**os.environ, "BENCH_BODY": str(path), "BENCH_JSON_LENGTH": str(json_length or "")}
    command = pinned([wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s",
                      "-s", str(SERVING / "post.lua"), url], cpu)
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_h2load(h2load: str, address: str, request: tuple[Path, int | None], concurrency: int,
               duration: float, cpu: str | None) -> dict[str, float]:
    """gRPC load from h2load (C, nghttp2): one HTTP/2 connection with ``concurrency`` calls in
    flight, the request as a length-prefixed gRPC message, every latency from its log file.

    h2load counts HTTP statuses only: a call is an error here unless its HTTP status is 200;
    the answers themselves were checked before any measurement (``check_answers``).
    """
    body = request[0].with_suffix(".grpc")
    if not body.exists():
        message = request[0].read_bytes()
        body.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        command = pinned([h2load, "-c1", f"-m{concurrency}", "-n100000000",
                          f"-D{max(1, round(duration))}", "--warm-up-time=1",
                          "-H", "content-type: application/grpc", "-H", "te: trailers",
                          "-d", str(body), "--log-file", log.name,
                          f"http://{address}/inference.GRPCInferenceService/ModelInfer"], cpu)
        subprocess.run(command, capture_output=True, text=True, check=True)
        rows = [line.split("\t") for line in log.read().splitlines() if line.strip()]
    if not rows:
        return {"requests": 0, "seconds": duration, "errors": 0, "p50_ms": 0.0, "p99_ms": 0.0}
    starts = [int(row[0]) for row in rows]
    latencies = sorted(int(row[2]) / 1000 for row in rows)
    errors = sum(1 for row in rows if row[1] != "200")
    seconds = max((max(starts) - min(starts)) / 1e6, 1e-9)
    return {"requests": len(rows) - errors, "seconds": seconds, "errors": errors,
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def run_grpc(address: str, request: tuple[Path, int | None], concurrency: int,
             duration: float, cpu: str | None, processes: int) -> dict[str, float]:
    command = pinned([sys.executable, str(SERVING / "grpc_load.py"), address, str(request[0]),
                      "--concurrency", str(concurrency), "--processes", str(processes),
                      "--duration", str(duration), "--warmup", "0.5"], cpu)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def floor(model_path: str, batch: int, seconds: float) -> dict[str, float]:
    """In-process ``InferenceSession.run`` calls for ``seconds``: rate and latencies."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    feed = {"x": inputs(batch)}
    for _ in range(200):
        session.run(None, feed)
    samples = []
    clock = time.perf_counter
    end = clock() + seconds
    while (start := clock()) < end:
        session.run(None, feed)
        samples.append(clock() - start)
    samples.sort()
    return {"requests": len(samples), "seconds": sum(samples), "errors": 0,
            "p50_ms": statistics.median(samples) * 1000,
            "p99_ms": samples[int(0.99 * len(samples))] * 1000}


def run_floor(model_path: Path, batch: int, duration: float, cpu: str | None) -> dict[str, float]:
    command = pinned([sys.executable, __file__, "--floor", str(model_path), "--batch", str(batch),
                      "--duration", str(duration)], cpu)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repetition of 2 s cells")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--grpc-load", choices=["h2load", "python"], default="h2load",
                        help="gRPC load generator: h2load (C, default) or grpc_load.py (grpcio, "
                        "slower than the servers it measures)")
    parser.add_argument("--grpc-processes", type=int, default=1,
                        help="processes of grpc_load.py (each one core at most)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    parser.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.floor:
        print(json.dumps(floor(args.floor, args.batch, args.duration)))
        return
    if args.quick:
        args.repeats, args.duration = 1, 2.0
    wrk = ensure_tool("wrk", "wrk")
    h2load = ensure_tool("h2load", "nghttp2-client") if args.grpc_load == "h2load" else ""
    two_cpus = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") and not args.no_pin
    server_cpu, load_cpu = ("0", "1") if two_cpus else (None, None)
    load_before = os.getloadavg()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        requests = write_requests(work)
        with servers(work, server_cpu, batching=True) as endpoints:
            def measure(name: str, batch: int, concurrency: int, seconds: float) -> dict[str, Any]:
                protocol, kind, address = endpoints[name]
                request = requests[kind, batch]
                if protocol == "rest":
                    return run_wrk(wrk, address, request, concurrency, seconds, load_cpu)
                if h2load:
                    return run_h2load(h2load, address, request, concurrency, seconds, load_cpu)
                return run_grpc(address, request, concurrency, seconds, load_cpu,
                                args.grpc_processes)

            check_answers(endpoints, requests, work / "model.onnx")
            for name in endpoints:  # warm-up: first calls (measured by interlock), connections
                measure(name, 1, 8, 1.0)
            plain = [n for n in endpoints if "batching" not in n]
            for repeat in range(args.repeats):
                for batch in BATCHES:
                    samples.append(Sample("onnxruntime in-process", batch, 0, run_floor(
                        work / "model.onnx", batch, min(args.duration, 2.0), server_cpu)))
                    for concurrency in CONCURRENCY:
                        names = list(plain)
                        if batch == 1 and concurrency == max(CONCURRENCY):
                            names += [n for n in endpoints if "batching" in n]
                        shift = repeat % len(names)  # rotate who goes first
                        for name in names[shift:] + names[:shift]:
                            result = measure(name, batch, concurrency, args.duration)
                            samples.append(Sample(name, batch, concurrency, result))
                            print(f"  [{repeat + 1}/{args.repeats}] batch {batch:>2} "
                                  f"c {concurrency:>2} {name:<32} "
                                  f"{result['requests'] / result['seconds']:>9,.0f} req/s "
                                  f"p99 {result['p99_ms']:6.2f} ms"
                                  + (f"  {result['errors']} errors" if result["errors"] else ""),
                                  flush=True)
    load_after = os.getloadavg()
    report(samples, args, load_before, load_after, pinned_cpus=bool(two_cpus),
           versions=versions(), doc=None if (args.no_doc or args.quick) else DOC)


if __name__ == "__main__":
    main()
