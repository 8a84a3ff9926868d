"""The gRPC server's limits and lifecycle: back-pressure, sizes, readiness, ports, shutdown.

Servers here are built from the component itself (``Server.create``) on a plain asyncio loop
in a thread, so that options ``interlock.serve`` does not expose can be set; ``serve`` itself
runs on uvloop and is exercised in ``test_grpc_server.py``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
import pytest
from onnx import TensorProto, helper

import interlock
from interlock import BatchingOptions, ModelRepository, ServerHandle, ServerOptions
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pb_grpc
from interlock.serving.oip.metrics import metrics_for
from interlock_conformance import requirement

HOLD_MS = 1500.0  # how long the batcher holds a lone request waiting for company


class Loop:
    """An asyncio event loop in a thread, running servers the way ``interlock.serve`` does."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def affine_model() -> Any:
    """``y = x + 1`` and ``total = sum(y, axis=1)`` for ``x`` FP32 [batch, 3]."""
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "one"], ["y"]),
            helper.make_node("ReduceSum", ["y", "axes"], ["total"], keepdims=0),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"]),
        ],
        [
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("grpc-lifecycle-store"))
    interlock.save_artifact(affine_model(), root, name="affine", version="1")
    return root


@pytest.fixture()
def loop() -> Iterator[Loop]:
    running = Loop()
    try:
        yield running
    finally:
        running.close()


def start_server(
    loop: Loop, store: str, *, batching: BatchingOptions | None = None, **options: Any
) -> tuple[ModelRepository, ServerHandle]:
    repository = ModelRepository([store], batching=batching)
    repository.load()
    component = interlock.get_registry().get("server", "grpc")
    handle = component.create(repository, ServerOptions(port=0, **options))
    loop.run(handle.start())
    return repository, handle


def stop_server(loop: Loop, repository: ModelRepository, *handles: ServerHandle) -> None:
    repository.start_draining()
    for handle in handles:
        loop.run(handle.stop(5))
    loop.run(repository.close())


def infer_request(rows: int = 1) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="affine")
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 3])
    request.raw_input_contents.append(np.ones((rows, 3), dtype=np.float32).tobytes())
    return request


