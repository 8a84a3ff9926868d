"""The shared OIP codec (interlock.serving.oip): datatypes, tensors, status table, bearer token."""

from __future__ import annotations

import interlock
import numpy as np
import pytest
from interlock.serving.oip.auth import BearerToken
from interlock.serving.oip.datatypes import (
    NUMPY_BY_OIP,
    OIP_BY_DTYPE,
    OIP_DATATYPES,
    oip_datatype,
    oip_shape,
)
from interlock.serving.oip.errors import (
    MethodNotAllowed,
    NotFound,
    ProtocolError,
    RequestTimeout,
    RequestTooLarge,
    Unauthorized,
    grpc_status,
    http_status,
)
from interlock.serving.oip.tensors import (
    decode_binary_tensor,
    decode_json_tensor,
    encode_binary_tensor,
    encode_bytes_elements,
    json_data,
    parse_bytes_elements,
)
from serving_models import SAMPLES
from interlock_conformance import requirement


def test_datatype_table_follows_interlock_dtypes() -> None:
    assert OIP_DATATYPES == (
        "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
        "FP16", "BF16", "FP32", "FP64", "BYTES",
    )  # fmt: skip
    assert "BF16" not in NUMPY_BY_OIP
    assert OIP_BY_DTYPE["float32"] == "FP32" and OIP_BY_DTYPE["string"] == "BYTES"
    for dtype, (_, sample) in SAMPLES.items():
        assert oip_datatype(sample.dtype) == OIP_BY_DTYPE[dtype]
    assert oip_datatype(np.dtype(">f4")) == "FP32"
    assert oip_datatype(np.dtype("U3")) == "BYTES"
    assert oip_shape(["batch", 3, None]) == [-1, 3, -1]


@pytest.mark.parametrize("dtype", list(SAMPLES))
def test_every_datatype_round_trips_through_json_and_binary(dtype: str) -> None:
    _, sample = SAMPLES[dtype]
    oip = OIP_BY_DTYPE[dtype]
    shape = sample.shape
    data = json_data("y", sample)
    listed = data.tolist() if isinstance(data, np.ndarray) else data
    from_json = decode_json_tensor("x", oip, shape, listed)
    from_binary = decode_binary_tensor("x", oip, shape, encode_binary_tensor(sample))
    for decoded in (from_json, from_binary):
        assert decoded.shape == sample.shape
        assert decoded.dtype == (np.dtype(object) if dtype == "string" else sample.dtype)
        assert decoded.tolist() == sample.tolist()


