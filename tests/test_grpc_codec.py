"""Protobuf tensors <-> NumPy: the gRPC codec on its own, with real protobuf messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from interlock_grpc._codec import decode_inputs, encode_outputs, tensor_to_raw
from interlock.serving.oip.errors import ProtocolError
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

FIXED = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([[0, 7, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 7, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 7, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 7, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[-1.5, 0.0, 65504.0]], dtype=np.float16),
    "FP32": np.array([[-1.5, np.pi, np.inf]], dtype=np.float32),
    "FP64": np.array([[-1.5, np.pi, np.nan]], dtype=np.float64),
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
}
STRINGS = np.array([["héllo", ""], ["a\x00b", "🙂"]], dtype=object)


def _raw_request(datatype: str, array: np.ndarray, data: bytes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype=datatype, shape=array.shape)
    request.raw_input_contents.append(data)
    return request


@pytest.mark.parametrize("datatype", sorted(FIXED))
def test_raw_input_becomes_an_equal_array_without_copy(datatype: str) -> None:
    """SRV-130: raw contents of every fixed-size datatype, decoded without a copy."""
    array = FIXED[datatype]
    request = _raw_request(datatype, array, array.tobytes())
    decoded = decode_inputs(request)["x"]
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)
    assert not decoded.flags.owndata  # a view of the received bytes


@pytest.mark.parametrize("datatype", sorted(TYPED_FIELD))
def test_typed_contents_become_an_equal_array(datatype: str) -> None:
    """SRV-131: each datatype read from its own typed field."""
    array = FIXED[datatype]
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="x", datatype=datatype, shape=array.shape)
    getattr(tensor.contents, TYPED_FIELD[datatype]).extend(array.reshape(-1).tolist())
    decoded = decode_inputs(request)["x"]
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


def test_bytes_inputs_decode_as_utf8_strings_raw_and_typed() -> None:
    """SRV-130, SRV-133: BYTES elements become str, raw or typed."""
    raw_request = _raw_request("BYTES", STRINGS, serialize_byte_tensor(STRINGS).item())
    typed_request = pb.ModelInferRequest(model_name="m")
    tensor = typed_request.inputs.add(name="x", datatype="BYTES", shape=[2, 2])
    tensor.contents.bytes_contents.extend(s.encode() for s in STRINGS.reshape(-1))
    for request in (raw_request, typed_request):
        decoded = decode_inputs(request)["x"]
        assert decoded.dtype == object and decoded.shape == (2, 2)
        assert decoded.tolist() == STRINGS.tolist()


@pytest.mark.parametrize("datatype", sorted(FIXED))
def test_outputs_encode_as_little_endian_raw_bytes(datatype: str) -> None:
    """SRV-136: outputs as raw little-endian bytes, BYTES length-prefixed."""
    response = pb.ModelInferResponse()
    encode_outputs(response, {"y": FIXED[datatype], "z": STRINGS}, ["y", "z"])
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("y", datatype, [1, 3]),
        ("z", "BYTES", [2, 2]),
    ]
    assert (
        response.raw_output_contents[0]
        == FIXED[datatype].astype(FIXED[datatype].dtype.newbyteorder("<")).tobytes()
    )
    strings = deserialize_bytes_tensor(response.raw_output_contents[1])
    assert [s.decode() for s in strings] == STRINGS.reshape(-1).tolist()


def test_big_endian_and_strided_outputs_are_normalised() -> None:
    """SRV-136: row-major little-endian whatever the array's layout."""
    array = np.arange(12, dtype=">i4").reshape(3, 4)[:, ::2]
    datatype, data = tensor_to_raw(array)
    assert datatype == "INT32"
    assert np.frombuffer(data, dtype="<i4").tolist() == [0, 2, 4, 6, 8, 10]


def _set_parameter(message: Any, key: str) -> None:
    message.parameters[key].string_param = "value"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: setattr(r.inputs[0], "datatype", "FLOAT"), "unknown datatype 'FLOAT'"),
        (lambda r: setattr(r.inputs[0], "datatype", "BF16"), "BF16 is not supported"),
        (lambda r: r.inputs[0].shape.append(2), "\\[1, 3, 2\\] of FP32 needs 24 bytes"),
        (lambda r: r.inputs[0].shape.__setitem__(0, -1), "non-negative integers"),
        (lambda r: r.raw_input_contents.append(b""), "2 raw_input_contents entries"),
        (lambda r: r.inputs[0].contents.fp32_contents.append(1.0), "has typed contents"),
        (lambda r: _set_parameter(r, "shared_memory_region"), "shared_memory_region"),
        (lambda r: _set_parameter(r.inputs[0], "classification"), "'classification'"),
    ],
)
def test_malformed_raw_requests_are_rejected_naming_the_problem(
    mutate: Callable[[pb.ModelInferRequest], None], message: str
) -> None:
    """SRV-132, SRV-134, SRV-135: malformed raw requests, with a hint."""
    array = FIXED["FP32"]
    request = _raw_request("FP32", array, array.tobytes())
    mutate(request)
    with pytest.raises(ProtocolError, match=message) as info:
        decode_inputs(request)
    assert info.value.hint


def test_malformed_typed_and_bytes_requests_are_rejected() -> None:
    """SRV-131, SRV-132, SRV-133: malformed typed and BYTES requests."""
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="x", datatype="INT8", shape=[2])
    tensor.contents.int_contents.extend([1, 300])
    with pytest.raises(ProtocolError, match="INT8 element is outside"):
        decode_inputs(request)
    tensor.contents.Clear()
    tensor.contents.fp32_contents.extend([1.0, 2.0])
    with pytest.raises(ProtocolError, match="fill fp32_contents"):
        decode_inputs(request)
    tensor.datatype = "FP16"
    with pytest.raises(ProtocolError, match="FP16 has no typed contents field"):
        decode_inputs(request)
    tensor.datatype = "FP32"
    tensor.contents.fp32_contents.append(3.0)
    with pytest.raises(
        ProtocolError, match="shape \\[2\\] needs 2 element\\(s\\), fp32_contents has 3"
    ):
        decode_inputs(request)
    for data, message in [
        (b"\x05\x00\x00\x00ab", "claims 5 bytes but only 2 remain"),
        (b"\x01\x00\x00\x00a", "needs 2 BYTES element"),
        (b"\x01\x00\x00\x00a\x01\x00\x00\x00b\x00", "inside an element's 4-byte length"),
        (b"\x01\x00\x00\x00\xff\x01\x00\x00\x00b", "not valid UTF-8"),
    ]:
        bad = _raw_request("BYTES", np.empty(2, dtype=object), data)
        with pytest.raises(ProtocolError, match=message):
            decode_inputs(bad)
    twice = pb.ModelInferRequest(model_name="m")
    for _ in range(2):
        twice.inputs.add(name="x", datatype="BOOL", shape=[1]).contents.bool_contents.append(True)
    with pytest.raises(ProtocolError, match="appears twice"):
        decode_inputs(twice)
