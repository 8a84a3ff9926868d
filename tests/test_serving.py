"""``interlock.serve``: lifecycle, batching across real HTTP clients, overload, SIGTERM drain."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import interlock
import numpy as np
import pytest
import tritonclient.http as triton
from serving_models import mlp_model, slow_model
from interlock_conformance import requirement


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("serving") / "store")
    interlock.save_artifact(mlp_model(0), root, name="mlp", version="1")
    interlock.save_artifact(slow_model(), root, name="slow", version="1")
    return root


def post(url: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    try:
        conn.request("POST", path, body=body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def slow_body(rows: int, value: float) -> bytes:
    return json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [rows, 512],
                    "datatype": "FP32",
                    "data": [value] * (rows * 512),
                }
            ]
        }
    ).encode()


@requirement("SRV-098")
def test_serve_in_the_background_and_stop(store: str) -> None:
    seen: list[interlock.RunningServer] = []
    with interlock.serve(
        ["mlp:1"], store=store, servers={"rest": 0}, block=False, on_started=seen.append
    ) as running:
        assert seen == [running]
        assert list(running.handles) == ["rest"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", running.url("rest"))
        assert running.address("rest") == running.url("rest").removeprefix("http://")
        with pytest.raises(interlock.InterlockError, match="no server named 'grpc' runs here"):
            running.url("grpc")
        assert running.repository.ready
        client = triton.InferenceServerClient(running.address("rest"))
        assert client.is_server_ready()
        client.close()
    assert running.stopped.is_set()
    assert not running.repository.ready  # readiness went false before the servers closed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.handles["rest"].port), timeout=2)
    running.stop()  # idempotent


@requirement("SRV-098")
def test_serve_needs_a_server_and_a_free_port(store: str) -> None:
    with pytest.raises(interlock.InterlockError, match="at least one server"):
        interlock.serve([store], servers={}, block=False)
    with pytest.raises(interlock.PluginError, match="no server named 'rset'"):
        interlock.serve([store], servers={"rset": 0}, block=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(interlock.InterlockError, match=f"cannot listen on 127.0.0.1:{port}"):
            interlock.serve([store], servers={"rest": port}, block=False)


@requirement("SRV-098")
def test_serve_reports_unknown_models_and_runtimes(store: str) -> None:
    with pytest.raises(interlock.ArtifactNotFoundError, match="no artifact named 'nope'"):
        interlock.serve(["nope:1"], store=store, servers={"rest": 0}, block=False)
    with pytest.raises(interlock.PluginError, match="no runtime named 'tensorflow'"):
        interlock.serve([store], runtime="tensorflow", servers={"rest": 0}, block=False)


def test_concurrent_http_callers_are_batched_and_get_their_own_rows(store: str) -> None:
    predictor = interlock.load_predictor(interlock.load_artifact("mlp:1", store=store))
    callers = 24
    xs = [
        np.random.default_rng(i).standard_normal((1 + i % 2, 64)).astype(np.float32)
        for i in range(callers)
    ]
    with interlock.serve(
        [store], servers={"rest": 0}, block=False, max_batch_size=64, max_batch_delay_ms=40
    ) as running:
        url = running.address("rest")
        barrier = threading.Barrier(callers)

        def call(x: np.ndarray) -> np.ndarray:
            client = triton.InferenceServerClient(url)
            try:
                tensor = triton.InferInput("x", list(x.shape), "FP32")
                tensor.set_data_from_numpy(x)
                barrier.wait(10)
                return client.infer("mlp", [tensor]).as_numpy("y")
            finally:
                client.close()

        with concurrent.futures.ThreadPoolExecutor(callers) as pool:
            outputs = list(pool.map(call, xs))
        conn = http.client.HTTPConnection(url, timeout=10)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        conn.close()
    for x, out in zip(xs, outputs, strict=True):
        np.testing.assert_allclose(out, predictor.infer({"x": x})["y"], rtol=1e-5, atol=1e-5)
    count = float(
        re.search(r'interlock_batch_size_count\{model="mlp",version="1"\} (\S+)', metrics).group(1)
    )  # type: ignore[union-attr]
    total = float(
        re.search(r'interlock_batch_size_sum\{model="mlp",version="1"\} (\S+)', metrics).group(1)
    )  # type: ignore[union-attr]
    assert total == sum(x.shape[0] for x in xs)
    assert count < callers  # fewer runtime calls than requests: merged batches


@requirement("SRV-021", "SRV-090")
def test_an_overloaded_model_answers_503_with_retry_after_and_never_500(store: str) -> None:
    with interlock.serve([store], servers={"rest": 0}, block=False, max_queue=2) as running:
        url = running.url("rest")

        def call(i: int) -> tuple[int, dict[str, str], bytes]:
            return post(url, "/v2/models/slow/infer", slow_body(8, float(i)))

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, range(32)))
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(503) > 0 and statuses.count(200) >= 2
    for status, headers, body in results:
        if status == 503:
            assert int(headers["retry-after"]) >= 1
            assert "requests in flight" in json.loads(body)["error"]


def wait_for_queue(url: str, model: str, depth: int) -> None:
    pattern = re.compile(rf'interlock_queue_depth{{model="{model}",version="1"}} (\S+)')
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
        conn.request("GET", "/metrics")
        match = pattern.search(conn.getresponse().read().decode())
        conn.close()
        if match and float(match.group(1)) >= depth:
            return
        time.sleep(0.01)
    raise AssertionError(f"{model} never held {depth} requests")


LAUNCHER = """
import sys
import interlock