def test_json_data_may_be_nested_or_flat_or_a_lone_scalar() -> None:
    flat = decode_json_tensor("x", "INT32", (2, 2), [1, 2, 3, 4])
    nested = decode_json_tensor("x", "INT32", (2, 2), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(flat, nested)
    assert decode_json_tensor("x", "FP32", (), 2.5).tolist() == 2.5
    assert decode_json_tensor("x", "BYTES", (2, 1), [["a"], ["b"]]).tolist() == [["a"], ["b"]]
    assert decode_json_tensor("x", "FP32", (0, 4), []).shape == (0, 4)


@pytest.mark.parametrize(
    ("datatype", "shape", "data", "message"),
    [
        ("FP32", (3,), [1, 2], "needs 3 element(s), 'data' has 2"),
        ("FP32", (2,), ["1", "2"], "must hold numbers only"),
        ("FP32", (2,), [1, None], "must hold numbers only"),
        ("INT8", (2,), [1, 200], "outside [-128, 127]"),
        ("INT64", (1,), [1.5], "must hold integers only"),
        ("UINT64", (1,), [-1], "outside [0, 18446744073709551615]"),
        ("BOOL", (2,), [1, 0], "must hold true or false only"),
        ("BYTES", (2,), ["a", 1], "must hold strings only"),
        ("BYTES", (2,), ["a"], "needs 2 element(s)"),
        ("FP32", (2, 2), [[1, 2], [3]], "not a regular nested list"),
        ("BF16", (1,), [1.0], "BF16 is not supported"),
        ("FLOAT", (1,), [1.0], "unknown datatype 'FLOAT'"),
        ("FP32", (1,), {"a": 1}, "'data' must be a list"),
    ],
)
def test_bad_json_data_names_the_input(
    datatype: str, shape: tuple[int, ...], data: object, message: str
) -> None:
    with pytest.raises(ProtocolError, match="input 'x'") as caught:
        decode_json_tensor("x", datatype, shape, data)
    assert message in str(caught.value)
    assert caught.value.hint


def test_uint64_beyond_int64_is_exact() -> None:
    big = 2**64 - 1
    assert decode_json_tensor("x", "UINT64", (2,), [big, 1]).tolist() == [big, 1]


def test_binary_fixed_size_inputs_are_not_copied() -> None:
    payload = bytearray(np.arange(6, dtype="<f4").tobytes())
    array = decode_binary_tensor("x", "FP32", (2, 3), memoryview(payload))
    assert np.shares_memory(array, np.frombuffer(payload, dtype=np.uint8))
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_binary_errors() -> None:
    with pytest.raises(ProtocolError, match="needs 24 bytes of binary data, got 20"):
        decode_binary_tensor("x", "FP32", (2, 3), b"\0" * 20)
    with pytest.raises(ProtocolError, match="BOOL binary data must hold bytes 0 or 1"):
        decode_binary_tensor("x", "BOOL", (2,), b"\x01\x02")
    with pytest.raises(ProtocolError, match="not valid UTF-8"):
        parse_bytes_elements("x", encode_bytes_elements([b"\xff"]), 1)
    with pytest.raises(ProtocolError, match="holds more"):
        parse_bytes_elements("x", encode_bytes_elements(["a", "b"]), 1)


def test_bytes_elements_are_length_prefixed() -> None:
    assert encode_bytes_elements(["ab", b"\x00", ""]) == b"\x02\0\0\0ab\x01\0\0\0\x00\0\0\0\0"
    assert parse_bytes_elements("x", b"\x02\0\0\0ab\0\0\0\0", 2) == ["ab", ""]


@requirement("SRV-074")
def test_json_output_of_non_utf8_bytes_asks_for_binary() -> None:
    with pytest.raises(ProtocolError, match="binary_data"):
        json_data("y", np.array([b"\xff"], dtype=object))


def test_every_interlock_error_has_an_http_and_grpc_status() -> None:
    cases = [
        (ProtocolError("x"), 400, "INVALID_ARGUMENT"),
        (interlock.SignatureMismatch("x"), 400, "INVALID_ARGUMENT"),
        (Unauthorized("x"), 401, "UNAUTHENTICATED"),
        (interlock.ArtifactNotFoundError("x"), 404, "NOT_FOUND"),
        (NotFound("x"), 404, "UNIMPLEMENTED"),
        (MethodNotAllowed("x", allow="GET"), 405, "UNIMPLEMENTED"),
        (RequestTimeout("x"), 408, "DEADLINE_EXCEEDED"),
        (RequestTooLarge("x"), 413, "RESOURCE_EXHAUSTED"),
        (interlock.OverloadedError("x"), 503, "UNAVAILABLE"),
        (interlock.PluginError("x"), 500, "INTERNAL"),
        (ValueError("x"), 500, "INTERNAL"),
    ]
    for error, http, grpc in cases:
        assert (http_status(error), grpc_status(error)) == (http, grpc), error


@requirement("SRV-091")
def test_bearer_token_check() -> None:
    token = BearerToken("abc")
    assert (
        token.accepts(b"Bearer abc")
        and token.accepts("bearer abc")
        and token.accepts(b" Bearer  abc ")
    )
    for wrong in (
        None,
        b"",
        b"Bearer",
        b"Bearer ab",
        b"Bearer abcd",
        b"Basic abc",
        "Bearer \u00e9",
        b"abc",
    ):
        assert not token.accepts(wrong)
