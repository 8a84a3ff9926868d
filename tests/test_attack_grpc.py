"""The gRPC server's HTTP/2 transport attacked as an outsider would, and by grpcio itself at
its limits: each attack is bounded to a second or a few; the server stays alive, legitimate
REST and gRPC clients are answered within ``attack_server.LATENCY_S`` while it lasts, its
memory grows by less than a stated bound and comes back after (``under_attack``)."""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import interlock
import numpy as np
import pytest
from attack_server import Served, grow_model, server, sum_model, under_attack
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pbg
from interlock_conformance import requirement
from test_grpc_http2 import (
    CANCEL,
    CONTINUATION,
    DATA,
    ENHANCE_YOUR_CALM,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    PING,
    PROTOCOL_ERROR,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    END_HEADERS,
    END_STREAM,
    Peer,
    frame,
    grpc_message,
    settings,
)

MB = 1024 * 1024


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("attack-grpc") / "store")
    interlock.save_artifact(sum_model(), root, name="sum", version="1")
    interlock.save_artifact(grow_model(), root, name="grow", version="1")
    return root


@pytest.fixture(scope="module")
def served(store: str) -> Iterator[Served]:
    with server(
        store,
        rest={"max_request_bytes": 4 * MB, "read_timeout_s": 3},
        grpc={
            "max_request_bytes": 4 * MB,
            "read_timeout_s": 3,
            "keep_alive_s": 2,
            "max_connections": 64,
        },
    ) as running:
        yield running


@pytest.fixture(scope="module")
def large(store: str) -> Iterator[Served]:
    # Large calls: 34 MiB messages, a 70 MiB request budget (five 12 MB calls at once), and
    # the idle timeout interlock.serve() sets.
    with server(
        store,
        rest={"max_request_bytes": 34 * MB},
        grpc={
            "max_request_bytes": 34 * MB,
            "keep_alive_s": 300,
            "settings": {"max_buffered_bytes": 70 * MB},
        },
    ) as running:
        yield running


def infer_request(rows: int, **fields: object) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="sum", **fields)
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 4])
    request.raw_input_contents.append(np.ones((rows, 4), dtype=np.float32).tobytes())
    return request


def stub(served: Served, **options: object) -> tuple[grpc.Channel, pbg.GRPCInferenceServiceStub]:
    channel = grpc.insecure_channel(
        served.grpc_address,
        options=[("grpc.max_send_message_length", 64 * MB),
                 ("grpc.max_receive_message_length", 64 * MB), *options.items()],
    )
    return channel, pbg.GRPCInferenceServiceStub(channel)


def peer(served: Served, values: dict[int, int] | None = None) -> Peer:
    return Peer(served.grpc_address, values)


def repeat(attack: Callable[[Peer], None], served: Served) -> Callable[[threading.Event], None]:
    """An attack that reconnects whenever the server ends its connection."""

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            client = peer(served)
            try:
                attack(client)
            except OSError:
                pass
            finally:
                client.close()

    return run


# -- grpcio at the budget ---------------------------------------------------------------------


@requirement("SRV-306")
def test_thirty_concurrent_12_mb_calls_on_one_grpcio_channel_all_complete(large: Served) -> None:
    rows = 12 * MB // 16
    request = infer_request(rows)
    channel, client = stub(large)
    outcomes: list[str] = []

    def call() -> str:
        for _ in range(50):  # refused streams are retried, as a client's retry policy would
            try:
                reply = client.ModelInfer(request, timeout=60)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    return f"{error.code()}: {error.details()}"
                time.sleep(0.05)
                continue
            assert np.frombuffer(reply.raw_output_contents[0], "<f4")[:3].tolist() == [4.0] * 3
            return "OK"
        return "never admitted"

    def attack(stop: threading.Event) -> None:
        with ThreadPoolExecutor(30) as pool:
            outcomes.extend(pool.map(lambda _: call(), range(30)))

    def warm() -> None:  # as many calls as the budget admits at once
        with ThreadPoolExecutor(5) as pool:
            assert all(r == "OK" for r in pool.map(lambda _: call(), range(5)))

    try:
        # 70 MiB of budget, plus what decoding the admitted calls costs: well below the 360 MB
        # the calls carry together.
        outcome = under_attack(large, attack, peak_mb=256, after_mb=64, warm=warm)
    finally:
        channel.close()
    assert outcomes == ["OK"] * 30, outcomes
    print(outcome)


