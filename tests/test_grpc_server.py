"""The gRPC server: real servers on 127.0.0.1, the real Triton gRPC client, raw gRPC stubs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import onnx
import pytest
import tritonclient.grpc as triton
from onnx import TensorProto, helper
from tritonclient.utils import InferenceServerException

import interlock
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pb_grpc
from interlock_conformance import requirement

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
AUTH_METADATA = (("authorization", f"Bearer {TOKEN}"),)

# OIP datatype -> (ONNX element type, values of a [2, 2] tensor)
SAMPLES: dict[str, tuple[int, np.ndarray]] = {
    "BOOL": (TensorProto.BOOL, np.array([[True, False], [False, True]])),
    "UINT8": (TensorProto.UINT8, np.array([[0, 1], [128, 255]], dtype=np.uint8)),
    "UINT16": (TensorProto.UINT16, np.array([[0, 1], [300, 65535]], dtype=np.uint16)),
    "UINT32": (TensorProto.UINT32, np.array([[0, 1], [70000, 2**32 - 1]], dtype=np.uint32)),
    "UINT64": (TensorProto.UINT64, np.array([[0, 1], [2**40, 2**64 - 1]], dtype=np.uint64)),
    "INT8": (TensorProto.INT8, np.array([[-128, -1], [0, 127]], dtype=np.int8)),
    "INT16": (TensorProto.INT16, np.array([[-32768, -1], [0, 32767]], dtype=np.int16)),
    "INT32": (TensorProto.INT32, np.array([[-(2**31), -1], [0, 2**31 - 1]], dtype=np.int32)),
    "INT64": (TensorProto.INT64, np.array([[-(2**63), -1], [0, 2**63 - 1]], dtype=np.int64)),
    "FP16": (TensorProto.FLOAT16, np.array([[-0.5, 1e-3], [np.inf, 65504]], dtype=np.float16)),
    "FP32": (TensorProto.FLOAT, np.array([[-0.5, 1e-30], [np.pi, -np.inf]], dtype=np.float32)),
    "FP64": (TensorProto.DOUBLE, np.array([[-0.5, 1e-300], [np.e, np.nan]], dtype=np.float64)),
    "BYTES": (TensorProto.STRING, np.array([["", "héllo"], ["a\x00b", "🙂 ok"]], dtype=object)),
}
TYPED_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


# -- models and servers -----------------------------------------------------------------------


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] = [],  # noqa: B006 - never mutated
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def twice_model(elem_type: int) -> onnx.ModelProto:
    """``wide = concat(x, x, axis=1)`` ([n, 4]) and ``flipped = transpose(x)`` ([2, n])."""
    return _model(
        [
            helper.make_node("Concat", ["x", "x"], ["wide"], axis=1),
            helper.make_node("Transpose", ["x"], ["flipped"], perm=[1, 0]),
        ],
        [helper.make_tensor_value_info("x", elem_type, ["n", 2])],
        [
            helper.make_tensor_value_info("wide", elem_type, ["n", 4]),
            helper.make_tensor_value_info("flipped", elem_type, [2, "n"]),
        ],
    )


def affine_model(scale: float) -> onnx.ModelProto:
    """``y = x * scale + 1`` and ``total = sum(y, axis=1)``, ``x`` FP32 [batch, 3]."""
    return _model(
        [
            helper.make_node("Mul", ["x", "scale"], ["scaled"]),
            helper.make_node("Add", ["scaled", "one"], ["y"]),
            helper.make_node("ReduceSum", ["y", "axes"], ["total"], keepdims=0),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"]),
        ],
        [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with ``twice_<datatype>`` for every datatype and ``affine`` versions 1 and 2."""
    root = str(tmp_path_factory.mktemp("grpc-store"))
    for datatype, (elem_type, _) in SAMPLES.items():
        interlock.save_artifact(
            twice_model(elem_type), root, name=f"twice_{datatype.lower()}", version="1"
        )
    # declares [n, 5] but returns [n, 4]: a runtime output that breaks the signature
    liar = twice_model(TensorProto.FLOAT)
    liar.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 5
    interlock.save_artifact(liar, root, name="liar", version="1")
    interlock.save_artifact(affine_model(2.0), root, name="affine", version="1")
    interlock.save_artifact(affine_model(10.0), root, name="affine", version="2")
    return root


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[Any]:
    """``interlock.serve`` with the gRPC server only, behind a token."""
    running = interlock.serve([store], servers={"grpc": 0}, token=TOKEN, block=False)
    try:
        yield running
    finally:
        running.stop(grace_seconds=1)


