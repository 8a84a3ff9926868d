"""The REST server's HTTP/1.1 layer, spoken to over raw sockets: keep-alive, pipelining,
``Expect: 100-continue``, HTTP/1.0, upgrades, header and connection limits, malformed input."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator

import interlock
import numpy as np
import pytest
from interlock import BatchingOptions, ModelRepository, ServerOptions
from serving_models import mlp_model
from interlock_rest._http_connection import ConnectionState, HttpConnection
from test_rest_errors import TOKEN, ServerThread

AUTH = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("http") / "store")
    interlock.save_artifact(mlp_model(0), root, name="mlp", version="1")
    return root


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[ServerThread]:
    repository = ModelRepository([store])
    repository.load()
    running = ServerThread(
        repository,
        ServerOptions(port=0, token=TOKEN, max_connections=3, read_timeout_s=2, keep_alive_s=2),
    )
    yield running
    running.stop()


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> object:
        return json.loads(self.body)


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed) off a socket, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def response(self, *, head: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed mid-response: {self.buffer!r}"
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head or status == 100 else int(headers["content-length"])
        while len(self.buffer) < length:
            assert self._fill(), "connection closed mid-body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(status, headers, body)

    def closed(self) -> bool:
        """Whether the server closes the connection (nothing more arrives)."""
        try:
            return not self._fill() and not self.buffer
        except ConnectionResetError:
            return True


def connections(server: ServerThread) -> list[HttpConnection]:
    """The server's open connections, read on its event loop."""

    async def read() -> list[HttpConnection]:
        return list(server.handle._server.connections)

    return server.call(read())  # type: ignore[no-any-return]


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll observable server state until ``condition`` holds (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def connect(server: ServerThread) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(server.address, timeout=5)
    return sock, Reader(sock)


def infer_request(value: float, *, extra: bytes = b"") -> bytes:
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [value] * 64}]}
    ).encode()
    return (
        b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: t\r\n"
        + AUTH
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def expected(store: str, value: float) -> list[float]:
    predictor = interlock.load_predictor(interlock.load_artifact(f"{store}/mlp/1"))
    x = np.full((1, 64), value, dtype=np.float32)
    return [float(v) for v in predictor.infer({"x": x})["y"].ravel()]


def test_one_connection_serves_many_requests(server: ServerThread) -> None:
    sock, reader = connect(server)
    with sock:
        for _ in range(50):
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = reader.response()
            assert (answer.status, answer.json()) == (200, {"live": True})
            assert "connection" not in answer.headers
            assert answer.headers["date"].endswith("GMT")


def test_pipelined_requests_are_answered_in_order(server: ServerThread, store: str) -> None:
    values = [float(i) / 10 for i in range(40)]  # more than the server reads ahead
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"".join(infer_request(v) for v in values)
                     + b"GET /v2 HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n")
        for value in values:
            answer = reader.response()
            assert answer.status == 200, answer.body
            data = answer.json()["outputs"][0]["data"]  # type: ignore[index]
            assert np.allclose(data, expected(store, value), rtol=1e-6)
        assert reader.response().json()["name"] == "interlock"  # type: ignore[index]


def test_pipelined_requests_to_a_batched_model_keep_their_order(store: str) -> None:
    # With batching, answers come from a task: the order must survive that too.
    repository = ModelRepository([store], batching=BatchingOptions(max_batch_size=8))
    repository.load()
    running = ServerThread(repository, ServerOptions(port=0, token=TOKEN))
    try:
        values = [0.1, 0.7, -0.3, 2.0]
        sock, reader = connect(running)
        with sock:
            sock.sendall(b"".join(infer_request(v) for v in values))
            for value in values:
                data = reader.response().json()["outputs"][0]["data"]  # type: ignore[index]
                assert np.allclose(data, expected(store, value), rtol=1e-6)
    finally:
        running.stop()