@requirement("SRV-307")
def test_a_32_mib_gzip_call_is_answered(large: Served) -> None:
    # Random floats compress slowly: grpcio spends seconds compressing before the first DATA,
    # with no byte on the connection meanwhile; the idle timeout is minutes, not seconds.
    rows = 32 * MB // 16 - 4096
    request = pb.ModelInferRequest(model_name="sum")
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 4])
    values = np.random.default_rng(0).random((rows, 4), dtype=np.float32)
    request.raw_input_contents.append(values.tobytes())
    channel, client = stub(large)
    try:
        client.ModelInfer(infer_request(1))  # connected first
        reply = client.ModelInfer(request, timeout=60, compression=grpc.Compression.Gzip)
    finally:
        channel.close()
    sums = np.frombuffer(reply.raw_output_contents[0], "<f4")
    assert np.allclose(sums[:10], values[:10].sum(axis=1), rtol=1e-5)


@requirement("SRV-307")
def test_a_connection_is_idle_only_without_streams_and_bytes(served: Served) -> None:
    # keep_alive_s is 2 here: PINGs every 0.4 s for 3 s keep the connection; silence ends it.
    client = peer(served)
    try:
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            client.send(frame(PING, 0, 0, b"12345678"))
            while (got := client.next_frame(0.4)) is not None:
                assert got[0] != GOAWAY, "closed while in use"
        client.call(1, infer_request(1).SerializeToString())
        assert client.response(1).status == 0
        assert client.goaway(timeout=5.0)[1] == 0  # then idle: closed, NO_ERROR
    finally:
        client.close()


@requirement("SRV-308")
def test_oversized_metadata_refuses_that_call_alone(served: Served) -> None:
    channel, client = stub(served)
    try:
        with ThreadPoolExecutor(9) as pool:
            normal = [pool.submit(client.ModelInfer, infer_request(2), timeout=10) for _ in range(8)]
            big = pool.submit(
                client.ModelInfer, infer_request(2), metadata=(("x-big", "a" * 20_000),),
                timeout=10,
            )
            with pytest.raises(grpc.RpcError) as refused:
                big.result()
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "header list" in (refused.value.details() or "")
            for future in normal:
                assert len(future.result().raw_output_contents[0]) == 8
        client.ModelInfer(infer_request(2), timeout=10)  # the channel is fine
    finally:
        channel.close()


@pytest.mark.parametrize("shape", [[10**18, 0, 3], [0, 2**40]], ids=["1e18-0-3", "0-2^40"])
@requirement("SRV-303")
def test_a_shape_beyond_any_array_is_invalid_argument(served: Served, shape: list[int]) -> None:
    channel, client = stub(served)
    request = pb.ModelInferRequest(model_name="sum")
    request.inputs.add(name="x", datatype="FP32", shape=shape)
    request.raw_input_contents.append(b"")
    try:
        with pytest.raises(grpc.RpcError) as refused:
            client.ModelInfer(request, timeout=10)
    finally:
        channel.close()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than 2147483647 elements" in (refused.value.details() or "")