@pytest.fixture()
def client(server: Any) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(server.address("grpc")) as client:
        yield client


@pytest.fixture()
def stub(server: Any) -> Iterator[pb_grpc.GRPCInferenceServiceStub]:
    """A raw stub of our own proto, for requests the Triton client cannot make."""
    with grpc.insecure_channel(server.address("grpc")) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def triton_input(name: str, datatype: str, array: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def expect_status(code: grpc.StatusCode, call: Any, *args: Any, **kwargs: Any) -> str:
    """Run a Triton client call that must fail with ``code``; return the message."""
    with pytest.raises(InferenceServerException) as info:
        call(*args, **kwargs)
    assert info.value.status() == str(code), info.value.message()
    return str(info.value.message())


def expect_rpc_error(code: grpc.StatusCode, rpc: Any, request: Any, **kwargs: Any) -> grpc.RpcError:
    kwargs.setdefault("metadata", AUTH_METADATA)
    with pytest.raises(grpc.RpcError) as info:
        rpc(request, **kwargs)
    assert info.value.code() == code, info.value.details()
    return info.value


# -- health and metadata ----------------------------------------------------------------------


@requirement("SRV-101")
def test_health_probes(client: triton.InferenceServerClient) -> None:
    """SRV-110, SRV-111, SRV-112, SRV-113: server health without a token, models with it."""
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("affine", headers=AUTH)
    assert client.is_model_ready("affine", "1", headers=AUTH)
    expect_status(grpc.StatusCode.NOT_FOUND, client.is_model_ready, "nope", headers=AUTH)
    message = expect_status(
        grpc.StatusCode.NOT_FOUND, client.is_model_ready, "affine", "9", headers=AUTH
    )
    assert "no version '9'" in message


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    """SRV-114."""
    metadata = client.get_server_metadata(headers=AUTH)
    assert metadata.name == "interlock"
    assert metadata.version == interlock.__version__


@requirement("SRV-101")
def test_model_metadata_comes_from_the_signature(client: triton.InferenceServerClient) -> None:
    """SRV-115, SRV-113: -1 for symbolic dimensions, all versions."""
    metadata = client.get_model_metadata("affine", headers=AUTH, as_json=True)
    assert metadata == {
        "name": "affine",
        "versions": ["1", "2"],
        "platform": "onnx_onnxv1",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": ["-1", "3"]}],
        "outputs": [
            {"name": "y", "datatype": "FP32", "shape": ["-1", "3"]},
            {"name": "total", "datatype": "FP32", "shape": ["-1"]},
        ],
    }
    half = client.get_model_metadata("twice_fp16", "1", headers=AUTH)
    assert [(t.name, t.datatype, list(t.shape)) for t in half.outputs] == [
        ("wide", "FP16", [-1, 4]),
        ("flipped", "FP16", [2, -1]),
    ]
    expect_status(grpc.StatusCode.NOT_FOUND, client.get_model_metadata, "nope", headers=AUTH)


# -- inference --------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", sorted(SAMPLES))
@requirement("SRV-101", "SRV-139")
def test_every_datatype_equals_the_in_process_predictor(
    datatype: str, store: str, client: triton.InferenceServerClient
) -> None:
    """SRV-101, SRV-130, SRV-136, SRV-139: the Triton client, every datatype."""
    name = f"twice_{datatype.lower()}"
    array = SAMPLES[datatype][1]
    result = client.infer(name, [triton_input("x", datatype, array)], headers=AUTH)
    expected = interlock.load_predictor(f"{name}:1", store=store).infer({"x": array})
    for output in ("wide", "flipped"):
        got = result.as_numpy(output)
        assert result.get_output(output).datatype == datatype
        if datatype == "BYTES":  # the Triton client hands BYTES back as bytes
            got = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(got)
        assert got.dtype == expected[output].dtype and got.shape == expected[output].shape
        np.testing.assert_array_equal(got, expected[output])


@pytest.mark.parametrize("datatype", sorted(TYPED_FIELD))
def test_typed_contents_are_accepted(datatype: str, stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    """SRV-131, SRV-136: typed inputs in, raw outputs out."""
    array = SAMPLES[datatype][1]
    request = pb.ModelInferRequest(model_name=f"twice_{datatype.lower()}")
    tensor = request.inputs.add(name="x", datatype=datatype, shape=array.shape)
    values = array.reshape(-1).tolist()
    if datatype == "BYTES":
        values = [v.encode("utf-8") for v in values]
    getattr(tensor.contents, TYPED_FIELD[datatype]).extend(values)
    request.outputs.add(name="flipped")
    response = stub.ModelInfer(request, metadata=AUTH_METADATA)
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("flipped", datatype, [2, 2])
    ]
    assert not response.outputs[0].HasField("contents")  # always raw
    expected = triton.InferResult(response).as_numpy("flipped")
    if datatype == "BYTES":
        expected = expected.astype(object)
        assert [b.decode() for b in expected.reshape(-1)] == array.T.reshape(-1).tolist()
    else:
        np.testing.assert_array_equal(expected, array.T)


def test_outputs_are_selected_and_ordered_as_requested(
    client: triton.InferenceServerClient,
) -> None:
    """SRV-137."""
    x = np.array([[1, 2, 3]], dtype=np.float32)
    wanted = [triton.InferRequestedOutput("total"), triton.InferRequestedOutput("y")]
    result = client.infer("affine", [triton_input("x", "FP32", x)], outputs=wanted, headers=AUTH)
    response = result.get_response()
    assert [o.name for o in response.outputs] == ["total", "y"]
    assert len(response.raw_output_contents) == 2
    np.testing.assert_array_equal(result.as_numpy("total"), [63.0])
    only = client.infer(
        "affine",
        [triton_input("x", "FP32", x)],
        outputs=[triton.InferRequestedOutput("y")],
        headers=AUTH,
    )
    assert [o.name for o in only.get_response().outputs] == ["y"]
    message = expect_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        client.infer,
        "affine",
        [triton_input("x", "FP32", x)],
        outputs=[triton.InferRequestedOutput("nope")],
        headers=AUTH,
    )
    assert "no output 'nope'" in message


