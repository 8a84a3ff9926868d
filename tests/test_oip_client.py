"""The serving kit's Open Inference Protocol client (interlock.serving.oip.client) against
interlock's real REST and gRPC servers on 127.0.0.1: the convenient layer gives the values
in-process inference gives, the raw layer returns every answer unjudged, and a server that is
not there is one error."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import onnx
import pytest

import interlock
from interlock.serving.oip.client import (
    GrpcClient,
    NoAnswerError,
    OipError,
    RestClient,
    model_path,
)
from interlock_conformance import load_vector_index

MODEL = "mlp_float32"
INPUTS = {"x": (np.arange(8, dtype=np.float32) / 4).reshape(2, 4)}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> interlock.Artifact:
    model = onnx.load_from_string(load_vector_index().model_bytes(MODEL))
    return interlock.save_artifact(model, str(tmp_path_factory.mktemp("store")), name=MODEL,
                                   version="1")


@pytest.fixture(scope="module")
def running(artifact: interlock.Artifact) -> Iterator[interlock.RunningServer]:
    running = interlock.serve([artifact], servers={"rest": 0, "grpc": 0}, block=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def expected(artifact: interlock.Artifact) -> dict[str, np.ndarray]:
    """What in-process inference answers."""
    return interlock.load_predictor(artifact).infer(INPUTS)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _same(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(actual) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value)
        assert actual[name].dtype == value.dtype


def test_rest_convenient_layer(running: interlock.RunningServer,
                               expected: dict[str, np.ndarray]) -> None:
    with RestClient(running.url("rest")) as client:
        assert client.live() and client.ready() and client.ready(MODEL)
        assert client.ready(MODEL, "1") and not client.ready("no-such-model")
        assert client.server_metadata()["name"]
        metadata = client.metadata(MODEL)
        assert metadata["name"] == MODEL and [t["name"] for t in metadata["inputs"]] == ["x"]
        _same(client.infer(MODEL, INPUTS), expected)
        _same(client.infer(MODEL, INPUTS, binary=False, version="1"), expected)
        first = next(iter(expected))
        assert list(client.infer(MODEL, INPUTS, outputs=[first])) == [first]
        with pytest.raises(OipError) as error:
            client.infer("no-such-model", INPUTS)
    assert error.value.status == 404 and "no-such-model" in str(error.value)


def test_rest_raw_layer_returns_every_answer(running: interlock.RunningServer) -> None:
    client = RestClient(running.url("rest"), keep_alive=False)
    missing = client.request("GET", model_path("no such model"))
    assert missing.status == 404 and missing.what == "GET /v2/models/no%20such%20model"
    assert "error" in missing.json() and missing.header("Content-Type") == "application/json"
    garbage = client.request("POST", model_path(MODEL) + "/infer", b'{"inputs": [',
                             {"Content-Type": "application/json"})
    assert garbage.status == 400
    refused = client.send_headers("POST", model_path(MODEL) + "/infer",
                                  {"Content-Length": str(1 << 40)})
    assert refused.status == 413


def test_grpc_convenient_layer(running: interlock.RunningServer,
                               expected: dict[str, np.ndarray]) -> None:
    with GrpcClient(running.address("grpc")) as client, RestClient(running.url("rest")) as rest:
        assert client.live() and client.ready() and client.ready(MODEL, "1")
        assert client.server_metadata()["name"] == rest.server_metadata()["name"]
        metadata = client.metadata(MODEL)
        assert metadata["inputs"] == rest.metadata(MODEL)["inputs"]
        _same(client.infer(MODEL, INPUTS), expected)
        with pytest.raises(OipError) as error:
            client.infer("no-such-model", INPUTS)
    assert error.value.status == "NOT_FOUND"


def test_grpc_raw_layer_returns_every_status(running: interlock.RunningServer) -> None:
    with GrpcClient(f"grpc://{running.address('grpc')}") as client:
        result = client.call("ModelReady", client.messages.ModelReadyRequest(name="nope"))
        assert result.code is not None and result.code.name == "NOT_FOUND" and result.details
        assert client.call_raw("ModelInfer", b"\xff\xff").code.name == "INVALID_ARGUMENT"
        assert client.call("ServerLive", client.messages.ServerLiveRequest()).ok().live


def test_no_server_is_no_answer() -> None:
    port = _closed_port()
    with pytest.raises(NoAnswerError, match="the server gave no answer"):
        RestClient(f"http://127.0.0.1:{port}").ready()
    with GrpcClient(f"127.0.0.1:{port}", timeout=5) as client, pytest.raises(NoAnswerError):
        client.ready()
    with pytest.raises(ValueError, match="not an http"):
        RestClient("ftp://127.0.0.1:21")


def test_a_keep_alive_connection_the_server_closed_is_reopened_once() -> None:
    """A server that closes an idle keep-alive connection (as servers may) costs no request."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connections.append(1)
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            # closed after one answer, although the answer promised to keep it open

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with RestClient(f"127.0.0.1:{listener.getsockname()[1]}") as client:
            for _ in range(3):
                assert client.request("GET", "/v2").json() == {}
        assert len(connections) == 3
    finally:
        listener.close()
        thread.join(5)
