"""The gRPC server's own HTTP/2 transport, frame by frame: a raw client on a socket crafts what
well-behaved clients send and what broken or hostile ones do, against real servers on
127.0.0.1; grpcio covers the large and concurrent cases a real client produces.

The raw client here is written from RFC 9113 and RFC 7541 (``hpack`` encodes its header
blocks), independently of the server's own frame code.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any
from urllib.parse import unquote

import grpc
import hpack
import numpy as np
import pytest

import interlock
from interlock import BatchingOptions, ModelRepository, ServerHandle
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pb_grpc
from interlock_conformance import requirement
from test_grpc_lifecycle import HOLD_MS, Loop, affine_model, start_server, stop_server, wait_until

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20
# SETTINGS identifiers and error codes (RFC 9113 sections 6.5.2 and 7)
MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 3, 4, 5, 6
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR = 0x0, 0x1, 0x3, 0x6
REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x7, 0x8, 0x9, 0xB
INFER = "/inference.GRPCInferenceService/ModelInfer"


# -- a raw HTTP/2 client ----------------------------------------------------------------------


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream) + payload


def settings(values: dict[int, int] | None = None) -> bytes:
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (values or {}).items())
    return frame(SETTINGS, 0, 0, payload)


def grpc_message(body: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">BI", int(compressed), len(body)) + body


def infer_body(rows: int = 1, value: float = 1.0) -> bytes:
    request = pb.ModelInferRequest(model_name="affine")
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 3])
    request.raw_input_contents.append(np.full((rows, 3), value, dtype=np.float32).tobytes())
    return request.SerializeToString()


class Response:
    """What came back on one stream."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.trailers: dict[str, str] = {}
        self.data = b""
        self.data_frames: list[int] = []
        self.reset: int | None = None

    @property
    def status(self) -> int:
        return int(self.trailers["grpc-status"])

    @property
    def message(self) -> str:
        return unquote(self.trailers.get("grpc-message", ""))

    def reply(self) -> pb.ModelInferResponse:
        flag, length = struct.unpack(">BI", self.data[:5])
        assert flag == 0 and len(self.data) == 5 + length
        return pb.ModelInferResponse.FromString(self.data[5:])


