"""The gRPC checks of the Open Inference Protocol core (``oip-core``): serving.md SRV-110,
SRV-111, SRV-130 and SRV-220 to SRV-224.

They read an inference answer wherever the proto allows its data: the typed
``InferTensorContents`` field of each output's datatype, or ``raw_output_contents``, one or
the other; and accept any status other than OK for a request that cannot succeed, recording
the code chosen as an observation. They run by address only (``check_server``).
"""

from __future__ import annotations

from typing import Any

from interlock.serving.oip.client import RpcResult

from interlock_conformance.oip.checks import Blocked, CheckFailure, NotApplicable, Target, check
from interlock_conformance.oip.grpc_messages import TYPED_FIELDS, GrpcOutput, infer_message
from interlock_conformance.oip.profiles import CORE, cite
from interlock_conformance.oip.tensors import (
    DATATYPES,
    TensorProblem,
    decode_binary,
    make_tensor,
    numpy_dtype,
    same_values,
)

__all__: list[str] = []

_NO_SUCH = "interlock-check-no-such-model"
Tensor = tuple[str, str, Any]


def _ok(result: RpcResult, ident: str) -> Any:
    if result.code is not None:
        raise CheckFailure(f"{result.what} failed with {result.code.name} "
                           f"({result.details[:150]!r}); expected OK ({cite(ident)})")
    return result.response


def _metadata(target: Target, model: str) -> Any:
    """``ModelMetadata`` of ``model``, once; :class:`Blocked` by SRV-221 when unusable."""
    cache: dict[str, Any] = target.cache.setdefault("core-grpc-metadata", {})
    if model not in cache:
        client = target.grpc
        result = client.call("ModelMetadata", client.messages.ModelMetadataRequest(name=model))
        if result.code is not None:
            raise Blocked(("SRV-221",), f"{result.what} of {model!r} failed with "
                          f"{result.code.name}, so no request can be built")
        for tensor in [*result.response.inputs, *result.response.outputs]:
            if tensor.datatype not in DATATYPES or any(d < -1 for d in tensor.shape):
                raise Blocked(("SRV-221",), f"ModelMetadata of {model!r} lists {tensor.name!r} "
                              f"as {tensor.datatype!r} {list(tensor.shape)}")
        cache[model] = result.response
    return cache[model]


def _tensors(target: Target, model: str) -> list[Tensor]:
    tensors: list[Tensor] = []
    for tensor in _metadata(target, model).inputs:
        if DATATYPES[tensor.datatype] is None:
            raise NotApplicable(f"input {tensor.name!r} of {model!r} is {tensor.datatype}")
        shape = [2 if d == -1 else int(d) for d in tensor.shape]
        tensors.append((tensor.name, tensor.datatype,
                        make_tensor(tensor.datatype, shape, seed=len(tensors))))
    return tensors


def _typed_values(tensor: Any) -> tuple[str | None, list[Any]]:
    """The typed contents field an output uses (the first non-empty one), and its values."""
    for name in sorted(set(TYPED_FIELDS.values())):
        values = list(getattr(tensor.contents, name))
        if values:
            return name, values
    return None, []


def _decode_output(what: str, tensor: Any, raw: bytes | None) -> GrpcOutput:
    where = f"{what}: output {tensor.name!r}"
    if tensor.datatype not in DATATYPES or DATATYPES[tensor.datatype] is None:
        raise CheckFailure(f"{where} has datatype {tensor.datatype!r}, not one the checker can "
                           f"read ({cite('SRV-223')})")
    shape = [int(d) for d in tensor.shape]
    if any(d < 0 for d in shape):
        raise CheckFailure(f"{where} has shape {shape}, not sizes ({cite('SRV-223')})")
    field, values = _typed_values(tensor)
    try:
        if raw is not None:
            if field is not None:
                raise TensorProblem(f"{where} has data in raw_output_contents and in "
                                    f"contents.{field}")
            array = decode_binary(tensor.datatype, shape, raw, where)
        else:
            array = _from_typed(where, tensor.datatype, shape, field, values)
    except TensorProblem as problem:
        raise CheckFailure(f"{problem} ({cite('SRV-223')})") from None
    return GrpcOutput(tensor.name, tensor.datatype, shape, array)