@requirement("SRV-303")
def test_many_tiny_tensors_are_refused_before_decoding(served: Served) -> None:
    request = pb.ModelInferRequest(model_name="sum")
    for i in range(150_000):
        request.inputs.add(name=f"x{i}", datatype="FP32", shape=[1])
    channel, client = stub(served)

    def attack(stop: threading.Event) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            with pytest.raises(grpc.RpcError) as refused:
                client.ModelInfer(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "do not match its signature" in (refused.value.details() or "")
            assert time.perf_counter() - start < 2.0

    try:
        # 150,000 parsed input messages per request: glibc keeps some of them after the burst
        # (+36 MB seen in a CI run, against 32 for the other attacks).
        print(under_attack(served, attack, peak_mb=96, after_mb=48))
    finally:
        channel.close()


# -- raw HTTP/2 attacks -----------------------------------------------------------------------


def _headers(client: Peer, stream: int, **kwargs: object) -> bytes:
    return client.headers(stream, **kwargs)  # type: ignore[arg-type]


def _made_you_reset(client: Peer) -> None:
    # CVE-2025-8671: streams the server itself resets (WINDOW_UPDATE of 0 on each).
    client.send(*(f for i in range(3000) for f in (
        _headers(client, 1 + 2 * i), frame(WINDOW_UPDATE, 0, 1 + 2 * i, b"\0\0\0\0"))))
    assert client.goaway()[1] == ENHANCE_YOUR_CALM


def _closed_stream_headers(client: Peer) -> None:
    # HEADERS on ever lower, closed stream ids: a reset each, counted like the others.
    client.send(_headers(client, 20001, end_stream=True))
    client.send(*(_headers(client, 20001 - 2 * i, end_stream=True) for i in range(1, 2000)))
    assert client.goaway()[1] == ENHANCE_YOUR_CALM


def _rapid_reset(client: Peer) -> None:
    client.send(*(f for i in range(600) for f in (
        _headers(client, 1 + 2 * i), frame(RST_STREAM, 0, 1 + 2 * i, struct.pack(">I", CANCEL)))))
    assert client.goaway()[1] == ENHANCE_YOUR_CALM


def _continuation_flood(client: Peer) -> None:
    client.send(frame(HEADERS, 0, 1, client.block(client.request_headers())))
    client.send(*[frame(CONTINUATION, 0, 1, b"\x40\x01a\x01b" * 100)] * 2000)
    assert client.goaway()[1] in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR)


def _hpack_bomb(client: Peer) -> None:
    # One 4 KB entry in the dynamic table, then a block that references it 10,000 times.
    insert = b"\x40\x01x" + b"\x7f\xa1\x1e" + b"v" * 4000
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, client.block(client.request_headers()) + insert))
    client.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, b"\xbe" * 10_000))
    assert client.goaway()[1] in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR, 0x9)


def _control_floods(client: Peer) -> None:
    client.send(*[frame(PING, 0, 0, b"12345678")] * 1100)
    assert client.goaway()[1] == ENHANCE_YOUR_CALM


def _settings_flood(client: Peer) -> None:
    client.send(*[settings({INITIAL_WINDOW_SIZE: 65535})] * 1100)
    assert client.goaway()[1] == ENHANCE_YOUR_CALM


def _empty_data(client: Peer) -> None:
    client.send(_headers(client, 1), *[frame(DATA, 0, 1)] * 1100)
    assert client.goaway()[1] == ENHANCE_YOUR_CALM


def _window_overflow(client: Peer) -> None:
    client.send(*[frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF))] * 2)
    assert client.goaway()[1] == 0x3


def _length_4gib(client: Peer) -> None:
    client.send(_headers(client, 1), frame(DATA, END_STREAM, 1, b"\0\xff\xff\xff\xff"))
    assert client.response(1).status == 8  # RESOURCE_EXHAUSTED, decided from the prefix


def _malformed_protobuf(client: Peer) -> None:
    for stream in range(1, 200, 2):
        client.send(_headers(client, stream), frame(DATA, END_STREAM, stream, grpc_message(b"\xff" * 64)))
        assert client.response(stream).status == 3  # INVALID_ARGUMENT
    raise OSError


@pytest.mark.parametrize(
    "attack",
    [_made_you_reset, _closed_stream_headers, _rapid_reset, _continuation_flood, _hpack_bomb,
     _control_floods, _settings_flood, _empty_data, _window_overflow, _length_4gib,
     _malformed_protobuf],
    ids=lambda a: a.__name__.strip("_"),
)
@requirement("SRV-309")
def test_http2_attacks_end_in_their_own_connection(
    served: Served, attack: Callable[[Peer], None]
) -> None:
    outcome = under_attack(served, repeat(attack, served))
    print(outcome)


@requirement("SRV-310")
def test_connections_beyond_the_limit_get_goaway(served: Served) -> None:
    held = [peer(served) for _ in range(63)]  # and the legitimate client's channel: 64
    try:
        for client in held:
            client.next_frame()
        try:
            refused = peer(served)
        except ConnectionResetError:
            return  # refused before the preface was even sent: as good

        try:
            kinds = []
            while (got := refused.next_frame(2.0)) is not None:
                kinds.append(got[0])
                if got[0] == GOAWAY:
                    assert b"too many connections" in got[3]
                    break
            assert GOAWAY in kinds, kinds
            assert refused.ends()
        except ConnectionResetError:
            # The server closed the refused connection with our preface still unread: the
            # kernel turns that into a reset, which may overtake the GOAWAY. Refused either way.
            pass
        finally:
            refused.close()
    finally:
        for client in held:
            client.close()