def started(running):
    print(running.url("rest"), flush=True)

interlock.serve([sys.argv[1]], servers={"rest": 0}, block=True, on_started=started)
print("drained", flush=True)
"""


@requirement("SRV-099")
def test_sigterm_drains_in_flight_requests_then_exits(store: str, tmp_path: Path) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, str(launcher), store],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://"), process.stderr.read()
            in_flight = 4
            with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
                futures = [
                    pool.submit(post, url, "/v2/models/slow/infer", slow_body(128, float(i)))
                    for i in range(in_flight)
                ]
                # At least one request is inside the model, not just on the wire.
                wait_for_queue(url, "slow", 1)
                process.send_signal(signal.SIGTERM)
                results = [f.result(60) for f in futures]
            assert process.wait(30) == 0, process.stderr.read()
            assert process.stdout.read().strip() == "drained"
        finally:
            if process.poll() is None:
                process.kill()
    for i, (status, _, body) in enumerate(results):
        assert status == 200, body
        (output,) = json.loads(body)["outputs"]
        assert output["shape"] == [128, 512]
        assert set(output["data"]) == {float(i)}


@requirement("SRV-001")
def test_servers_are_resolved_by_name_so_a_vendor_server_takes_over(store: str) -> None:
    from interlock_rest._handle import RestHandle
    from interlock_rest.server import RestServer

    class VendorRest(RestServer):
        priority = 0  # beats the reference server's FALLBACK_PRIORITY
        description = "a vendor's REST server"

        def create(
            self, repository: interlock.ModelRepository, options: interlock.ServerOptions
        ) -> RestHandle:
            handle = super().create(repository, options)
            created.append(handle)
            return handle

    class VendorPlugin:
        @interlock.hookimpl
        def interlock_servers(self) -> list[interlock.Server]:
            return [VendorRest()]

    created: list[RestHandle] = []
    interlock.get_registry().register(VendorPlugin(), name="vendor")
    with interlock.serve(
        ["mlp:1"], store=store, servers={"rest": 0}, block=False
    ) as running:
        assert running.handles["rest"] is created[0]


@requirement("SRV-097")
def test_rest_and_grpc_share_one_repository_token_and_metrics(store: str) -> None:
    import tritonclient.grpc as triton_grpc

    x = np.random.default_rng(9).standard_normal((2, 64)).astype(np.float32)
    with interlock.serve([store], servers={"rest": 0, "grpc": 0}, token="tok", block=False) as running:
        grpc_client = triton_grpc.InferenceServerClient(running.address("grpc"))
        tensor = triton_grpc.InferInput("x", [2, 64], "FP32")
        tensor.set_data_from_numpy(x)
        via_grpc = grpc_client.infer(
            "mlp", [tensor], headers={"authorization": "Bearer tok"}
        ).as_numpy("y")
        grpc_client.close()
        http_client = triton.InferenceServerClient(running.address("rest"))
        tensor_http = triton.InferInput("x", [2, 64], "FP32")
        tensor_http.set_data_from_numpy(x)
        headers = {"Authorization": "Bearer tok"}
        via_rest = http_client.infer("mlp", [tensor_http], headers=headers).as_numpy("y")
        http_client.close()
        conn = http.client.HTTPConnection(running.address("rest"), timeout=10)
        conn.request("GET", "/metrics", headers=headers)
        metrics = conn.getresponse().read().decode()
        conn.close()
    np.testing.assert_array_equal(via_grpc, via_rest)
    assert 'protocol="grpc",status="OK",version="1"} 1.0' in metrics
    assert 'protocol="rest",status="200",version="1"} 1.0' in metrics
    assert 'interlock_batch_size_count{model="mlp",version="1"} 2.0' in metrics


@requirement("SRV-022")
def test_a_slow_model_does_not_block_other_requests(store: str) -> None:
    rows = 1536  # long enough (about 0.2 s here) that probes fit after the queue shows it
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [rows, 512],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows * 2048},
                }
            ]
        }
    ).encode()
    big = header + np.full((rows, 512), 2.0, dtype=np.float32).tobytes()

    def slow_call(url: str) -> tuple[int, float]:
        conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
        started = time.monotonic()
        conn.request(
            "POST",
            "/v2/models/slow/infer",
            body=big,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, time.monotonic() - started

    with interlock.serve([store], servers={"rest": 0}, block=False) as running:
        url = running.url("rest")
        for _ in range(3):  # the model's first calls are measured
            assert post(url, "/v2/models/slow/infer", slow_body(1, 1.0))[0] == 200
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            slow = pool.submit(slow_call, url)
            wait_for_queue(url, "slow", 1)
            conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
            probes = []
            while not slow.done():
                started = time.monotonic()
                conn.request("GET", "/v2/health/ready")
                assert conn.getresponse().read() == b'{"ready":true}'
                probes.append(time.monotonic() - started)
                time.sleep(0.005)
            conn.close()
            status, duration = slow.result()
    assert status == 200
    # The loop kept answering while the model ran: many quick probes, not one long wait.
    assert len(probes) >= 3, (probes, duration)
    assert sorted(probes)[len(probes) // 2] < duration / 4


@requirement("SRV-313")
def test_the_access_log_is_off_by_default_and_one_line_per_request_when_on(store: str) -> None:
    import logging

    import grpc
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
    from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pbg

    logger = logging.getLogger("interlock.access")
    saved = logger.level, logger.propagate, list(logger.handlers)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.addHandler(Collect())
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}]}
    ).encode()
    try:
        for access_log in (False, True):
            with interlock.serve(
                [store], servers={"rest": 0, "grpc": 0}, block=False, access_log=access_log
            ) as running:
                assert post(running.url("rest"), "/v2/models/mlp/infer", body)[0] == 200
                with grpc.insecure_channel(running.address("grpc")) as channel:
                    pbg.GRPCInferenceServiceStub(channel).ServerLive(pb.ServerLiveRequest())
            if not access_log:
                assert lines == []  # off by default: nothing logged
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]
    rest, grpc_line = lines
    assert re.fullmatch(r'rest 127\.0\.0\.1:\d+ "POST /v2/models/mlp/infer" 200 \d+B [\d.]+ms', rest)
    assert re.fullmatch(
        r'grpc 127\.0\.0\.1:\d+ "POST /inference\.GRPCInferenceService/ServerLive" OK \d+B '
        r"[\d.]+ms",
        grpc_line,
    ), grpc_line


@requirement("SRV-313")
def test_a_404_names_endpoints_that_exist(store: str) -> None:
    with interlock.serve([store], servers={"rest": 0}, block=False) as running:
        status, _, body = post(running.url("rest"), "/v2/model/mlp/predict", b"{}")
        assert status == 404
        hint = json.loads(body)["error"]
        assert "POST /v2/models/<name>[/versions/<version>]/infer" in hint
        assert "GET /v2/models/mlp" in hint  # a model it serves
        status, _, _ = post(running.url("rest"), "/v2/models/mlp", b"")
        assert status == 405  # the named endpoint exists (GET)