def test_expect_100_continue_is_answered_before_the_body(server: ServerThread) -> None:
    request = infer_request(0.5, extra=b"Expect: 100-continue\r\n")
    head, body = request.split(b"\r\n\r\n", 1)
    sock, reader = connect(server)
    with sock:
        sock.sendall(head + b"\r\n\r\n")
        assert reader.response().status == 100
        sock.sendall(body)
        assert reader.response().status == 200


def test_a_request_refused_from_its_head_gets_no_100_continue(server: ServerThread) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(
            b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
            b"Content-Length: 10\r\n\r\n"
        )
        answer = reader.response()
        assert answer.status == 401  # no token: the body is never asked for
        assert answer.headers["connection"] == "close"
        assert reader.closed()


def test_a_large_body_for_an_unknown_model_is_refused_before_it_is_read(
    server: ServerThread,
) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(
            b"POST /v2/models/nope/infer HTTP/1.1\r\nHost: t\r\n" + AUTH
            + b"Content-Length: 1000000\r\n\r\n"
        )
        answer = reader.response()
        assert answer.status == 404 and "nope" in answer.json()["error"]  # type: ignore[index]


def test_http_1_0_and_connection_close_are_answered_then_closed(server: ServerThread) -> None:
    for request in (
        b"GET /v2/health/live HTTP/1.0\r\n\r\n",
        b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ):
        sock, reader = connect(server)
        with sock:
            sock.sendall(request)
            answer = reader.response()
            assert answer.status == 200 and answer.headers["connection"] == "close"
            assert reader.closed()


def test_a_protocol_upgrade_is_answered_in_http_1_1(server: ServerThread) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(
            b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        )
        answer = reader.response()
        assert (answer.status, answer.json()) == (200, {"live": True})
        assert reader.closed()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"BREW /v2 HTTP/1.1\r\n\r\n",
        b"GET /v2 HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS ClientHello
        b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        + AUTH
        + b"\r\nzz\r\n",
        b"GET /v2 HTTP/1.1\r\nBad Header\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    ],
    ids=["method", "version", "tls", "chunk", "header", "authority-form"],
)
def test_malformed_http_gets_400_and_a_closed_connection(
    server: ServerThread, request_bytes: bytes
) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(request_bytes)
        answer = reader.response()
        assert answer.status == 400
        assert "malformed HTTP request" in answer.json()["error"]  # type: ignore[index]
        assert reader.closed()


def test_headers_over_the_limit_get_431(server: ServerThread) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(
            b"GET /v2 HTTP/1.1\r\nHost: t\r\n"
            + b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 1000) for i in range(80))
            + b"\r\n"
        )
        answer = reader.response()
        assert answer.status == 431
        assert "exceeds 65536 bytes" in answer.json()["error"]  # type: ignore[index]
        assert reader.closed()


def test_connections_beyond_the_limit_get_503_with_retry_after(server: ServerThread) -> None:
    held = [connect(server) for _ in range(3)]  # max_connections=3
    try:
        for sock, reader in held:  # each is served
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
            assert reader.response().status == 200
        sock, reader = connect(server)
        with sock:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = reader.response()
            assert answer.status == 503 and answer.headers["retry-after"] == "1"
            assert "3 connections open" in answer.json()["error"]  # type: ignore[index]
    finally:
        for sock, _ in held:
            sock.close()
    # Once the server has seen them go, a new connection is served again.
    wait_until(lambda: len(connections(server)) < 3, "the server saw the connections close")
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        assert reader.response().status == 200


def test_a_percent_encoded_path_is_decoded(server: ServerThread) -> None:
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"GET /v2/models/%6Dlp/ready HTTP/1.1\r\nHost: t\r\n" + AUTH + b"\r\n")
        assert reader.response().status == 200


