"""Protobuf tensors to NumPy arrays and back (Open Inference Protocol, gRPC flavour).

Inputs arrive either as ``raw_input_contents`` or as typed ``InferTensorContents``. Raw
contents have the layout of the binary tensor data extension, so they are decoded by the
shared :mod:`interlock.serving.oip.tensors` codec (fixed-size tensors become arrays without a copy;
BYTES elements become UTF-8 ``str``). Typed contents exist only in gRPC and are decoded here.
Outputs always leave as ``raw_output_contents``: it is the one form every client decodes (the
Triton gRPC client reads nothing else).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from interlock.serving.oip.datatypes import NUMPY_BY_OIP, oip_datatype
from interlock.serving.oip.errors import ProtocolError
from interlock.serving.oip.tensors import (
    check_input_names,
    check_shape,
    decode_binary_tensor,
    encode_binary_tensor,
)

if TYPE_CHECKING:
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

__all__ = ["decode_inputs", "encode_outputs", "tensor_to_raw"]

# The typed-contents field of each datatype; FP16 has none (raw only).
_CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# The NumPy dtype protobuf delivers each typed field in, before narrowing.
_FIELD_DTYPE: dict[str, str] = {
    "bool_contents": "bool",
    "int_contents": "int32",
    "int64_contents": "int64",
    "uint_contents": "uint32",
    "uint64_contents": "uint64",
    "fp32_contents": "float32",
    "fp64_contents": "float64",
}
# Parameters that ask for features this server does not offer. Ignoring them would return
# wrong results (shared memory: data read from or written to the wrong place;
# classification: a different output), so they are refused.
_UNSUPPORTED_PARAMETERS = frozenset(
    {
        "shared_memory_region",
        "shared_memory_byte_size",
        "shared_memory_offset",
        "classification",
    }
)


def check_parameters(where: str, parameters: Iterable[str]) -> None:
    """Refuse parameters that ask for shared memory or classification."""
    unsupported = sorted(set(parameters) & _UNSUPPORTED_PARAMETERS)
    if unsupported:
        raise ProtocolError(
            f"{where} uses parameter {unsupported[0]!r}, which this server does not support",
            hint="send tensor data in the request, and ask for plain outputs",
        )


def _strings(name: str, items: Sequence[bytes], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        try:
            out[index] = item.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(
                f"input {name!r}: BYTES element {index} is not valid UTF-8",
                hint="ONNX string tensors hold UTF-8 text",
            ) from None
    return out.reshape(shape)


def _from_contents(
    name: str, datatype: str, shape: tuple[int, ...], contents: pb.InferTensorContents
) -> np.ndarray:
    target = NUMPY_BY_OIP.get(datatype)
    if target is None:
        # Let the shared codec word unknown and BF16 datatypes the way REST does.
        decode_binary_tensor(name, datatype, shape, b"")
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise ProtocolError(
            f"input {name!r}: {datatype} has no typed contents field",
            hint=f"send {datatype} tensors in raw_input_contents",
        )
    others = [d.name for d, _ in contents.ListFields() if d.name != field]
    if others:
        raise ProtocolError(
            f"input {name!r} is {datatype} but its contents fill {', '.join(others)}",
            hint=f"put {datatype} elements in {field}",
        )
    values = getattr(contents, field)
    count = math.prod(shape)
    if len(values) != count:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} needs {count} element(s), {field} has "
            f"{len(values)}",
            hint="send exactly one element per tensor element, row-major",
        )
    if datatype == "BYTES":
        return _strings(name, values, shape)
    wide = np.fromiter(values, dtype=_FIELD_DTYPE[field], count=count)
    assert target is not None
    if target.kind in "iu" and target.itemsize < wide.dtype.itemsize and count:
        limits = np.iinfo(target)
        if int(wide.min()) < limits.min or int(wide.max()) > limits.max:
            raise ProtocolError(
                f"input {name!r}: a {datatype} element is outside [{limits.min}, {limits.max}]",
                hint="send values the datatype can hold, or a wider datatype",
            )
    return wide.astype(target, copy=False).reshape(shape)


def decode_inputs(
    request: pb.ModelInferRequest,
    *,
    label: str = "the model",
    declared: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Return the request's input tensors by name.

    Raises :class:`interlock.serving.oip.errors.ProtocolError` for an unknown datatype, a negative
    dimension, data whose size does not match the shape, a repeated input name, raw and typed
    data mixed, or a parameter asking for shared memory or classification; with ``declared``
    (the model's input names), :class:`interlock.SignatureMismatch` before any tensor is
    decoded when the request names an input the model does not take or more inputs than it
    takes.
    """
    if declared is not None:
        check_input_names(label, [tensor.name for tensor in request.inputs], declared)
    check_parameters("the request", request.parameters)
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise ProtocolError(
            f"the request has {len(request.inputs)} input tensor(s) but "
            f"{len(raw)} raw_input_contents entries",
            hint="send one raw_input_contents entry per input, in the order of inputs",
        )
    tensors: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if name in tensors:
            raise ProtocolError(
                f"input {name!r} appears twice in the request", hint="send each input once"
            )
        check_parameters(f"input {name!r}", tensor.parameters)
        shape = check_shape(name, list(tensor.shape))
        if raw:
            if tensor.HasField("contents"):
                raise ProtocolError(
                    f"input {name!r} has typed contents although the request uses "
                    "raw_input_contents",
                    hint="send every input raw, or every input as typed contents",
                )
            tensors[name] = decode_binary_tensor(name, tensor.datatype, shape, raw[index])
        else:
            tensors[name] = _from_contents(name, tensor.datatype, shape, tensor.contents)
    return tensors


def tensor_to_raw(array: np.ndarray) -> tuple[str, bytes]:
    """Return the protocol datatype and the raw (little-endian, row-major) bytes of ``array``.

    Raises :class:`interlock.SpecViolation` when the array's dtype has no protocol datatype
    (the runtime returned something no signature can declare).
    """
    try:
        datatype = oip_datatype(array.dtype)
    except KeyError:
        from interlock.errors import SpecViolation

        raise SpecViolation(
            f"output dtype {array.dtype} has no Open Inference Protocol datatype",
            hint="runtimes return tensors of the dtypes in specs/v1/runtime.md",
        ) from None
    return datatype, encode_binary_tensor(array)


def encode_outputs(
    response: pb.ModelInferResponse, outputs: Mapping[str, Any], names: Sequence[str]
) -> None:
    """Append the outputs called ``names`` to ``response`` as ``raw_output_contents``."""
    raw: list[bytes] = []
    for name in names:
        array = np.asarray(outputs[name])
        datatype, data = tensor_to_raw(array)
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        raw.append(data)
    response.raw_output_contents.extend(raw)
