"""A REST and a gRPC server in a process of their own, for the attack suites: the attacks
measure that process's memory (``/proc/<pid>/status``) while legitimate clients, here, check
that both protocols still answer.

``python tests/attack_server.py CONFIG`` serves the store named in the JSON ``CONFIG`` with
the interlock REST and gRPC handles on one uvloop event loop (as ``interlock.serve`` runs
them), prints ``READY <rest port> <grpc port>`` and serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: How long a legitimate request may take while an attack runs. A request answers in about a
#: millisecond on a quiet machine and the attacks this suite replays used to stall both
#: protocols for 10 s or more; 2 s sits far from both, leaving room for a machine that seven
#: engineers share.
LATENCY_S = 2.0


def _serve(config: dict[str, Any]) -> None:
    import uvloop
    from interlock import ModelRepository, ServerOptions, get_registry

    repository = ModelRepository([config["store"]])
    repository.load()
    registry = get_registry()
    handles = [
        registry.get("server", name).create(repository, ServerOptions(port=0, **options))
        for name, options in (("rest", config.get("rest", {})), ("grpc", config.get("grpc", {})))
    ]
    loop = uvloop.new_event_loop()
    for handle in handles:
        loop.run_until_complete(handle.start())
    print("READY", handles[0].port, handles[1].port, flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.run_until_complete(stop.wait())
    for handle in handles:
        loop.run_until_complete(handle.stop(1.0))


class Served:
    """The server process, its addresses, and legitimate clients of both protocols."""

    def __init__(self, store: str, **config: Any) -> None:
        config["store"] = store
        self.proc = subprocess.Popen(
            [sys.executable, __file__, json.dumps(config)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        assert line[:1] == ["READY"], f"the server did not start: {line}"
        self.host = "127.0.0.1"
        self.rest_port, self.grpc_port = int(line[1]), int(line[2])
        self.grpc_address = f"{self.host}:{self.grpc_port}"
        self.token = config.get("rest", {}).get("token")
        import grpc
        from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pbg

        self._channel = grpc.insecure_channel(self.grpc_address)
        self._stub = pbg.GRPCInferenceServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int:
        """The server's resident memory in bytes."""
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def holds(self, client_ports: list[int]) -> int:
        """How many of the connections from these client ports the REST server holds open
        (its side of each, as the kernel lists them in /proc/net/tcp)."""
        wanted = {f"{port:04X}" for port in client_ports}
        local = f"{self.rest_port:04X}"
        held = 0
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                here, there, state = fields[1], fields[2], fields[3]
                if here.endswith(":" + local) and there.split(":")[1] in wanted and state == "01":
                    held += 1
        return held

    # -- legitimate clients ------------------------------------------------------------------

    def rest_infer(self, timeout: float = 10.0) -> float:
        """One inference over a fresh REST connection; its latency in seconds."""
        body = json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
        ).encode()
        request = urllib.request.Request(
            f"http://{self.host}:{self.rest_port}/v2/models/sum/infer",
            data=body,
            headers={"content-type": "application/json"},
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            document = json.loads(answer.read())
        assert document["outputs"][0]["data"] == [10.0], document
        return time.perf_counter() - start

    def grpc_infer(self, timeout: float = 10.0) -> float:
        """One ModelInfer on the long-lived channel; its latency in seconds."""
        from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

        request = pb.ModelInferRequest(model_name="sum")
        request.inputs.add(name="x", datatype="FP32", shape=[1, 4])
        request.raw_input_contents.append(np.arange(1, 5, dtype=np.float32).tobytes())
        import grpc

        start = time.perf_counter()
        try:
            reply = self._stub.ModelInfer(request, timeout=timeout)
        except grpc.RpcError as error:
            # An idle connection the server closed just as the call left (GOAWAY): a client
            # retries that at once.
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            reply = self._stub.ModelInfer(request, timeout=timeout)
        assert np.frombuffer(reply.raw_output_contents[0], "<f4").tolist() == [10.0]
        return time.perf_counter() - start


@contextmanager
def server(store: str, **config: Any) -> Iterator[Served]:
    served = Served(store, **config)
    try:
        yield served
    finally:
        served.close()


class Outcome:
    """What :func:`under_attack` saw: the slowest legitimate answers and the memory."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.peak = base
        self.after = base
        self.rest_s = 0.0
        self.grpc_s = 0.0
        self.probes = 0

    def __repr__(self) -> str:
        mb = 1024 * 1024
        return (
            f"<rss {self.base / mb:.0f} MB, peak +{(self.peak - self.base) / mb:.0f} MB, after "
            f"+{(self.after - self.base) / mb:.0f} MB; slowest REST {self.rest_s * 1000:.0f} ms, "
            f"gRPC {self.grpc_s * 1000:.0f} ms over {self.probes} probes>"
        )


def under_attack(
    served: Served,
    attack: Callable[[threading.Event], None],
    *,
    seconds: float = 1.0,
    peak_mb: float = 64,
    after_mb: float = 32,
    warm: Callable[[], None] | None = None,
) -> Outcome:
    """Run ``attack`` (in a thread; it should stop when its event is set) for at least
    ``seconds`` while legitimate REST and gRPC clients call every 0.1 s; then check the server
    is alive, every legitimate call answered within :data:`LATENCY_S`, its memory grew by less
    than ``peak_mb`` and, within 10 s of the attack's end, is back within ``after_mb`` of what
    it was before. ``warm`` runs first: legitimate work of the attack's size, so that what
    the runtime keeps once for that size (its memory arena) is counted in the base."""
    if warm is not None:
        warm()
    outcome = Outcome(served.rss())
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            attack(stop)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or thread.is_alive():
        outcome.rest_s = max(outcome.rest_s, served.rest_infer())
        outcome.grpc_s = max(outcome.grpc_s, served.grpc_infer())
        outcome.peak = max(outcome.peak, served.rss())
        outcome.probes += 1
        if time.monotonic() > deadline:
            stop.set()
        if time.monotonic() > deadline + 30:
            raise AssertionError("the attack did not stop")
        time.sleep(0.1)
    thread.join()
    assert not errors, errors
    assert served.alive, "the server died"
    assert outcome.rest_s < LATENCY_S and outcome.grpc_s < LATENCY_S, outcome
    assert outcome.peak - outcome.base < peak_mb * 1024 * 1024, outcome
    settle = time.monotonic() + 10
    while True:
        outcome.after = served.rss()
        if outcome.after - outcome.base < after_mb * 1024 * 1024 or time.monotonic() > settle:
            break
        served.rest_infer()
        time.sleep(0.2)
    assert outcome.after - outcome.base < after_mb * 1024 * 1024, outcome
    return outcome


def grow_model() -> Any:
    """x float32 [batch, 4] -> y float32 [batch, 64], x tiled 16 times: answers 16 times as
    large as the requests."""
    import onnx
    from onnx import TensorProto, helper

    repeats = helper.make_tensor("repeats", TensorProto.INT64, [2], [1, 16])
    graph = helper.make_graph(
        [helper.make_node("Tile", ["x", "repeats"], ["y"])],
        "grow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
        [repeats],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def sum_model() -> Any:
    """x float32 [batch, 4] -> y = the sum of each row, float32 [batch]: cheap at any size, and
    its answer is small whatever the request."""
    import onnx
    from onnx import TensorProto, helper

    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
        "sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
        [axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