def test_request_id_and_model_version_are_reported(client: triton.InferenceServerClient) -> None:
    """SRV-138, SRV-113."""
    x = np.array([[1, 1, 1]], dtype=np.float32)
    newest = client.infer("affine", [triton_input("x", "FP32", x)], request_id="r-42", headers=AUTH)
    assert newest.get_response().id == "r-42"
    assert newest.get_response().model_version == "2"
    np.testing.assert_array_equal(newest.as_numpy("y"), [[11, 11, 11]])
    first = client.infer("affine", [triton_input("x", "FP32", x)], model_version="1", headers=AUTH)
    assert first.get_response().model_version == "1"
    assert first.get_response().id == ""
    np.testing.assert_array_equal(first.as_numpy("y"), [[3, 3, 3]])


# -- errors -----------------------------------------------------------------------------------


def test_unknown_model_or_version_is_not_found(client: triton.InferenceServerClient) -> None:
    """SRV-140: NOT_FOUND names what was asked and what exists."""
    x = [triton_input("x", "FP32", np.zeros((1, 3), dtype=np.float32))]
    message = expect_status(grpc.StatusCode.NOT_FOUND, client.infer, "nope", x, headers=AUTH)
    assert "'nope'" in message and "affine" in message
    expect_status(
        grpc.StatusCode.NOT_FOUND, client.infer, "affine", x, model_version="7", headers=AUTH
    )


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([("x", "INT32", np.zeros((1, 3), dtype=np.int32))], "expected float32"),
        ([("x", "FP32", np.zeros((1, 4), dtype=np.float32))], "dimension 1 must be 3"),
        ([("x", "FP32", np.zeros(3, dtype=np.float32))], "expected float32"),
        ([("z", "FP32", np.zeros((1, 3), dtype=np.float32))], "unexpected 'z'"),
        ([], "missing 'x'"),
    ],
)
def test_inputs_that_do_not_fit_the_signature_are_invalid(
    inputs: list[tuple[str, str, np.ndarray]], message: str, client: triton.InferenceServerClient
) -> None:
    """SRV-134: the signature checks of the serving core, as INVALID_ARGUMENT."""
    tensors = [triton_input(*spec) for spec in inputs]
    text = expect_status(
        grpc.StatusCode.INVALID_ARGUMENT, client.infer, "affine", tensors, headers=AUTH
    )
    assert message in text