def stub_for(channel: grpc.Channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


# -- component --------------------------------------------------------------------------------


def test_the_component_is_registered_as_grpc() -> None:
    """SRV-104: the reference component, found through the registry."""
    component = interlock.get_registry().get("server", "grpc")
    assert isinstance(component, interlock.Server)
    assert component.default_port == 8001
    assert component.capabilities == {"grpc", "grpc.typed-contents", "grpc.auth"}
    owner = interlock.get_registry().owner(component)
    assert owner is not None and owner.name == "interlock_grpc"


def test_unknown_settings_are_refused_naming_the_setting(store: str) -> None:
    """SRV-152."""
    repository = ModelRepository([store])
    component = interlock.get_registry().get("server", "grpc")
    with pytest.raises(interlock.InterlockError, match="max_respons_bytes") as info:
        component.create(repository, ServerOptions(settings={"max_respons_bytes": 4096}))
    assert "max_response_bytes" in (info.value.hint or "")


def test_a_busy_port_is_an_error_naming_the_address(loop: Loop, store: str) -> None:
    """SRV-150: no silent port sharing (SO_REUSEPORT is off)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        repository = ModelRepository([store])
        repository.load()
        handle = (
            interlock.get_registry()
            .get("server", "grpc")
            .create(repository, ServerOptions(port=port))
        )
        with pytest.raises(interlock.InterlockError, match=f"127.0.0.1:{port}") as info:
            loop.run(handle.start())
        assert info.value.hint
        loop.run(repository.close())


# -- limits -----------------------------------------------------------------------------------


def test_message_size_limits(loop: Loop, store: str) -> None:
    """SRV-142, SRV-140: request and response size limits."""
    repository, handle = start_server(
        loop, store, max_request_bytes=2048, settings={"max_response_bytes": 1024}
    )
    try:
        with grpc.insecure_channel(handle.address) as channel:
            stub = stub_for(channel)
            assert stub.ModelInfer(infer_request(1)).outputs[1].name == "total"
            too_big = rpc_error(lambda: stub.ModelInfer(infer_request(200)))  # 2.4 kB in
            assert too_big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            answer_too_big = rpc_error(lambda: stub.ModelInfer(infer_request(100)))  # 1.6 kB out
            assert answer_too_big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        stop_server(loop, repository, handle)


@requirement("SRV-141")
def test_overload_is_unavailable_with_retry_after(loop: Loop, store: str) -> None:
    """SRV-141: both limits, with retry-after; probes still answer."""
    # The batcher holds a lone request for HOLD_MS, so a request stays in flight long enough
    # to meet both limits: the server's (max_connections) and the model queue's (max_queue).
    batching = BatchingOptions(max_batch_size=8, max_batch_delay_ms=HOLD_MS, max_queue=1)
    repository, limited = start_server(loop, store, batching=batching, max_connections=1)
    unlimited = (
        interlock.get_registry()
        .get("server", "grpc")
        .create(repository, ServerOptions(port=0, max_connections=None))
    )
    loop.run(unlimited.start())
    model = repository.get("affine")
    try:
        with (
            grpc.insecure_channel(limited.address) as channel,
            grpc.insecure_channel(unlimited.address) as other_channel,
            ThreadPoolExecutor(1) as pool,
        ):
            stub, other = stub_for(channel), stub_for(other_channel)
            held: Future[pb.ModelInferResponse] = pool.submit(stub.ModelInfer, infer_request())
            wait_until(lambda: model.queue_depth == 1)

            server_full = rpc_error(lambda: stub.ModelInfer(infer_request()))
            assert server_full.code() == grpc.StatusCode.UNAVAILABLE
            assert "handling 1 requests" in server_full.details()
            assert ("retry-after", "1") in server_full.trailing_metadata()

            queue_full = rpc_error(lambda: other.ModelInfer(infer_request()))
            assert queue_full.code() == grpc.StatusCode.UNAVAILABLE
            assert "queued" in queue_full.details()
            assert ("retry-after", "1") in queue_full.trailing_metadata()

            # health probes are never refused, and the held request still succeeds
            assert stub.ServerLive(pb.ServerLiveRequest()).live
            outputs = held.result(timeout=30).outputs
            assert [o.name for o in outputs] == ["y", "total"]
    finally:
        stop_server(loop, repository, limited, unlimited)
    rendered = metrics_for(repository).render().decode()
    assert 'protocol="grpc"' in rendered and 'status="UNAVAILABLE"' in rendered


# -- readiness and shutdown -------------------------------------------------------------------


def test_draining_reports_not_ready_but_still_serves(loop: Loop, store: str) -> None:
    """SRV-111, SRV-112, SRV-151."""
    repository, handle = start_server(loop, store)
    try:
        with grpc.insecure_channel(handle.address) as channel:
            stub = stub_for(channel)
            assert stub.ServerReady(pb.ServerReadyRequest()).ready
            repository.start_draining()
            assert not stub.ServerReady(pb.ServerReadyRequest()).ready
            assert not stub.ModelReady(pb.ModelReadyRequest(name="affine")).ready
            assert stub.ServerLive(pb.ServerLiveRequest()).live
            assert stub.ModelInfer(infer_request()).model_name == "affine"
    finally:
        stop_server(loop, repository, handle)


def test_stop_lets_in_flight_requests_finish_then_refuses(loop: Loop, store: str) -> None:
    """SRV-151."""
    batching = BatchingOptions(max_batch_size=8, max_batch_delay_ms=HOLD_MS)
    repository, handle = start_server(loop, store, batching=batching)
    model = repository.get("affine")
    with grpc.insecure_channel(handle.address) as channel, ThreadPoolExecutor(1) as pool:
        stub = stub_for(channel)
        held = pool.submit(stub.ModelInfer, infer_request(2))
        wait_until(lambda: model.queue_depth == 1)
        started = time.monotonic()
        stop_server(loop, repository, handle)
        assert time.monotonic() - started < 5  # finished well within the grace period
        response = held.result(timeout=5)
        y = np.frombuffer(response.raw_output_contents[0], dtype="<f4")
        assert y.tolist() == [2.0] * 6
    with grpc.insecure_channel(handle.address) as channel:
        refused = rpc_error(lambda: stub_for(channel).ServerLive(pb.ServerLiveRequest(), timeout=2))
        assert refused.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@requirement("SRV-103")
def test_rest_and_grpc_share_one_loop_and_one_repository(store: str) -> None:
    """SRV-103: a REST and a gRPC request, sent together, are merged into one batch."""
    import tritonclient.http as triton_http

    running = interlock.serve(
        [store],
        servers={"rest": 0, "grpc": 0},
        max_batch_size=2,
        max_batch_delay_ms=5000,  # the first request waits for the second, however late
        block=False,
    )
    try:
        x = np.ones((1, 3), dtype=np.float32)
        rest = triton_http.InferenceServerClient(running.address("rest"))
        rest_input = triton_http.InferInput("x", [1, 3], "FP32")
        rest_input.set_data_from_numpy(x)
        with (
            grpc.insecure_channel(running.address("grpc")) as channel,
            ThreadPoolExecutor(1) as pool,
        ):
            over_rest = pool.submit(rest.infer, "affine", [rest_input])
            response = stub_for(channel).ModelInfer(infer_request(1), timeout=30)
            assert over_rest.result(timeout=30).as_numpy("total").tolist() == [6.0]
        rest.close()
        assert np.frombuffer(response.raw_output_contents[1], dtype="<f4").tolist() == [6.0]
        rendered = metrics_for(running.repository).render().decode()
        assert 'interlock_batch_size_count{model="affine",version="1"} 1.0' in rendered
        assert 'interlock_batch_size_sum{model="affine",version="1"} 2.0' in rendered
        assert 'protocol="grpc"' in rendered and 'protocol="rest"' in rendered
    finally:
        running.stop(grace_seconds=1)


@requirement("SRV-151")
def test_a_request_cut_off_by_the_grace_period_is_unavailable(loop: Loop, store: str) -> None:
    """SRV-004, SRV-151: stop() waits at most grace_seconds; the cut-off call is UNAVAILABLE."""
    batching = BatchingOptions(max_batch_size=8, max_batch_delay_ms=HOLD_MS)
    repository, handle = start_server(loop, store, batching=batching)
    model = repository.get("affine")
    with grpc.insecure_channel(handle.address) as channel, ThreadPoolExecutor(1) as pool:
        held = pool.submit(stub_for(channel).ModelInfer, infer_request())
        wait_until(lambda: model.queue_depth == 1)
        started = time.monotonic()
        loop.run(handle.stop(0.2))
        assert time.monotonic() - started < HOLD_MS / 1000
        error = rpc_error(lambda: held.result(timeout=10))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    loop.run(repository.close())


@requirement("SRV-153")
def test_a_request_message_must_arrive_within_the_read_timeout(loop: Loop, store: str) -> None:
    """SRV-153: the clock starts with the call, not with the message."""
    repository, handle = start_server(loop, store, read_timeout_s=0.3)
    method = "/inference.GRPCInferenceService/ModelInfer"
    try:
        with grpc.insecure_channel(handle.address) as channel:

            def slowly() -> Iterator[bytes]:
                time.sleep(2)
                yield infer_request().SerializeToString()

            send_slowly = channel.stream_unary(method)
            started = time.monotonic()
            error = rpc_error(lambda: send_slowly(slowly(), timeout=10))
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "within 0.3 s" in error.details()
            assert time.monotonic() - started < 1.9
            # a prompt request on the same channel is unaffected
            assert stub_for(channel).ModelInfer(infer_request()).model_name == "affine"
    finally:
        stop_server(loop, repository, handle)


def test_bytes_that_are_not_a_request_message_are_invalid(loop: Loop, store: str) -> None:
    """SRV-134: undecodable protobuf is the caller's mistake, not an internal error."""
    repository, handle = start_server(loop, store)
    try:
        with grpc.insecure_channel(handle.address) as channel:
            send_bytes = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
            error = rpc_error(lambda: send_bytes(b"\xff\xff\xff\xff", timeout=10))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "not a valid protobuf message" in error.details()
    finally:
        stop_server(loop, repository, handle)