class Peer:
    """A raw HTTP/2 client connection: sends frames as given, reads frames one by one."""

    def __init__(
        self, address: str, values: dict[int, int] | None = None, *, preface: bool = True
    ) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.buffer = b""
        self.server_settings: dict[int, int] = {}
        self.connection_window_grants = 0
        self.acks = 0
        if preface:
            self.send(PREFACE + settings(values))

    def close(self) -> None:
        self.sock.close()

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def block(self, headers: list[tuple[str, str]]) -> bytes:
        return self.encoder.encode(headers)

    def request_headers(
        self,
        *,
        path: str = INFER,
        content_type: str = "application/grpc",
        method: str = "POST",
        extra: tuple[tuple[str, str], ...] = (),
    ) -> list[tuple[str, str]]:
        return [
            (":method", method),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("te", "trailers"),
            ("content-type", content_type),
            *extra,
        ]

    def headers(self, stream: int, *, end_stream: bool = False, **kwargs: Any) -> bytes:
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return frame(HEADERS, flags, stream, self.block(self.request_headers(**kwargs)))

    def call(self, stream: int, body: bytes, **kwargs: Any) -> None:
        """Send one unary call: HEADERS, then the length-prefixed message with END_STREAM."""
        self.send(
            self.headers(stream, **kwargs), frame(DATA, END_STREAM, stream, grpc_message(body))
        )

    def next_frame(self, timeout: float = 5.0) -> tuple[int, int, int, bytes] | None:
        """The next frame (SETTINGS are recorded and acknowledged); None at end of stream."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) >= 9 + length:
                    kind, flags = self.buffer[3], self.buffer[4]
                    stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                    payload = self.buffer[9 : 9 + length]
                    self.buffer = self.buffer[9 + length :]
                    if kind == SETTINGS and not flags & ACK:
                        for offset in range(0, len(payload), 6):
                            key, value = struct.unpack_from(">HI", payload, offset)
                            self.server_settings[key] = value
                        self.send(frame(SETTINGS, ACK, 0))
                    elif kind == SETTINGS:
                        self.acks += 1
                    elif kind == WINDOW_UPDATE and stream == 0:
                        self.connection_window_grants += struct.unpack(">I", payload)[0]
                    return kind, flags, stream, payload
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            self.buffer += chunk

    def response(self, stream: int, timeout: float = 10.0) -> Response:
        """Read until ``stream`` ends (END_STREAM or RST_STREAM)."""
        response = Response()
        deadline = time.monotonic() + timeout
        while True:
            got = self.next_frame(max(deadline - time.monotonic(), 0.01))
            assert got is not None, "the connection ended before the response did"
            kind, flags, sid, payload = got
            if sid != stream:
                continue
            if kind == HEADERS:
                fields = {k: v for k, v in self.decoder.decode(payload)}
                if not response.headers:
                    response.headers = fields
                if flags & END_STREAM:
                    response.trailers = fields
                    return response
            elif kind == DATA:
                response.data += payload
                response.data_frames.append(len(payload))
                if flags & END_STREAM:
                    return response
            elif kind == RST_STREAM:
                response.reset = struct.unpack(">I", payload)[0]
                return response

    def goaway(self, timeout: float = 5.0) -> tuple[int, int]:
        """Read until a GOAWAY; return its last stream id and error code."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.next_frame(max(deadline - time.monotonic(), 0.01))
            assert got is not None, "the connection ended without a GOAWAY"
            if got[0] == GOAWAY:
                last, code = struct.unpack(">II", got[3][:8])
                return last & 0x7FFFFFFF, code

    def ends(self, timeout: float = 5.0) -> bool:
        """Whether the server closes the connection within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
                if not self.sock.recv(65536):
                    return True
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
        return False


# -- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("grpc-http2-store"))
    interlock.save_artifact(affine_model(), root, name="affine", version="1")
    return root


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    running = Loop()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def server(loop: Loop, store: str) -> Iterator[ServerHandle]:
    """A plain server; every test checks at its end that it still serves."""
    repository, handle = start_server(
        loop, store, read_timeout_s=1.0, keep_alive_s=30, max_request_bytes=16 * 1024 * 1024
    )
    yield handle
    stop_server(loop, repository, handle)


@pytest.fixture(scope="module")
def strict(loop: Loop, store: str) -> Iterator[ServerHandle]:
    """Short timeouts and a small request limit."""
    repository, handle = start_server(
        loop, store, read_timeout_s=0.3, keep_alive_s=0.6, max_request_bytes=64 * 1024
    )
    yield handle
    stop_server(loop, repository, handle)


@pytest.fixture()
def held(loop: Loop, store: str) -> Iterator[tuple[ModelRepository, ServerHandle]]:
    """A server whose batcher holds a lone request for HOLD_MS."""
    batching = BatchingOptions(max_batch_size=8, max_batch_delay_ms=HOLD_MS)
    repository, handle = start_server(loop, store, batching=batching)
    yield repository, handle
    stop_server(loop, repository, handle)


@pytest.fixture()
def peer(server: ServerHandle) -> Iterator[Peer]:
    connection = Peer(server.address)
    yield connection
    connection.close()
    assert serves(server), "the server stopped serving"


@pytest.fixture()
def connect() -> Iterator[Callable[..., Peer]]:
    """Open raw connections that are closed after the test, whatever it does."""
    opened: list[Peer] = []

    def open_peer(address: str, values: dict[int, int] | None = None, **kwargs: Any) -> Peer:
        opened.append(Peer(address, values, **kwargs))
        return opened[-1]

    yield open_peer
    for connection in opened:
        connection.close()


def serves(handle: ServerHandle) -> bool:
    """Whether a fresh grpcio client gets an answer."""
    with grpc.insecure_channel(handle.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        return bool(stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live)


# -- the connection ---------------------------------------------------------------------------


@requirement("SRV-159")
def test_the_server_speaks_first_with_its_settings_and_a_large_window(peer: Peer) -> None:
    got = peer.next_frame()
    assert got is not None and got[0] == SETTINGS and not got[1] & ACK
    assert peer.server_settings[MAX_CONCURRENT_STREAMS] >= 100
    # Streams start with HTTP/2's default window; an admitted one gets more (SRV-306).
    assert peer.server_settings[INITIAL_WINDOW_SIZE] == 65_535
    assert peer.server_settings[MAX_HEADER_LIST_SIZE] >= 8 * 1024
    assert peer.server_settings.get(MAX_FRAME_SIZE, 16384) >= 16384
    got = peer.next_frame()
    assert got is not None and got[:3] == (WINDOW_UPDATE, 0, 0)
    assert peer.connection_window_grants >= 1024 * 1024
    peer.send(frame(PING, 0, 0, b"12345678"))
    while (got := peer.next_frame()) is not None and got[0] != PING:
        pass
    assert got == (PING, ACK, 0, b"12345678")
    assert peer.acks == 1  # our SETTINGS were acknowledged


@requirement("SRV-101")
def test_a_unary_call_on_a_raw_connection(peer: Peer) -> None:
    peer.call(1, infer_body(2, 1.0))
    response = peer.response(1)
    assert response.headers[":status"] == "200"
    assert response.headers["content-type"] == "application/grpc"
    assert response.status == 0
    reply = response.reply()
    assert [o.name for o in reply.outputs] == ["y", "total"]
    assert np.frombuffer(reply.raw_output_contents[1], "<f4").tolist() == [6.0, 6.0]
    # a second call on the same connection, its headers now indexed in the HPACK table
    peer.call(3, infer_body(1, 2.0))
    assert np.frombuffer(peer.response(3).reply().raw_output_contents[1], "<f4").tolist() == [9.0]


@requirement("SRV-158")
def test_padded_prioritised_headers_continued_over_frames(peer: Peer) -> None:
    block = peer.block(peer.request_headers())
    first, second, third = block[:3], block[3:7], block[7:]
    padding = 7
    headers_payload = bytes([padding]) + struct.pack(">IB", 0, 15) + first + b"\0" * padding
    peer.send(
        frame(HEADERS, PADDED | PRIORITY_FLAG, 1, headers_payload),
        frame(CONTINUATION, 0, 1, second),
        frame(CONTINUATION, END_HEADERS, 1, third),
        frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 200)),  # ignored
        frame(0xFA, 0x3, 1, b"unknown frame types are ignored"),
        frame(DATA, PADDED | END_STREAM, 1, bytes([3]) + grpc_message(infer_body()) + b"\0" * 3),
    )
    assert peer.response(1).status == 0


# -- flow control -----------------------------------------------------------------------------


def _reply(data: bytes) -> pb.ModelInferResponse:
    flag, length = struct.unpack(">BI", data[:5])
    assert flag == 0 and len(data) == 5 + length
    return pb.ModelInferResponse.FromString(data[5:])


def _data_until_quiet(peer: Peer, stream: int, quiet: float = 0.3) -> bytes:
    data = b""
    while (got := peer.next_frame(quiet)) is not None:
        if got[0] == DATA and got[2] == stream:
            data += got[3]
    return data


@requirement("SRV-161")
def test_responses_wait_for_the_clients_windows_and_respect_its_frame_size(peer: Peer) -> None:
    peer.send(settings({INITIAL_WINDOW_SIZE: 0}))
    rows = 2000  # y and total: 32 kB of response
    peer.call(1, infer_body(rows))
    head = peer.next_frame()
    while head is not None and not (head[0] == HEADERS and head[2] == 1):
        head = peer.next_frame()
    assert head is not None and not head[1] & END_STREAM  # the response head, no data yet
    assert _data_until_quiet(peer, 1) == b""  # the stream window is 0
    peer.send(settings({INITIAL_WINDOW_SIZE: 10_000}))  # opens the open stream's window too
    early = _data_until_quiet(peer, 1)
    assert len(early) == 10_000
    peer.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20)))
    rest = peer.response(1)
    assert rest.status == 0
    assert max(rest.data_frames) <= 16_384  # the client's SETTINGS_MAX_FRAME_SIZE (default)
    total = np.frombuffer(_reply(early + rest.data).raw_output_contents[1], "<f4")
    assert total.tolist() == [6.0] * rows

    # The connection window (65,535 by default, half spent now) holds back the next answer.
    spent = len(early) + len(rest.data)
    peer.send(settings({INITIAL_WINDOW_SIZE: 1 << 20}))
    peer.call(3, infer_body(4000))
    early = _data_until_quiet(peer, 3)
    assert len(early) == 65_535 - spent
    peer.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)))
    rest = peer.response(3)
    assert rest.status == 0
    assert _reply(early + rest.data).outputs[0].shape == [4000, 3]


def test_large_messages_both_ways_with_grpcio(server: ServerHandle) -> None:
    """6 MB in (more than the 4 MiB stream window: the server must open it again) and 8 MB out
    (grpcio's windows start small and grow)."""
    rows = 500_000
    x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    request = pb.ModelInferRequest(model_name="affine")
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 3])
    request.raw_input_contents.append(x.tobytes())
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(server.address, options=options) as channel:
        reply = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=60)
    y = np.frombuffer(reply.raw_output_contents[0], "<f4").reshape(rows, 3)
    np.testing.assert_array_equal(y, x + 1)


