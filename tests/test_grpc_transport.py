"""gRPC on the server's own HTTP/2 transport: what is and is not a call of the service, one
message per unary call, compression, size limits, deadlines, cancellation and slow clients,
with the raw HTTP/2 client of ``test_grpc_http2`` (and grpcio where a real client's behaviour
is the point)."""

from __future__ import annotations

import gzip
import struct
import time
import zlib
from collections.abc import Callable

import grpc
import numpy as np
import pytest

from interlock import ModelRepository, ServerHandle
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pb_grpc
from interlock.serving.oip.metrics import metrics_for
from interlock_conformance import requirement
import test_grpc_http2 as raw
from test_grpc_http2 import (
    CANCEL,
    DATA,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    HEADERS,
    NO_ERROR,
    RST_STREAM,
    Peer,
    frame,
    grpc_message,
    infer_body,
)
from test_grpc_lifecycle import HOLD_MS, wait_until

# The raw client's servers and connections, as fixtures of this module too.
loop, store, server, strict, held = raw.loop, raw.store, raw.server, raw.strict, raw.held
peer, connect = raw.peer, raw.connect

# -- gRPC on HTTP/2 ---------------------------------------------------------------------------


@requirement("SRV-154")
def test_what_is_not_a_grpc_call_of_the_service(peer: Peer) -> None:
    peer.call(1, infer_body(), content_type="application/json")
    response = peer.response(1)
    assert response.headers[":status"] == "415" and "application/grpc" in response.message
    peer.call(3, infer_body(), method="PUT")
    response = peer.response(3)
    assert response.headers[":status"] == "405" and response.status == 12
    peer.call(5, b"", path="/inference.GRPCInferenceService/ModelUnload")
    response = peer.response(5)
    assert response.status == 12 and "unknown method" in response.message
    peer.call(7, b"", path="/grpc.health.v1.Health/Check")
    response = peer.response(7)
    assert response.status == 12 and "unknown service" in response.message
    peer.call(9, infer_body(), content_type="application/grpc+proto")
    assert peer.response(9).status == 0


@requirement("SRV-154")
def test_a_unary_call_takes_exactly_one_message(peer: Peer) -> None:
    peer.send(peer.headers(1, end_stream=True))
    response = peer.response(1)
    assert response.status == 12 and "no request message" in response.message
    body = infer_body()
    peer.send(peer.headers(3), frame(DATA, END_STREAM, 3, grpc_message(body) * 2))
    response = peer.response(3)
    assert response.status == 12 and "more than one" in response.message
    peer.send(peer.headers(5), frame(DATA, END_STREAM, 5, grpc_message(body)[:-2]))
    response = peer.response(5)
    assert response.status == 13 and "ended before" in response.message
    # one message spread over several DATA frames is one message
    message = grpc_message(body)
    peer.send(
        peer.headers(7),
        *(frame(DATA, 0, 7, message[i : i + 7]) for i in range(0, len(message), 7)),
        frame(DATA, END_STREAM, 7),
    )
    assert peer.response(7).status == 0


def test_error_details_are_percent_encoded(peer: Peer) -> None:
    request = pb.ModelInferRequest(model_name="modèle 100%")
    peer.call(1, request.SerializeToString())
    response = peer.response(1)
    raw = response.trailers["grpc-message"]
    assert raw.isascii() and "%25" in raw and "%C3%A8" in raw
    assert response.status == 5 and "modèle 100%" in response.message


@requirement("SRV-155")
def test_gzip_and_deflate_messages_are_decompressed(peer: Peer) -> None:
    body = infer_body(3, 4.0)
    for stream, encoding, packed in (
        (1, "gzip", gzip.compress(body)),
        (3, "deflate", zlib.compress(body)),
    ):
        peer.send(
            peer.headers(stream, extra=(("grpc-encoding", encoding),)),
            frame(DATA, END_STREAM, stream, grpc_message(packed, compressed=True)),
        )
        reply = peer.response(stream).reply()
        assert np.frombuffer(reply.raw_output_contents[1], "<f4").tolist() == [15.0] * 3
    peer.send(
        peer.headers(5, extra=(("grpc-encoding", "snappy"),)),
        frame(DATA, END_STREAM, 5, grpc_message(body, compressed=True)),
    )
    response = peer.response(5)
    assert response.status == 12 and "snappy" in response.message
    assert response.trailers["grpc-accept-encoding"] == "identity,deflate,gzip"
    peer.send(peer.headers(7), frame(DATA, END_STREAM, 7, grpc_message(body, compressed=True)))
    response = peer.response(7)
    assert response.status == 13 and "grpc-encoding" in response.message
    peer.send(
        peer.headers(9, extra=(("grpc-encoding", "gzip"),)),
        frame(DATA, END_STREAM, 9, grpc_message(b"not gzip", compressed=True)),
    )
    assert peer.response(9).status == 13


