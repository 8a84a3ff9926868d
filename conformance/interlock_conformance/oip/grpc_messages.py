"""The gRPC messages of the server checker: requests built and answers judged.

Calls go through the serving kit's client (:class:`interlock.serving.oip.client.GrpcClient`),
whose messages are generated from the protocol's ``open_inference_grpc.proto``
(:mod:`interlock.serving.oip.proto`, in a private descriptor pool); nothing of interlock's gRPC
server is used, so the checks hold the server to the protocol, not to interlock's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.serving.oip.client import GrpcClient, RpcResult

from interlock_conformance.oip.checks import Blocked, CheckFailure, NotApplicable, Target
from interlock_conformance.oip.tensors import (
    DATATYPES,
    TensorProblem,
    decode_binary,
    encode_binary,
    make_tensor,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TYPED_FIELDS",
    "GrpcOutput",
    "expect_status",
    "grpc_metadata",
    "infer",
    "infer_message",
    "read_infer",
    "request_tensors",
    "succeeded",
]

Tensor = tuple[str, str, "np.ndarray"]

#: The rule an inference response's output layout follows (serving.md).
_LAYOUT = "SRV-136"

#: The typed contents field of each datatype (SRV-131).
TYPED_FIELDS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip


def expect_status(result: RpcResult, code: str, why: str, *, naming: str | None = None) -> None:
    """The RPC failed with ``code`` (a status code's name) and a details message that names
    ``naming`` when given; :class:`CheckFailure` saying what differs otherwise (an empty
    details message breaks SRV-140)."""
    got = result.code.name if result.code is not None else "OK"
    if got != code:
        raise CheckFailure(f"{result.what} {why} ended with {got}, expected {code}"
                           + (f" ({result.details[:150]})" if result.details else ""))
    if not result.details.strip():
        raise CheckFailure(f"{result.what} {why} ended with {code} but no details message",
                           requirement="SRV-140")
    if naming is not None and naming not in result.details:
        raise CheckFailure(f"{result.what} {why}: the details {result.details[:150]!r} do not "
                           f"name {naming!r}")


def _valid_shape(shape: Sequence[int]) -> bool:
    return all(d >= -1 for d in shape)


def grpc_metadata(target: Target, model: str) -> Any:
    """``ModelMetadata`` of ``model``, once; :class:`Blocked` (SRV-115) when it cannot tell
    the checks how to build a request."""
    cache: dict[str, Any] = target.cache.setdefault("grpc-metadata", {})
    if model not in cache:
        client = target.grpc
        result = client.call("ModelMetadata", client.messages.ModelMetadataRequest(name=model))
        if result.code is not None:
            raise Blocked(("SRV-115",), f"ModelMetadata of {model!r} failed with "
                          f"{result.code.name}, so no request can be built for the model")
        for tensor in result.response.inputs:
            if tensor.datatype not in DATATYPES or not _valid_shape(tensor.shape):
                raise Blocked(("SRV-115",), f"ModelMetadata of {model!r} lists input "
                              f"{tensor.name!r} as {tensor.datatype!r} {list(tensor.shape)}, "
                              "not a protocol datatype and shape")
        cache[model] = result.response
    return cache[model]


def request_tensors(target: Target, model: str, *, golden: bool = False) -> list[Tensor]:
    """Inputs to send: known golden ones when ``golden``, else values made from the metadata
    (every -1 dimension 2)."""
    metadata = grpc_metadata(target, model)
    expected = target.expected_model(model) if golden else None
    tensors: list[Tensor] = []
    for tensor in metadata.inputs:
        if DATATYPES[tensor.datatype] is None:
            raise NotApplicable(f"input {tensor.name!r} of {model!r} is {tensor.datatype}")
        if expected is not None:
            tensors.append((tensor.name, tensor.datatype, expected.inputs[tensor.name]))
        else:
            shape = [2 if d == -1 else int(d) for d in tensor.shape]
            tensors.append((tensor.name, tensor.datatype,
                            make_tensor(tensor.datatype, shape, seed=len(tensors))))
    return tensors


def infer_message(client: GrpcClient, model: str, tensors: Sequence[Tensor], *,
                  version: str = "", request_id: str = "", outputs: Sequence[str] = (),
                  typed: bool = False) -> Any:
    """A ``ModelInferRequest`` carrying ``tensors`` in raw contents (or typed contents)."""
    request = client.messages.ModelInferRequest(model_name=model, model_version=version,
                                                id=request_id)
    for name, datatype, array in tensors:
        entry = request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        if typed:
            values = array.reshape(-1).tolist()
            if datatype == "BYTES":
                values = [str(v).encode("utf-8") for v in values]
            getattr(entry.contents, TYPED_FIELDS[datatype]).extend(values)
        else:
            request.raw_input_contents.append(encode_binary(array, datatype))
    for name in outputs:
        request.outputs.add(name=name)
    return request


@dataclass
class GrpcOutput:
    """One decoded output."""

    name: str
    datatype: str
    shape: list[int]
    values: np.ndarray


def succeeded(result: RpcResult) -> Any:
    """The response of an RPC that succeeded; :class:`CheckFailure` naming the status code of
    one that failed."""
    if result.code is not None:
        raise CheckFailure(f"{result.what} failed with {result.code.name}: "
                           f"{result.details[:200]}")
    return result.response


def read_infer(result: RpcResult) -> tuple[Any, list[GrpcOutput]]:
    """The response of a successful ``ModelInfer``, its outputs decoded from
    ``raw_output_contents``; :class:`CheckFailure` of SRV-136 for a layout that breaks it
    (whatever the check is about: no check of the outputs can go on)."""
    response = succeeded(result)
    what = result.what
    typed = [t.name for t in response.outputs if _uses_typed_contents(t)]
    if len(response.raw_output_contents) != len(response.outputs):
        where = (f" (its outputs {typed} are in typed contents, which the protocol allows: "
                 "SRV-223)" if typed else "")
        raise CheckFailure(f"{what}: {len(response.outputs)} output(s) but "
                           f"{len(response.raw_output_contents)} raw_output_contents entries"
                           f"{where}; interlock's serving profile (SRV-136) wants every output "
                           "in raw_output_contents", requirement=_LAYOUT)
    decoded = []
    for tensor, raw in zip(response.outputs, response.raw_output_contents):
        where = f"{what}: output {tensor.name!r}"
        if tensor.name in typed:
            raise CheckFailure(f"{where} has data in typed contents as well as in "
                               "raw_output_contents (SRV-136; the proto forbids both, SRV-223)",
                               requirement=_LAYOUT)
        if tensor.datatype not in DATATYPES:
            raise CheckFailure(f"{where} has datatype {tensor.datatype!r}, not a protocol datatype",
                               requirement=_LAYOUT)
        if DATATYPES[tensor.datatype] is None:
            raise NotApplicable(f"{where} is {tensor.datatype}")
        shape = [int(d) for d in tensor.shape]
        if any(d < 0 for d in shape):
            raise CheckFailure(f"{where} has shape {shape}, not the actual sizes",
                               requirement=_LAYOUT)
        try:
            values = decode_binary(tensor.datatype, shape, bytes(raw), where)
        except TensorProblem as exc:
            raise CheckFailure(str(exc), requirement=_LAYOUT) from None
        decoded.append(GrpcOutput(tensor.name, tensor.datatype, shape, values))
    return response, decoded


def _uses_typed_contents(tensor: Any) -> bool:
    """Whether an output carries elements in a typed contents field (an empty ``contents``
    message, which some servers set beside raw contents, carries none)."""
    return any(len(getattr(tensor.contents, name)) for name in set(TYPED_FIELDS.values()))


def infer(target: Target, model: str, tensors: Sequence[Tensor], **fields: Any) -> tuple[
        Any, list[GrpcOutput]]:
    """Run ``ModelInfer`` and decode the answer."""
    client = target.grpc
    return read_infer(client.call("ModelInfer", infer_message(client, model, tensors, **fields)))