def test_many_concurrent_calls_on_one_channel(server: ServerHandle) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        calls: list[Future[Any]] = []
        for i in range(64):
            request = pb.ModelInferRequest.FromString(infer_body(1 + i % 5, float(i)))
            calls.append(stub.ModelInfer.future(request, timeout=30))
        for i, call in enumerate(calls):
            total = np.frombuffer(call.result().raw_output_contents[1], "<f4")
            assert total.tolist() == [3 * (i + 1.0)] * (1 + i % 5)


# -- protocol violations ----------------------------------------------------------------------


def _violations(peer: Peer) -> dict[str, tuple[list[Any], int]]:
    """Frames that break RFC 9113, sent after the preface, and the GOAWAY code they earn."""
    headers = peer.headers  # each call encodes a fresh block
    return {
        "DATA on stream 0": ([frame(DATA, 0, 0, b"x")], PROTOCOL_ERROR),
        "HEADERS on an even stream": ([frame(HEADERS, END_HEADERS, 2, b"\x83")], PROTOCOL_ERROR),
        "a frame over MAX_FRAME_SIZE": (
            [struct.pack(">I", 1 << 23)[1:] + b"\0\0\0\0\0\0"],
            FRAME_SIZE_ERROR,
        ),
        "PING of 7 bytes": ([frame(PING, 0, 0, b"1234567")], FRAME_SIZE_ERROR),
        "PING on a stream": ([frame(PING, 0, 1, b"12345678")], PROTOCOL_ERROR),
        "WINDOW_UPDATE of 0": ([frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\0")], PROTOCOL_ERROR),
        "window overflow": (
            [frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF))],
            FLOW_CONTROL_ERROR,
        ),
        "SETTINGS of 5 bytes": ([frame(SETTINGS, 0, 0, b"\0\x03\0\0\0")], FRAME_SIZE_ERROR),
        "SETTINGS on a stream": ([frame(SETTINGS, 0, 1)], PROTOCOL_ERROR),
        "SETTINGS ACK with a payload": ([frame(SETTINGS, ACK, 0, b"\0" * 6)], FRAME_SIZE_ERROR),
        "INITIAL_WINDOW_SIZE 2^31": (
            [settings({INITIAL_WINDOW_SIZE: 1 << 31})],
            FLOW_CONTROL_ERROR,
        ),
        "MAX_FRAME_SIZE 100": ([settings({MAX_FRAME_SIZE: 100})], PROTOCOL_ERROR),
        "an invalid HPACK index": (
            [frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\x7f")],
            COMPRESSION_ERROR,
        ),
        "CONTINUATION without HEADERS": (
            [frame(CONTINUATION, END_HEADERS, 1, b"\x83")],
            PROTOCOL_ERROR,
        ),
        "a header block interrupted": (
            [frame(HEADERS, 0, 1, b"\x83"), frame(PING, 0, 0, b"8" * 8)],
            PROTOCOL_ERROR,
        ),
        "HEADERS padding beyond the frame": (
            [frame(HEADERS, END_HEADERS | PADDED, 1, b"\x09\x83")],
            PROTOCOL_ERROR,
        ),
        "PUSH_PROMISE from a client": (
            [frame(PUSH_PROMISE, END_HEADERS, 1, b"\0\0\0\x02\x83")],
            PROTOCOL_ERROR,
        ),
        "RST_STREAM on an idle stream": ([frame(RST_STREAM, 0, 99, b"\0\0\0\x08")], PROTOCOL_ERROR),
        "DATA on an idle stream": ([frame(DATA, 0, 99, b"x")], PROTOCOL_ERROR),
        # header blocks are encoded only when sent: each changes the encoder's table
        "trailers without END_STREAM": (
            [lambda: headers(1), frame(HEADERS, END_HEADERS, 1, b"\x88")],
            PROTOCOL_ERROR,
        ),
    }


VIOLATION_NAMES = [
    "DATA on stream 0",
    "HEADERS on an even stream",
    "a frame over MAX_FRAME_SIZE",
    "PING of 7 bytes",
    "PING on a stream",
    "WINDOW_UPDATE of 0",
    "window overflow",
    "SETTINGS of 5 bytes",
    "SETTINGS on a stream",
    "SETTINGS ACK with a payload",
    "INITIAL_WINDOW_SIZE 2^31",
    "MAX_FRAME_SIZE 100",
    "an invalid HPACK index",
    "CONTINUATION without HEADERS",
    "a header block interrupted",
    "HEADERS padding beyond the frame",
    "PUSH_PROMISE from a client",
    "RST_STREAM on an idle stream",
    "DATA on an idle stream",
    "trailers without END_STREAM",
]


@pytest.mark.parametrize("violation", VIOLATION_NAMES)
@requirement("SRV-158")
def test_a_protocol_violation_ends_the_connection_with_goaway(violation: str, peer: Peer) -> None:
    frames, code = _violations(peer)[violation]
    if violation == "window overflow":  # the connection window is already above 2^30
        frames = frames * 2
    peer.send(*(f() if callable(f) else f for f in frames))
    assert peer.goaway()[1] == code
    assert peer.ends()


@requirement("SRV-158")
def test_what_is_not_http2_is_closed(server: ServerHandle, connect: Callable[..., Peer]) -> None:
    for opening in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", PREFACE + frame(PING, 0, 0, b"8" * 8)):
        client = connect(server.address, preface=False)
        client.send(opening)
        assert client.ends()
    assert serves(server)


@requirement("SRV-158")
def test_stream_errors_reset_only_the_stream(peer: Peer) -> None:
    malformed = {
        1: [(":method", "POST"), (":path", INFER), ("content-type", "application/grpc")],
        3: peer.request_headers(extra=(("X-Upper", "1"),)),
        5: peer.request_headers(extra=(("connection", "keep-alive"),)),
        7: [("content-type", "application/grpc"), *peer.request_headers()[:3]],
        9: peer.request_headers()[:5] + [("te", "gzip")],
    }
    for stream, fields in malformed.items():
        peer.send(frame(HEADERS, END_HEADERS | END_STREAM, stream, peer.block(fields)))
        assert peer.response(stream).reset == PROTOCOL_ERROR
    peer.send(peer.headers(11), frame(WINDOW_UPDATE, 0, 11, b"\0\0\0\0"))
    assert peer.response(11).reset == PROTOCOL_ERROR
    peer.send(peer.headers(13), frame(PRIORITY, 0, 13, b"\0\0\0\0"))
    assert peer.response(13).reset == FRAME_SIZE_ERROR
    peer.call(15, infer_body())
    assert peer.response(15).status == 0  # the connection goes on


# -- floods and limits ------------------------------------------------------------------------


@requirement("SRV-159")
def test_streams_over_the_advertised_limit_are_refused(peer: Peer) -> None:
    peer.next_frame()
    limit = peer.server_settings[MAX_CONCURRENT_STREAMS]
    peer.send(*(peer.headers(1 + 2 * i) for i in range(limit)))  # open, waiting for bodies
    refused = 1 + 2 * limit
    peer.send(peer.headers(refused))
    assert peer.response(refused).reset == REFUSED_STREAM


@pytest.mark.parametrize(
    "flood",
    ["rapid reset", "PING", "SETTINGS", "empty DATA"],
)
@requirement("SRV-159")
def test_a_flooding_client_is_disconnected(flood: str, peer: Peer) -> None:
    if flood == "rapid reset":
        frames = [
            f
            for i in range(300)
            for f in (peer.headers(1 + 2 * i), frame(RST_STREAM, 0, 1 + 2 * i, b"\0\0\0\x08"))
        ]
    elif flood == "PING":
        frames = [frame(PING, 0, 0, b"12345678")] * 1100
    elif flood == "SETTINGS":
        frames = [settings({INITIAL_WINDOW_SIZE: 65535})] * 1100
    else:
        frames = [peer.headers(1)] + [frame(DATA, 0, 1)] * 1100
    peer.send(*frames)
    assert peer.goaway()[1] == ENHANCE_YOUR_CALM
    assert peer.ends()


# -- shutdown ---------------------------------------------------------------------------------


@requirement("SRV-160", "SRV-151")
def test_stop_sends_goaway_refuses_new_streams_and_answers_the_rest(
    loop: Loop, store: str, connect: Callable[..., Peer]
) -> None:
    batching = BatchingOptions(max_batch_size=8, max_batch_delay_ms=HOLD_MS)
    repository, handle = start_server(loop, store, batching=batching)
    model = repository.get("affine")
    peer = connect(handle.address)
    peer.call(1, infer_body(2, 3.0))
    wait_until(lambda: model.queue_depth == 1)
    stopping = asyncio.run_coroutine_threadsafe(handle.stop(5), loop.loop)
    assert peer.goaway() == (1, NO_ERROR)
    peer.call(3, infer_body())
    assert peer.response(3).reset == REFUSED_STREAM
    reply = peer.response(1).reply()
    assert np.frombuffer(reply.raw_output_contents[1], "<f4").tolist() == [12.0, 12.0]
    stopping.result(10)
    assert peer.ends()
    loop.run(repository.close())


def test_a_client_goaway_lets_its_calls_finish_then_closes(peer: Peer) -> None:
    peer.call(1, infer_body())
    peer.send(frame(GOAWAY, 0, 0, struct.pack(">II", 0, NO_ERROR)))
    assert peer.response(1).status == 0
    assert peer.ends()


@requirement("SRV-158")
def test_random_frames_never_break_the_server(
    server: ServerHandle, connect: Callable[..., Peer], caplog: pytest.LogCaptureFixture
) -> None:
    """Seeded garbage after a valid preface: every connection ends cleanly or goes on; no
    handler fails (a failure would be logged with its traceback) and the server serves."""
    rng = np.random.default_rng(20261121)
    for _ in range(40):
        peer = connect(server.address)
        frames = []
        for _ in range(int(rng.integers(1, 12))):
            kind = int(rng.integers(0, 11))
            flags = int(rng.integers(0, 256))
            stream = int(rng.choice([0, 1, 2, 3, 5, int(rng.integers(0, 1 << 31))]))
            payload = rng.bytes(int(rng.integers(0, 40)))
            if kind == HEADERS and rng.random() < 0.5:
                payload = peer.block(peer.request_headers())
            frames.append(frame(kind, flags, stream, payload))
        peer.send(*frames)
        while peer.next_frame(0.2) is not None:
            pass
    failures = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not failures, failures[0].getMessage()
    assert serves(server)


@requirement("SRV-161")
def test_the_h2_library_as_client_with_small_windows(server: ServerHandle) -> None:
    """Another HTTP/2 implementation (python-hyper's h2) as the client, with a 16 kB stream
    window it gives back as it reads: 480 kB go out as the server's windows allow, and a
    640 kB answer arrives whole."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings

    host, port = server.address.rsplit(":", 1)
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    client = h2.connection.H2Connection(config)
    client.initiate_connection()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 16_384})
    rows = 40_000
    pending = grpc_message(infer_body(rows, 2.0))
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        stream = client.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", INFER),
            (":authority", "localhost"),
            ("te", "trailers"),
            ("content-type", "application/grpc"),
        ]
        client.send_headers(stream, headers)
        data, trailers, ended = b"", {}, False
        while not ended:
            size = min(
                len(pending),
                client.local_flow_control_window(stream),
                client.max_outbound_frame_size,
            )
            if pending and size > 0:
                client.send_data(stream, pending[:size], end_stream=size == len(pending))
                pending = pending[size:]
            sock.sendall(client.data_to_send())
            if pending and client.local_flow_control_window(stream) > 0:
                continue
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection"
            for event in client.receive_data(chunk):
                if isinstance(event, h2.events.DataReceived):
                    data += event.data
                    client.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers = dict(event.headers)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(client.data_to_send())
    assert trailers["grpc-status"] == "0"
    reply = _reply(data)
    assert np.frombuffer(reply.raw_output_contents[1], "<f4").tolist() == [9.0] * rows


def test_a_client_that_does_not_read_its_answers_stops_being_read(loop: Loop, store: str) -> None:
    # Large answers (65,536 rows) to calls the client does not read, with HTTP/2 windows wide
    # open: the server's send buffer fills, it stops reading the connection, and once the
    # client reads, every answer arrives.
    repository, handle = start_server(loop, store, read_timeout_s=30, keep_alive_s=30)
    peer = Peer(handle.address, {INITIAL_WINDOW_SIZE: 2**31 - 1})
    try:
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        peer.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1 - 65_535)))
        # The settings exchange first: later, an acknowledgement could not be sent while the
        # server is not reading.
        while INITIAL_WINDOW_SIZE not in peer.server_settings or not peer.acks:
            assert peer.next_frame() is not None
        message = grpc_message(infer_body(rows=65_536))
        streams = list(range(1, 40, 2))
        # Each stream sends its first window, and the rest once the server admitted it (a
        # WINDOW_UPDATE on the stream): all are admitted before any answer is sent.
        peer.send(
            *(f for s in streams for f in (peer.headers(s), frame(DATA, 0, s, message[:65_535])))
        )
        admitted: set[int] = set()
        while len(admitted) < len(streams):
            got = peer.next_frame()
            assert got is not None, f"streams not admitted: {set(streams) - admitted}"
            if got[0] == WINDOW_UPDATE and got[2]:
                admitted.add(got[2])
        peer.sock.settimeout(0.5)
        sent: list[int] = []
        early: list[tuple[int, int, int, bytes]] = []
        try:
            # 20 calls, 15.7 MB: within the 16 MiB connection window the server grants up front
            # (grants after that would not be read), and far more than the buffers hold.
            for stream in streams:
                peer.send(frame(DATA, END_STREAM, stream, message[65_535:]))
                sent.append(stream)
        except socket.timeout:
            pass  # the server stopped reading: what is tested
        connections = handle.connections  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while not any(not c._transport.is_reading() for c in list(connections)):
            assert time.monotonic() < deadline, "the server never stopped reading"
            time.sleep(0.05)
        # The answers may interleave: read them all in one pass.
        bodies = {stream: b"" for stream in sent}
        trailers: dict[int, dict[str, str]] = {}
        deadline = time.monotonic() + 30
        while len(trailers) < len(sent):
            got = early.pop(0) if early else peer.next_frame(max(deadline - time.monotonic(), 0.01))
            assert got is not None, f"answers missing: {sorted(set(sent) - set(trailers))}"
            kind, flags, sid, payload = got
            if kind == DATA and sid in bodies:
                bodies[sid] += payload
            elif kind == HEADERS:
                fields = dict(peer.decoder.decode(payload))
                if flags & END_STREAM and sid in bodies:
                    trailers[sid] = fields
        for stream in sent:
            assert trailers[stream]["grpc-status"] == "0", trailers[stream]
            reply = pb.ModelInferResponse.FromString(bodies[stream][5:])
            assert list(reply.outputs[0].shape) == [65_536, 3]
    finally:
        peer.close()
        stop_server(loop, repository, handle)