def _from_typed(where: str, datatype: str, shape: list[int], field: str | None,
                values: list[Any]) -> Any:
    import math

    import numpy as np

    wanted = TYPED_FIELDS.get(datatype)
    if math.prod(shape) == 0:
        return np.zeros(shape, dtype=numpy_dtype(datatype))
    if field != wanted:
        raise TensorProblem(f"{where} ({datatype}) has its data in "
                            f"{'contents.' + field if field else 'no field'}, not in "
                            f"contents.{wanted} or raw_output_contents")
    if len(values) != math.prod(shape):
        raise TensorProblem(f"{where}: contents.{field} holds {len(values)} element(s), the "
                            f"shape {shape} needs {math.prod(shape)}")
    if datatype == "BYTES":
        values = [bytes(v).decode("utf-8", "replace") for v in values]
    return np.array(values, dtype=numpy_dtype(datatype)).reshape(shape)


def _infer(target: Target, model: str, **fields: Any) -> tuple[Any, list[GrpcOutput], str]:
    """``ModelInfer`` with raw inputs; the outputs read from wherever the proto allows."""
    client = target.grpc
    result = client.call("ModelInfer", infer_message(client, model, _tensors(target, model),
                                                     **fields))
    response = _ok(result, "SRV-223")
    raws = list(response.raw_output_contents)
    if raws and len(raws) != len(response.outputs):
        raise CheckFailure(f"{result.what}: {len(response.outputs)} output(s) and "
                           f"{len(raws)} raw_output_contents entries; one per output "
                           f"({cite('SRV-223')})")
    outputs = [_decode_output(result.what, tensor, raws[i] if raws else None)
               for i, tensor in enumerate(response.outputs)]
    target.observe("SRV-223", f"ModelInfer answers its outputs in "
                   f"{'raw_output_contents' if raws else 'typed contents'}")
    return response, outputs, result.what


# -- health and metadata --------------------------------------------------------------------------


@check("grpc", "SRV-110", needs_models=False, profile=CORE)
def check_core_server_live(target: Target, model: str) -> None:
    """ServerLive answers live: true."""
    client = target.grpc
    result = client.call("ServerLive", client.messages.ServerLiveRequest(), auth=False)
    if _ok(result, "SRV-110").live is not True:
        raise CheckFailure(f"ServerLive answered live: false ({cite('SRV-110')})")


@check("grpc", "SRV-111", needs_models=False, profile=CORE)
def check_core_server_ready(target: Target, model: str) -> None:
    """ServerReady answers ready: true once the models are loaded."""
    client = target.grpc
    result = client.call("ServerReady", client.messages.ServerReadyRequest(), auth=False)
    if _ok(result, "SRV-111").ready is not True:
        raise CheckFailure(f"ServerReady answered ready: false ({cite('SRV-111')})")


@check("grpc", "SRV-220", needs_models=False, profile=CORE)
def check_core_server_metadata(target: Target, model: str) -> None:
    """ServerMetadata succeeds."""
    client = target.grpc
    _ok(client.call("ServerMetadata", client.messages.ServerMetadataRequest()), "SRV-220")


@check("grpc", "SRV-221", scope="model", profile=CORE)
def check_core_model_metadata(target: Target, model: str) -> None:
    """ModelMetadata answers the model's name and tensors; of a model not served, a status
    other than OK."""
    client = target.grpc
    response = _ok(client.call("ModelMetadata", client.messages.ModelMetadataRequest(name=model)),
                   "SRV-221")
    if response.name != model:
        raise CheckFailure(f"ModelMetadata of {model!r} answered name {response.name!r} "
                           f"({cite('SRV-221')})")
    _metadata(target, model)
    unknown = client.call("ModelMetadata", client.messages.ModelMetadataRequest(name=_NO_SUCH))
    _expect_failure(target, unknown, "SRV-221", "(a model not served)")


@check("grpc", "SRV-222", scope="model", profile=CORE)
def check_core_model_ready(target: Target, model: str) -> None:
    """ModelReady of a served model answers ready: true."""
    client = target.grpc
    response = _ok(client.call("ModelReady", client.messages.ModelReadyRequest(name=model)),
                   "SRV-222")
    if response.ready is not True:
        raise CheckFailure(f"ModelReady of {model!r} answered ready: false ({cite('SRV-222')})")


# -- inference ------------------------------------------------------------------------------------