def test_stop_closes_idle_connections_and_answers_in_flight_ones(store: str) -> None:
    repository = ModelRepository([store])
    repository.load()
    running = ServerThread(repository, ServerOptions(port=0))
    idle, idle_reader = connect(running)
    busy, busy_reader = connect(running)
    with idle, busy:
        busy.sendall(infer_request(1.0)[:-5])  # a request still arriving
        wait_until(
            lambda: len(connections(running)) == 2 and not all(c.idle for c in connections(running)),
            "the server is receiving the busy connection's request",
        )
        future = asyncio.run_coroutine_threadsafe(running.handle.stop(5.0), running.loop)
        assert idle_reader.closed()  # idle: closed at once
        busy.sendall(infer_request(1.0)[-5:])  # the rest arrives during the grace period
        answer = busy_reader.response()
        assert answer.status == 200 and answer.headers["connection"] == "close"
        future.result(10)
    running.call(repository.close())
    running.loop.call_soon_threadsafe(running.loop.stop)
    running.thread.join(10)
    running.loop.close()


def test_pipelined_bodies_beyond_a_megabyte_pause_reading_until_answered(
    server: ServerThread, store: str
) -> None:
    # Each body is padded JSON of 400 KB: the server reads ahead at most about 1 MiB.
    padding = b" " * 400_000
    requests = []
    for value in (0.25, 0.5, 0.75, 1.0):
        head, body = infer_request(value).split(b"\r\n\r\n", 1)
        length = b"Content-Length: %d" % len(body)
        head = head.replace(length, b"Content-Length: %d" % (len(body) + len(padding)))
        requests.append(head + b"\r\n\r\n" + body + padding)
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"".join(requests))
        for value in (0.25, 0.5, 0.75, 1.0):
            data = reader.response().json()["outputs"][0]["data"]  # type: ignore[index]
            assert np.allclose(data, expected(store, value), rtol=1e-6)
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")  # reading resumed
        assert reader.response().status == 200


def test_a_client_that_does_not_read_its_answers_stops_being_read(
    server: ServerThread, store: str
) -> None:
    # Large answers (20,000 rows of 10 outputs, as JSON) to pipelined requests the client does
    # not read: the server's send buffer fills, it stops reading the connection, and once the
    # client reads, every answer arrives, in order.
    rows = 20_000
    x = np.random.default_rng(3).standard_normal((rows, 64)).astype(np.float32)
    header = json.dumps(
        {"inputs": [{"name": "x", "shape": [rows, 64], "datatype": "FP32",
                     "parameters": {"binary_data_size": x.nbytes}}]}
    ).encode()
    request = (
        b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: t\r\n" + AUTH
        + b"Inference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
        % (len(header), len(header) + x.nbytes)
        + header + x.tobytes()
    )
    sock, reader = connect(server)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sent = 0
        sock.settimeout(0.5)
        try:
            for _ in range(12):
                sock.sendall(request)
                sent += 1
        except socket.timeout:
            pass  # the server stopped reading: exactly what is tested
        wait_until(
            lambda: any(c.state is ConnectionState.BLOCKED for c in connections(server)),
            "the server saw its send buffer fill",
        )
        assert sent < 12  # it did stop reading before the client was done
        sock.settimeout(10)
        first = reader.response()
        assert first.status == 200
        assert first.json()["outputs"][0]["shape"] == [rows, 10]  # type: ignore[index]
        for _ in range(sent - 1):
            assert reader.response().status == 200


def test_the_connection_states_move_only_by_the_table() -> None:
    from interlock_rest._http_connection import MOVES

    moves = {(state.name, event): target.name for (state, event), target in MOVES.items()}
    assert not any(state == "CLOSED" for state, _ in moves)  # nothing leaves CLOSED
    assert all(moves[state.name, "closed"] == "CLOSED" for state in ConnectionState
               if state is not ConnectionState.CLOSED)
    # A client that stops reading its answers pauses reading; when it reads again, reading
    # resumes only after the requests read ahead are answered (THROTTLED, then READING).
    assert moves["READING", "send_buffer_full"] == "BLOCKED"
    assert moves["BLOCKED", "send_buffer_drained"] == "THROTTLED"
    assert moves["THROTTLED", "queue_answered"] == "READING"
    # After a last request nothing is read again, whatever the client does.
    finishing = {"FINISHING", "FINISHING_BLOCKED"}
    assert all(target in finishing | {"CLOSED"} for (state, _), target in moves.items()
               if state in finishing)
