"""Talking to an Open Inference Protocol gRPC server with the protocol's own stubs.

The stubs are generated from the protocol's ``open_inference_grpc.proto`` (shipped in
``interlock.serving.oip.proto``, in a private descriptor pool); nothing else of interlock's
gRPC server is used, so the checks hold the server to the protocol, not to interlock's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock_conformance.oip_check_core import Blocked, CheckFailure, NotApplicable, Target
from interlock_conformance.oip_check_tensors import (
    DATATYPES,
    TensorProblem,
    decode_binary,
    encode_binary,
    make_tensor,
)

if TYPE_CHECKING:
    import grpc
    import numpy as np

__all__ = ["GrpcClient", "GrpcOutput", "RpcResult", "grpc_metadata", "infer_message", "read_infer"]

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


@dataclass
class RpcResult:
    """What an RPC ended with: a response, or a status code with its details."""

    what: str
    response: Any = None
    code: grpc.StatusCode | None = None
    details: str = ""
    trailers: tuple[tuple[str, str], ...] = ()

    def ok(self) -> Any:
        """The response; :class:`CheckFailure` naming the status if the RPC failed."""
        if self.code is not None:
            raise CheckFailure(f"{self.what} failed with {self.code.name}: {self.details[:200]}")
        return self.response

    def expect(self, code: str, why: str, *, naming: str | None = None) -> None:
        """The RPC failed with ``code`` and a details message (naming ``naming``)."""
        got = self.code.name if self.code is not None else "OK"
        if got != code:
            raise CheckFailure(f"{self.what} {why} ended with {got}, expected {code}"
                               + (f" ({self.details[:150]})" if self.details else ""))
        if not self.details.strip():
            raise CheckFailure(f"{self.what} {why} ended with {code} but no details message",
                               requirement="SRV-140")
        if naming is not None and naming not in self.details:
            raise CheckFailure(f"{self.what} {why}: the details {self.details[:150]!r} do not "
                               f"name {naming!r}")


class GrpcClient:
    """Calls to ``inference.GRPCInferenceService`` at one address."""

    def __init__(self, address: str, token: str | None, timeout_s: float) -> None:
        try:
            import grpc

            from interlock.serving.oip.proto import (
                open_inference_grpc_pb2 as pb,
                open_inference_grpc_pb2_grpc as pb_grpc,
            )
        except ImportError as exc:
            from interlock import MissingDependencyError

            raise MissingDependencyError(
                "grpcio", "serve", purpose="checking a gRPC server"
            ) from exc
        self.pb = pb
        self.grpc = grpc
        self.address = address.removeprefix("grpc://")
        self.token = token
        self.timeout_s = timeout_s
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def call(self, rpc: str, request: Any, *, auth: bool = True,
             metadata: Sequence[tuple[str, str]] = ()) -> RpcResult:
        """Call ``rpc`` (``ModelInfer``, ...); never raises for a failed RPC."""
        sent = list(metadata)
        if auth and self.token and not any(k == "authorization" for k, _ in sent):
            sent.append(("authorization", f"Bearer {self.token}"))
        return self._invoke(getattr(self.stub, rpc), f"{rpc}", request, sent)

    def call_raw(self, method: str, payload: bytes) -> RpcResult:
        """Send ``payload`` as the request message of ``/<service>/<method>`` unparsed."""
        callable_ = self.channel.unary_unary(
            f"/inference.GRPCInferenceService/{method}",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        sent = [("authorization", f"Bearer {self.token}")] if self.token else []
        return self._invoke(callable_, f"{method} (raw bytes)", payload, sent)

    def _invoke(self, function: Any, what: str, request: Any,
                metadata: list[tuple[str, str]]) -> RpcResult:
        grpc = self.grpc
        try:
            response = function(request, timeout=self.timeout_s, metadata=metadata or None)
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.UNAVAILABLE and "connect" in (error.details() or "").lower():
                raise CheckFailure(f"{what}: the server at {self.address} cannot be reached: "
                                   f"{error.details()}") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise CheckFailure(f"{what}: no answer within {self.timeout_s} s") from None
            trailers = tuple((str(k), str(v)) for k, v in (error.trailing_metadata() or ()))
            return RpcResult(what, None, code, error.details() or "", trailers)
        return RpcResult(what, response)


def _valid_shape(shape: Sequence[int]) -> bool:
    return all(d >= -1 for d in shape)


def grpc_metadata(target: Target, model: str) -> Any:
    """``ModelMetadata`` of ``model``, once; :class:`Blocked` (SRV-115) when it cannot tell
    the checks how to build a request."""
    cache: dict[str, Any] = target.cache.setdefault("grpc-metadata", {})
    if model not in cache:
        client = target.grpc
        result = client.call("ModelMetadata", client.pb.ModelMetadataRequest(name=model))
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
    request = client.pb.ModelInferRequest(model_name=model, model_version=version, id=request_id)
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


def read_infer(result: RpcResult) -> tuple[Any, list[GrpcOutput]]:
    """The response of a successful ``ModelInfer``, its outputs decoded from
    ``raw_output_contents``; :class:`CheckFailure` of SRV-136 for a layout that breaks it
    (whatever the check is about: no check of the outputs can go on)."""
    response = result.ok()
    what = result.what
    if len(response.raw_output_contents) != len(response.outputs):
        raise CheckFailure(f"{what}: {len(response.outputs)} output(s) but "
                           f"{len(response.raw_output_contents)} raw_output_contents entries",
                           requirement=_LAYOUT)
    decoded = []
    for tensor, raw in zip(response.outputs, response.raw_output_contents):
        where = f"{what}: output {tensor.name!r}"
        if tensor.HasField("contents"):
            raise CheckFailure(f"{where} uses typed contents; outputs go in raw_output_contents",
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


def infer(target: Target, model: str, tensors: Sequence[Tensor], **fields: Any) -> tuple[
        Any, list[GrpcOutput]]:
    """Run ``ModelInfer`` and decode the answer."""
    client = target.grpc
    return read_infer(client.call("ModelInfer", infer_message(client, model, tensors, **fields)))