def _same_names(what: str, got: list[GrpcOutput], wanted: list[str]) -> None:
    names = [o.name for o in got]
    if sorted(names) != sorted(wanted):
        raise CheckFailure(f"{what}: outputs {names}, expected {wanted} ({cite('SRV-223')})")


@check("grpc", "SRV-130", scope="model", profile=CORE)
def check_core_raw_inputs(target: Target, model: str) -> None:
    """ModelInfer with every input in raw_input_contents succeeds."""
    client = target.grpc
    _ok(client.call("ModelInfer", infer_message(client, model, _tensors(target, model))),
        "SRV-130")


@check("grpc", "SRV-100", needs_models=False, profile=CORE)
def check_core_service(target: Target, model: str) -> None:
    """Every RPC of the service is implemented (none answers UNIMPLEMENTED)."""
    client = target.grpc
    messages = client.messages
    name = target.models[0] if target.models else _NO_SUCH
    for rpc, request in (
        ("ServerLive", messages.ServerLiveRequest()), ("ServerReady", messages.ServerReadyRequest()),
        ("ServerMetadata", messages.ServerMetadataRequest()),
        ("ModelReady", messages.ModelReadyRequest(name=name)),
        ("ModelMetadata", messages.ModelMetadataRequest(name=name)),
        ("ModelInfer", messages.ModelInferRequest(model_name=name)),
    ):
        result = client.call(rpc, request)
        if result.code is not None and result.code.name == "UNIMPLEMENTED":
            raise CheckFailure(f"{result.what} ended with UNIMPLEMENTED: the service "
                               f"inference.GRPCInferenceService lacks it ({cite('SRV-100')})")


@check("grpc", "SRV-223", scope="model", profile=CORE)
def check_core_infer(target: Target, model: str) -> None:
    """ModelInfer with raw inputs answers the model, the id, and every output (or those asked)
    with its declared datatype and a shape it allows, from typed or raw contents."""
    metadata = _metadata(target, model)
    declared = {t.name: t for t in metadata.outputs}
    response, outputs, what = _infer(target, model, request_id="interlock-check-id-7")
    if response.model_name != model or response.id != "interlock-check-id-7":
        raise CheckFailure(f"{what} of {model!r} with id 'interlock-check-id-7' answered model "
                           f"{response.model_name!r}, id {response.id!r} ({cite('SRV-223')})")
    _same_names(what, outputs, list(declared))
    for output in outputs:
        entry = declared[output.name]
        shape = list(entry.shape)
        if output.datatype != entry.datatype or len(shape) != len(output.shape) or any(
                d not in (-1, s) for d, s in zip(shape, output.shape)):
            raise CheckFailure(f"{what}: output {output.name!r} is {output.datatype} "
                               f"{output.shape}, the metadata declares {entry.datatype} {shape} "
                               f"({cite('SRV-223')})")
    if list(declared):
        wanted = list(declared)[-1:]
        _, selected, what = _infer(target, model, outputs=wanted)
        _same_names(f"{what} asking for {wanted}", selected, wanted)
        reference = {o.name: o for o in outputs}
        for output in selected:
            problem = same_values(output.values, reference[output.name].values)
            if problem:
                raise CheckFailure(f"{what}: output {output.name!r} asked alone: {problem} "
                                   f"({cite('SRV-223')})")


def _expect_failure(target: Target, result: RpcResult, ident: str, why: str) -> None:
    if result.code is None:
        raise CheckFailure(f"{result.what} {why} succeeded; a request that cannot succeed ends "
                           f"with a status other than OK ({cite(ident)})")
    target.observe(ident, f"{result.what} {why} ended with {result.code.name}")


@check("grpc", "SRV-224", profile=CORE)
def check_core_infer_errors(target: Target, model: str) -> None:
    """ModelInfer of a model not served, without a required input, or of bytes that are no
    message, ends with a status other than OK."""
    client = target.grpc
    tensors = _tensors(target, model)
    _expect_failure(target, client.call("ModelInfer", infer_message(client, _NO_SUCH, tensors)),
                    "SRV-224", "(a model not served)")
    if tensors:
        missing = infer_message(client, model, tensors[1:])
        _expect_failure(target, client.call("ModelInfer", missing), "SRV-224",
                        f"(input {tensors[0][0]!r} missing)")
    _expect_failure(target, client.call_raw("ModelInfer", b"\xff\xff\xff\xff"), "SRV-224",
                    "(bytes that are not a ModelInferRequest)")