@requirement("SRV-155")
def test_grpcio_compressed_calls(server: ServerHandle) -> None:
    request = pb.ModelInferRequest.FromString(infer_body(1000))
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for compression in (grpc.Compression.Gzip, grpc.Compression.Deflate):
            reply = stub.ModelInfer(request, compression=compression, timeout=10)
            assert np.frombuffer(reply.raw_output_contents[1], "<f4").tolist() == [6.0] * 1000


@requirement("SRV-142", "SRV-159")
def test_a_message_over_the_limit_is_refused_from_its_length_prefix(
    strict: ServerHandle, connect: Callable[..., Peer]
) -> None:
    peer = connect(strict.address)
    # declares 1 GiB, sends 100 bytes of it: answered at once, nothing more is read
    peer.send(peer.headers(1), frame(DATA, 0, 1, struct.pack(">BI", 0, 1 << 30) + b"\0" * 100))
    response = peer.response(1)
    assert response.status == 8 and "1073741824 bytes" in response.message
    assert peer.response(1).reset == NO_ERROR  # and the client may stop sending
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))  # 10 MB in 10 kB
    peer.send(
        peer.headers(3, extra=(("grpc-encoding", "gzip"),)),
        frame(DATA, END_STREAM, 3, grpc_message(bomb, compressed=True)),
    )
    response = peer.response(3)
    assert response.status == 8 and "max_request_bytes" in response.message
    # grpcio sends its first 64 kB before it reads the server's settings: still refused in
    # words, not with a flow-control reset
    with grpc.insecure_channel(strict.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(pb.ModelInferRequest.FromString(infer_body(20_000)), timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_an_invalid_grpc_timeout_is_refused(peer: Peer) -> None:
    peer.call(1, infer_body(), extra=(("grpc-timeout", "soon"),))
    response = peer.response(1)
    assert response.status == 13 and "grpc-timeout" in response.message


# -- cancellation and deadlines ---------------------------------------------------------------


@requirement("SRV-156")
def test_grpc_timeout_ends_a_call_with_deadline_exceeded(
    held: tuple[ModelRepository, ServerHandle],
    connect: Callable[..., Peer],
) -> None:
    _, handle = held
    peer = connect(handle.address)
    started = time.monotonic()
    peer.call(1, infer_body(), extra=(("grpc-timeout", "200m"),))
    response = peer.response(1)
    assert response.status == 4 and "grpc-timeout" in response.message
    assert time.monotonic() - started < HOLD_MS / 1000  # not after the batcher's hold


@requirement("SRV-156")
def test_rst_stream_cancels_the_call(
    held: tuple[ModelRepository, ServerHandle], connect: Callable[..., Peer]
) -> None:
    repository, handle = held
    model = repository.get("affine")
    peer = connect(handle.address)
    started = time.monotonic()
    peer.call(1, infer_body())
    wait_until(lambda: model.queue_depth == 1)
    peer.send(frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)))
    metrics = metrics_for(repository)
    wait_until(lambda: 'status="CANCELLED"' in metrics.render().decode(), timeout=HOLD_MS / 1000)
    assert time.monotonic() - started < HOLD_MS / 1000
    peer.call(3, infer_body())  # the connection goes on
    assert peer.response(3).status == 0


# -- slow and idle clients --------------------------------------------------------------------


@requirement("SRV-157")
def test_a_connection_without_a_preface_in_time_is_closed(
    strict: ServerHandle, connect: Callable[..., Peer]
) -> None:
    silent = connect(strict.address, preface=False)
    started = time.monotonic()
    assert silent.ends(timeout=3)
    assert time.monotonic() - started < 1.5  # read_timeout_s is 0.3


@requirement("SRV-157")
def test_an_idle_connection_is_closed_with_goaway(
    strict: ServerHandle, connect: Callable[..., Peer]
) -> None:
    peer = connect(strict.address)
    peer.call(1, infer_body())
    assert peer.response(1).status == 0
    started = time.monotonic()
    assert peer.goaway(timeout=3) == (1, NO_ERROR)
    assert time.monotonic() - started < 1.5  # keep_alive_s is 0.6
    assert peer.ends(timeout=3)


@requirement("SRV-157")
def test_a_header_block_not_completed_in_time_closes_the_connection(
    strict: ServerHandle, connect: Callable[..., Peer]
) -> None:
    peer = connect(strict.address)
    while peer.acks == 0:  # settings exchanged: no frame of ours may cut into the block
        assert peer.next_frame() is not None
    block = peer.block(peer.request_headers())
    peer.send(frame(HEADERS, 0, 1, block[:2]))  # CONTINUATION never follows
    started = time.monotonic()
    assert peer.goaway(timeout=3)[1] == ENHANCE_YOUR_CALM
    assert time.monotonic() - started < 0.6 + 0.3  # well before the idle timeout


@requirement("SRV-153")
def test_a_request_body_not_received_in_time_is_deadline_exceeded(
    strict: ServerHandle, connect: Callable[..., Peer]
) -> None:
    peer = connect(strict.address)
    peer.send(peer.headers(1), frame(DATA, 0, 1, grpc_message(infer_body())[:8]))
    response = peer.response(1, timeout=3)
    assert response.status == 4 and "within 0.3 s" in response.message