@requirement("SRV-305")
def test_answers_a_closed_window_blocks_are_dropped_after_the_send_timeout(served: Served) -> None:
    # 10 connections x 20 calls whose answers wait forever for a flow window the clients never
    # open: after the send timeout (3 s) each stream is reset, and its answer's memory freed.
    resets: list[int] = []

    def attack(stop: threading.Event) -> None:
        clients = [peer(served, {INITIAL_WINDOW_SIZE: 0}) for _ in range(10)]
        body = grpc_message(infer_request(1).SerializeToString())
        for client in clients:
            client.send(*(f for s in range(1, 40, 2) for f in (
                _headers(client, s), frame(DATA, END_STREAM, s, body))))
        deadline = time.monotonic() + 8
        for client in clients:
            ended: set[int] = set()
            cancelled = 0
            while len(ended) < 20 and (got := client.next_frame(max(deadline - time.monotonic(), 0.1))):
                kind, flags, stream, payload = got
                if kind == RST_STREAM:
                    ended.add(stream)
                    cancelled += struct.unpack(">I", payload)[0] == CANCEL
                elif kind == HEADERS and flags & END_STREAM:
                    ended.add(stream)  # refused at once (in-flight limit): nothing to send
            resets.append(cancelled if len(ended) == 20 else -1)
            client.close()

    print(under_attack(served, attack, seconds=4))
    # Every stream ended; those with an answer to send were reset after the send timeout.
    assert min(resets) >= 0 and sum(resets) >= 100, resets


@requirement("SRV-305")
def test_answers_held_for_clients_that_never_open_their_window_are_freed(served: Served) -> None:
    # 30 connections ask for a 1 MB answer each and never open their flow window: the server
    # holds the answers until the clients go, then gives the memory back.
    request = pb.ModelInferRequest(model_name="grow")
    request.inputs.add(name="x", datatype="FP32", shape=[4000, 4])
    request.raw_input_contents.append(np.ones((4000, 4), dtype=np.float32).tobytes())
    body = grpc_message(request.SerializeToString())  # within the first 65,535-byte window
    held: list[int] = []

    def attack(stop: threading.Event) -> None:
        clients = [peer(served, {INITIAL_WINDOW_SIZE: 0}) for _ in range(30)]
        for client in clients:
            client.send(_headers(client, 1), frame(DATA, END_STREAM, 1, body))
        time.sleep(1.0)
        held.append(served.rss())
        for client in clients:
            client.close()

    outcome = under_attack(served, attack, peak_mb=160, after_mb=32)
    assert held[0] - outcome.base > 20 * MB, outcome  # the answers were held meanwhile
    print(outcome)


@pytest.mark.parametrize("case", ["content-length", "space-in-name"])
@requirement("SRV-311")
def test_malformed_requests_reset_their_stream(served: Served, case: str) -> None:
    client = peer(served)
    try:
        body = grpc_message(infer_request(1).SerializeToString())
        if case == "content-length":
            extra = (("content-length", str(len(body) + 10)),)
        else:
            extra = (("x bad", "1"),)
        client.send(_headers(client, 1, extra=extra), frame(DATA, END_STREAM, 1, body))
        assert client.response(1).reset == PROTOCOL_ERROR
        client.call(3, infer_request(1).SerializeToString())
        assert client.response(3).status == 0  # the connection goes on
    finally:
        client.close()


@requirement("SRV-311")
def test_goaway_debug_text_shows_no_memory_address(served: Served) -> None:
    client = peer(served)
    try:
        client.send(frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff\xff"))  # bad HPACK
        while (got := client.next_frame()) is not None and got[0] != GOAWAY:
            pass
        assert got is not None
        assert not re.search(rb"0x[0-9a-f]{6,}", got[3]), got[3]
    finally:
        client.close()
