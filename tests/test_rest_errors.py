"""The REST server's answers to mistakes: every error status, limits, timeouts, auth, fuzzing."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import interlock
import numpy as np
import pytest
import tritonclient.http as triton
from interlock import ModelRepository, ServerOptions
from serving_models import identity_model, mlp_model, two_outputs_model
from tritonclient.utils import InferenceServerException
from interlock_conformance import requirement

TOKEN = "s3cret-token"


class ServerThread:
    """A REST server handle on its own event loop in a background thread."""

    def __init__(self, repository: ModelRepository, options: ServerOptions) -> None:
        self.repository = repository
        self.handle = interlock.get_registry().get("server", "rest").create(repository, options)
        self.loop = asyncio.new_event_loop()  # the standard loop: serve() uses uvloop
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.handle.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    @property
    def address(self) -> tuple[str, int]:
        return self.handle.host, self.handle.port

    def stop(self) -> None:
        self.call(self.handle.stop(1.0))
        self.call(self.repository.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("errors") / "store")
    interlock.save_artifact(mlp_model(0), root, name="mlp", version="1")
    interlock.save_artifact(two_outputs_model(), root, name="two_outputs", version="1")
    interlock.save_artifact(
        identity_model(interlock_onnx_string()), root, name="strings", version="1"
    )
    return root


def interlock_onnx_string() -> int:
    from onnx import TensorProto

    return int(TensorProto.STRING)


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[ServerThread]:
    repository = ModelRepository([store])
    repository.load()
    running = ServerThread(
        repository,
        ServerOptions(port=0, token=TOKEN, max_request_bytes=64 * 1024, read_timeout_s=0.5),
    )
    yield running
    running.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def call(
    server: ServerThread,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        conn.request(method, path, body=body, headers={**(AUTH if auth else {}), **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        headers_out = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw
    return response.status, headers_out, parsed


def infer_body(**overrides: Any) -> bytes:
    tensor = {"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}
    tensor.update(overrides)
    return json.dumps({"inputs": [tensor]}).encode()


# -- 400 --------------------------------------------------------------------------------------

BAD_REQUESTS = [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{}", "no 'inputs' list"),
    (b'{"inputs": {"name": "x"}}', "no 'inputs' list"),
    (b'{"inputs": [1]}', "inputs[0] must be a JSON object"),
    (b'{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', "has no 'name' string"),
    (infer_body(shape=[1, 63]), "needs 63 element(s), 'data' has 64"),
    (infer_body(shape=[2, 32]), "dimension 1 must be 64"),
    (infer_body(shape="1,64"), "'shape' must be a list"),
    (infer_body(shape=[1, -64]), "non-negative integers"),
    (infer_body(datatype="FP64"), "datatype 'FP64' does not match the model's FP32"),
    (infer_body(data=["a"] * 64), "FP32 'data' must hold numbers only"),
    (infer_body(data=[[0.5] * 63, [0.5]]), "not a regular nested list"),
    (infer_body(data=None), "'data' must be a list"),
    (infer_body(name="z"), "unexpected 'z'"),
    (infer_body(parameters=[1]), "'parameters' must be a JSON object"),
    (infer_body(parameters={"binary_data_size": 256}), "has both 'data' and 'binary_data_size'"),
    (
        json.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 64],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 256},
                    }
                ]
            }
        ).encode(),
        "declares 256 bytes of binary data but 0 remain (no Inference-Header-Content-Length header)",
    ),
    (infer_body(parameters={"binary_data_size": -1}), "must be a non-negative integer"),
    (json.dumps({"id": 7, "inputs": []}).encode(), "'id' must be a string"),
    (
        json.dumps({"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32"}]}).encode(),
        "neither 'data' nor",
    ),
    (json.dumps({"inputs": [], "outputs": [{"name": "nope"}]}).encode(), "no output 'nope'"),
    (
        json.dumps({"inputs": [], "parameters": {"binary_data_output": "yes"}}).encode(),
        "must be true or false",
    ),
    (json.dumps({"inputs": []}).encode(), "missing 'x'"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS, ids=[m for _, m in BAD_REQUESTS])
def test_malformed_requests_get_400_with_a_message(
    server: ServerThread, body: bytes, message: str
) -> None:
    status, headers, answer = call(server, "POST", "/v2/models/mlp/infer", body)
    assert status == 400, answer
    assert headers["content-type"] == "application/json"
    assert message in answer["error"]


def test_binary_framing_errors_get_400(server: ServerThread) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 64],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 256},
                }
            ]
        }
    ).encode()
    payload = np.zeros(64, dtype=np.float32).tobytes()
    cases = [
        (
            header + payload[:-4],
            {"Inference-Header-Content-Length": str(len(header))},
            "declares 256 bytes",
        ),
        (
            header + payload + b"xx",
            {"Inference-Header-Content-Length": str(len(header))},
            "2 bytes of binary data that no input claims",
        ),
        (
            header + payload,
            {"Inference-Header-Content-Length": str(len(header) + 10_000)},
            "body has only",
        ),
        (
            header + payload,
            {"Inference-Header-Content-Length": "ten"},
            "must be a non-negative integer",
        ),
        (header + payload, {"Inference-Header-Content-Length": "5"}, "not valid JSON"),
    ]
    for body, headers, message in cases:
        status, _, answer = call(server, "POST", "/v2/models/mlp/infer", body, headers)
        assert (status, message in answer["error"]) == (400, True), answer
    status, _, answer = call(
        server,
        "POST",
        "/v2/models/mlp/infer",
        header + payload,
        {"Inference-Header-Content-Length": str(len(header))},
    )
    assert status == 200, answer


def test_binary_bytes_and_bool_framing_errors(server: ServerThread) -> None:
    def send(elements: bytes, count: int) -> tuple[int, Any]:
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, count],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": len(elements)},
                    }
                ]
            }
        ).encode()
        status, _, answer = call(
            server,
            "POST",
            "/v2/models/strings/infer",
            header + elements,
            {"Inference-Header-Content-Length": str(len(header))},
        )
        return status, answer

    good = b"".join(len(e).to_bytes(4, "little") + e for e in (b"a", b"b", b"c"))
    assert send(good, 3)[0] == 200
    assert "ends inside an element's 4-byte length" in send(good + b"\x01", 3)[1]["error"]
    assert "claims 100 bytes" in send((100).to_bytes(4, "little") + b"abc", 1)[1]["error"]
    assert "not valid UTF-8" in send((2).to_bytes(4, "little") + b"\xff\xfe", 1)[1]["error"]
    assert "needs 3 BYTES element(s)" in send(good[:10], 3)[1]["error"]


def test_json_integer_checks(
    server: ServerThread, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from onnx import TensorProto

    root = str(tmp_path_factory.mktemp("ints") / "store")
    interlock.save_artifact(identity_model(TensorProto.UINT8), root, name="u8", version="1")
    repository = ModelRepository([root])
    repository.load()
    ints = ServerThread(repository, ServerOptions(port=0))
    try:

        def send(data: list[Any], datatype: str = "UINT8", name: str = "x") -> tuple[int, Any]:
            body = json.dumps(
                {"inputs": [{"name": name, "shape": [1, 3], "datatype": datatype, "data": data}]}
            ).encode()
            status, _, answer = call(ints, "POST", "/v2/models/u8/infer", body, auth=False)
            return status, answer

        assert send([0, 1, 255])[0] == 200
        assert "outside [0, 255]" in send([0, 1, 256])[1]["error"]
        assert "integers only" in send([0, 1, 2.5])[1]["error"]
        assert "does not match the model's UINT8" in send([0, 1, 2], "BF16")[1]["error"]
        # An input the model does not take is refused by name, before its data is decoded.
        assert "unexpected 'other'" in send([0, 1, 2], "BF16", "other")[1]["error"]
        assert "unexpected 'other'" in send([0, 1, 2], "F32", "other")[1]["error"]
    finally:
        ints.stop()


# -- 401, 404, 405 --------------------------------------------------------------------------


def test_the_token_guards_everything_but_health(server: ServerThread) -> None:
    for method, path, body in (
        ("GET", "/v2", None),
        ("GET", "/v2/models/mlp", None),
        ("GET", "/v2/models/mlp/ready", None),
        ("POST", "/v2/models/mlp/infer", infer_body()),
        ("GET", "/metrics", None),
    ):
        status, headers, answer = call(server, method, path, body, auth=False)
        assert status == 401, path
        assert headers["www-authenticate"] == "Bearer"
        assert "bearer token" in answer["error"]
        status, _, _ = call(
            server, method, path, body, {"Authorization": "Bearer wrong"}, auth=False
        )
        assert status == 401
        status, _, _ = call(
            server, method, path, body, {"Authorization": f"Basic {TOKEN}"}, auth=False
        )
        assert status == 401
        assert call(server, method, path, body)[0] == 200
    assert call(server, "GET", "/v2/health/live", auth=False)[0] == 200
    assert call(server, "GET", "/v2/health/ready", auth=False)[0] == 200


def test_tritonclient_sends_the_token_as_a_header(server: ServerThread) -> None:
    client = triton.InferenceServerClient("{}:{}".format(*server.address))
    try:
        with pytest.raises(InferenceServerException, match="401"):
            client.get_model_metadata("mlp")
        assert client.get_model_metadata("mlp", headers=AUTH)["name"] == "mlp"
    finally:
        client.close()


def test_unknown_models_versions_and_paths_get_404(server: ServerThread) -> None:
    status, _, answer = call(server, "GET", "/v2/models/nope")
    assert (
        status == 404
        and "'nope' is not served (served models: mlp, strings, two_outputs)" in answer["error"]
    )
    status, _, answer = call(server, "POST", "/v2/models/mlp/versions/3/infer", infer_body())
    assert status == 404 and "no version '3' (versions: 1)" in answer["error"]
    status, _, answer = call(server, "GET", "/v2/models/mlp/versions/3/ready")
    assert status == 404
    for path in (
        "/",
        "/v2/models/mlp/explain",
        "/v2/models//infer",
        "/v2/health",
    ):
        status, _, answer = call(server, "GET", path)
        assert status == 404 and "no endpoint" in answer["error"], path
    # The OpenAI-compatible paths answer in the OpenAI error shape (text.md TXT-054).
    status, _, answer = call(server, "GET", "/v1/models/mlp")
    assert status == 404 and "'mlp' is not a text model" in answer["error"]["message"]
    status, _, answer = call(server, "GET", "/v1/models/mlp/predict")
    assert status == 404 and "no endpoint" in answer["error"]["message"]


def test_wrong_methods_get_405_with_allow(server: ServerThread) -> None:
    for method, path, allow in (
        ("GET", "/v2/models/mlp/infer", "POST"),
        ("PUT", "/v2/models/mlp/infer", "POST"),
        ("POST", "/v2/models/mlp", "GET"),
        ("DELETE", "/v2/health/live", "GET"),
        ("POST", "/metrics", "GET"),
    ):
        status, headers, answer = call(server, method, path, b"{}")
        assert (status, headers["allow"]) == (405, allow), path
        assert f"takes {allow}" in answer["error"]


# -- 413, 408, slow clients -----------------------------------------------------------------


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_declared_body_over_the_limit_gets_413_before_it_is_sent(server: ServerThread) -> None:
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(
            b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nContent-Length: 100000000\r\n\r\n"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"exceeds the server's limit of 65536 bytes" in answer
    assert b"connection: close" in answer.lower()


@requirement("SRV-092")
def test_a_chunked_body_over_the_limit_gets_413(server: ServerThread) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 4096

    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        conn.request(
            "POST", "/v2/models/mlp/infer", body=chunks(), headers={**AUTH}, encode_chunked=True
        )
        response = conn.getresponse()
        assert response.status == 413
        assert "exceeds the server's limit" in json.loads(response.read())["error"]
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close while the client is still sending: also a refusal
    finally:
        conn.close()


def test_a_compressed_body_cannot_expand_past_the_limit(server: ServerThread) -> None:
    bomb = gzip.compress(b" " * (1024 * 1024))
    status, headers, answer = call(
        server, "POST", "/v2/models/mlp/infer", bomb, {"Content-Encoding": "gzip"}
    )
    assert status == 413, answer
    assert headers["connection"] == "close"  # SRV-092, even with the whole body read
    status, _, answer = call(
        server, "POST", "/v2/models/mlp/infer", b"abc", {"Content-Encoding": "gzip"}
    )
    assert status == 400 and "cannot be decompressed" in answer["error"]
    status, _, answer = call(
        server, "POST", "/v2/models/mlp/infer", b"abc", {"Content-Encoding": "br"}
    )
    assert status == 400 and "unsupported Content-Encoding 'br'" in answer["error"]


def test_a_body_that_does_not_arrive_in_time_gets_408(server: ServerThread) -> None:
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(
            b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b'\r\nContent-Length: 500\r\n\r\n{"inputs"'
        )
        started = time.monotonic()
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 0.5 s" in answer
    assert 0.3 < elapsed < 4


@requirement("SRV-093")
def test_headers_that_trickle_in_are_cut_off(server: ServerThread) -> None:
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        try:
            for _ in range(20):
                sock.sendall(b"X-Slow: 1\r\n")
                if sock.recv(1024) == b"":
                    closed = True
                    break
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            closed = True
        elapsed = time.monotonic() - started
    assert closed and elapsed < 4


@requirement("SRV-093")
def test_an_idle_connection_is_closed(server: ServerThread) -> None:
    with socket.create_connection(server.address, timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started < 4


# -- 503 ------------------------------------------------------------------------------------


def test_not_ready_until_loaded_then_ready(store: str) -> None:
    repository = ModelRepository([store])
    pending = ServerThread(repository, ServerOptions(port=0))
    try:
        assert call(pending, "GET", "/v2/health/live")[0] == 200
        status, headers, answer = call(pending, "GET", "/v2/health/ready")
        assert (status, headers["retry-after"]) == (503, "1")
        assert "not ready" in answer["error"]
        status, headers, answer = call(pending, "POST", "/v2/models/mlp/infer", infer_body())
        assert (
            status == 503 and "still loading" in answer["error"] and headers["retry-after"] == "1"
        )
        repository.load()
        assert call(pending, "GET", "/v2/health/ready")[0] == 200
        assert call(pending, "POST", "/v2/models/mlp/infer", infer_body())[0] == 200
    finally:
        pending.stop()


# -- fuzzing --------------------------------------------------------------------------------


def _mutations(rng: random.Random) -> Iterator[tuple[bytes, dict[str, str]]]:
    valid = json.loads(infer_body())
    values: list[Any] = [
        None,
        True,
        -1,
        0,
        2**70,
        1.5,
        "",
        "x" * 300,
        [],
        {},
        [[]],
        [None],
        {"a": 1},
        "FP32",
        [1, 64],
        -0.0,
    ]
    fields = [
        "inputs",
        "outputs",
        "id",
        "parameters",
        "name",
        "shape",
        "datatype",
        "data",
        "binary_data_size",
        "binary_data",
    ]
    for _ in range(300):
        document = json.loads(json.dumps(valid))
        for _ in range(rng.randint(1, 3)):
            target = rng.choice(
                [
                    document,
                    document["inputs"][0]
                    if document.get("inputs")
                    and isinstance(document["inputs"], list)
                    and document["inputs"]
                    and isinstance(document["inputs"][0], dict)
                    else document,
                ]
            )
            key = rng.choice(fields)
            if key in ("binary_data_size", "binary_data"):
                target["parameters"] = {key: rng.choice(values)}
            else:
                target[key] = rng.choice(values)
        body = json.dumps(document).encode()
        headers: dict[str, str] = {}
        roll = rng.random()
        if roll < 0.15:
            body = body[: rng.randint(0, len(body))]
        elif roll < 0.25:
            cut = rng.randint(0, len(body))
            body = body[:cut] + bytes([rng.randint(0, 255)]) + body[cut + 1 :]
        elif roll < 0.35:
            headers["Inference-Header-Content-Length"] = str(rng.randint(0, len(body) + 5))
        elif roll < 0.4:
            body = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 200)))
        yield body, headers


@requirement("SRV-094")
def test_fuzzed_requests_never_get_a_500_and_the_server_survives(server: ServerThread) -> None:
    rng = random.Random(20240611)
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        for body, headers in _mutations(rng):
            path = rng.choice(
                ["/v2/models/mlp/infer", "/v2/models/two_outputs/infer", "/v2/models/strings/infer"]
            )
            conn.request("POST", path, body=body, headers={**AUTH, **headers})
            response = conn.getresponse()
            raw = response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert response.status < 500, (body, raw)
            if response.status != 200:
                assert isinstance(json.loads(raw)["error"], str)
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(*server.address, timeout=10)
    finally:
        conn.close()
    assert statuses.get(400, 0) > 200
    assert call(server, "GET", "/v2/health/ready")[0] == 200


def test_head_answers_like_get_without_a_body(server: ServerThread) -> None:
    status, headers, body = call(server, "HEAD", "/v2/models/mlp")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


def test_the_rest_server_refuses_settings_it_does_not_know(store: str) -> None:
    repository = ModelRepository([store])
    with pytest.raises(interlock.InterlockError, match="takes no settings, got 'workers'"):
        interlock.get_registry().get("server", "rest").create(
            repository, ServerOptions(settings={"workers": 4})
        )
    with pytest.raises(ValueError, match="max_request_bytes"):
        ServerOptions(max_request_bytes=10)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        ServerOptions(prot=80)  # type: ignore[call-arg]