def _raw_request(
    datatype: str = "FP32", shape: tuple[int, ...] = (1, 3), data: bytes = b"\0" * 12
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="affine")
    request.inputs.add(name="x", datatype=datatype, shape=shape)
    request.raw_input_contents.append(data)
    return request


def test_a_runtime_fault_is_internal_without_a_traceback(
    client: triton.InferenceServerClient, caplog: pytest.LogCaptureFixture
) -> None:
    """SRV-140: the client learns what broke in one line; the log gets the traceback."""
    x = [triton_input("x", "FP32", np.zeros((1, 2), dtype=np.float32))]
    message = expect_status(grpc.StatusCode.INTERNAL, client.infer, "liar", x, headers=AUTH)
    assert "returned output 'wide'" in message and "dimension 1 must be 5" in message
    assert "Traceback" not in message and "\n" not in message
    assert any(r.name == "interlock.grpc" and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    ("request_factory", "message"),
    [
        (lambda: _raw_request(data=b"\0" * 11), "needs 12 bytes"),
        (lambda: _raw_request(datatype="FLOAT"), "unknown datatype 'FLOAT'"),
        (lambda: _raw_request(shape=(-1, 3)), "non-negative"),
        (lambda: _raw_request(datatype="BF16", data=b"\0" * 6), "BF16"),
    ],
)
def test_malformed_raw_tensors_are_invalid(
    request_factory: Any, message: str, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    """SRV-134."""
    error = expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ModelInfer, request_factory())
    assert message in error.details()


def test_mixed_or_miscounted_raw_contents_are_invalid(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    """SRV-132, SRV-133, SRV-135."""
    extra = _raw_request()
    extra.raw_input_contents.append(b"")
    assert (
        "2 raw_input_contents"
        in expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ModelInfer, extra).details()
    )
    mixed = _raw_request()
    mixed.inputs[0].contents.fp32_contents.extend([0.0, 0.0, 0.0])
    assert (
        "typed contents"
        in expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ModelInfer, mixed).details()
    )
    shared = _raw_request()
    shared.inputs[0].parameters["shared_memory_region"].string_param = "region0"
    assert (
        "shared_memory_region"
        in expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ModelInfer, shared).details()
    )
    bad_utf8 = pb.ModelInferRequest(model_name="twice_bytes")
    bad_utf8.inputs.add(name="x", datatype="BYTES", shape=[1, 2])
    bad_utf8.raw_input_contents.append(b"\x01\x00\x00\x00\xff\x01\x00\x00\x00a")
    assert (
        "UTF-8"
        in expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, stub.ModelInfer, bad_utf8).details()
    )


def test_a_token_is_required_for_everything_but_health(
    client: triton.InferenceServerClient, stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    """SRV-143."""
    x = [triton_input("x", "FP32", np.zeros((1, 3), dtype=np.float32))]
    for headers in (None, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        expect_status(grpc.StatusCode.UNAUTHENTICATED, client.infer, "affine", x, headers=headers)
        expect_status(
            grpc.StatusCode.UNAUTHENTICATED, client.get_model_metadata, "affine", headers=headers
        )
        expect_status(grpc.StatusCode.UNAUTHENTICATED, client.get_server_metadata, headers=headers)
    # an unknown model is not revealed before authentication
    expect_status(grpc.StatusCode.UNAUTHENTICATED, client.infer, "nope", x)
    assert client.infer("affine", x, headers={"authorization": f"bearer {TOKEN}"})
    # model readiness would tell which models exist: it needs the token, as in REST
    expect_status(grpc.StatusCode.UNAUTHENTICATED, client.is_model_ready, "affine")
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready


def test_rpcs_outside_the_protocol_are_unimplemented(client: triton.InferenceServerClient) -> None:
    """SRV-100: only the protocol's six RPCs; the Triton extensions are UNIMPLEMENTED."""
    expect_status(grpc.StatusCode.UNIMPLEMENTED, client.get_model_repository_index, headers=AUTH)
    expect_status(grpc.StatusCode.UNIMPLEMENTED, client.get_inference_statistics, headers=AUTH)
