"""The gRPC checks of the server checker, each tied to the serving.md IDs it verifies
(SRV-110 to SRV-143)."""

from __future__ import annotations

import uuid
from typing import Any

from interlock_conformance.oip.checks import CheckFailure, NotApplicable, Target, check
from interlock_conformance.oip.grpc_messages import (
    TYPED_FIELDS,
    GrpcOutput,
    expect_status,
    grpc_metadata,
    infer,
    infer_message,
    request_tensors,
    succeeded,
)
from interlock_conformance.oip.tensors import DATATYPES, encode_binary, same_values

__all__: list[str] = []

_NO_SUCH = "interlock-check-no-such-model"
_NO_SUCH_VERSION = "interlock-check-no-such-version"


def _any_model(target: Target) -> str:
    for model in target.models:
        if len(grpc_metadata(target, model).inputs):
            return model
    raise NotApplicable("no model given has an input")


def _same(what: str, actual: list[GrpcOutput], expected: list[GrpcOutput]) -> None:
    if [o.name for o in actual] != [o.name for o in expected]:
        raise CheckFailure(f"{what}: outputs {[o.name for o in actual]}, expected "
                           f"{[o.name for o in expected]}")
    for got, want in zip(actual, expected):
        problem = same_values(got.values, want.values)
        if problem:
            raise CheckFailure(f"{what}: output {got.name!r}: {problem}")


# -- health and metadata --------------------------------------------------------------------------


@check("grpc", "SRV-110", needs_models=False)
def check_server_live(target: Target, model: str) -> None:
    """ServerLive answers live: true."""
    client = target.grpc
    response = succeeded(client.call("ServerLive", client.messages.ServerLiveRequest(),
                                     auth=False))
    if response.live is not True:
        raise CheckFailure("ServerLive answered live: false")


@check("grpc", "SRV-111", needs_models=False)
def check_server_ready(target: Target, model: str) -> None:
    """ServerReady answers ready: true once every model is loaded."""
    client = target.grpc
    response = succeeded(client.call("ServerReady", client.messages.ServerReadyRequest(),
                                     auth=False))
    if response.ready is not True:
        raise CheckFailure("ServerReady answered ready: false")


@check("grpc", "SRV-114", needs_models=False)
def check_server_metadata(target: Target, model: str) -> None:
    """ServerMetadata answers the server's name and version."""
    client = target.grpc
    response = succeeded(client.call("ServerMetadata", client.messages.ServerMetadataRequest()))
    if not response.name or not response.version:
        raise CheckFailure(f"ServerMetadata answered name {response.name!r}, version "
                           f"{response.version!r}; interlock's serving profile wants both set "
                           "(the protocol allows empty strings, SRV-220)")
    expected = target.expected
    if expected is not None:
        for key, value in (("name", expected.server_name), ("version", expected.server_version)):
            if value is not None and getattr(response, key) != value:
                raise CheckFailure(f"ServerMetadata: {key} is {getattr(response, key)!r}, "
                                   f"expected {value!r}")


@check("grpc", "SRV-115", scope="model")
def check_model_metadata(target: Target, model: str) -> None:
    """ModelMetadata answers the name, versions, platform, and inputs and outputs with
    protocol datatypes and -1 for variable dimensions."""
    client = target.grpc
    request = client.messages.ModelMetadataRequest(name=model)
    response = succeeded(client.call("ModelMetadata", request))
    if response.name != model:
        raise CheckFailure(f"ModelMetadata of {model!r} answered name {response.name!r}")
    if not response.platform:
        raise CheckFailure(f"ModelMetadata of {model!r} answered an empty platform; "
                           "interlock's serving profile wants the model's platform (the protocol "
                           "allows it empty, SRV-221)")
    for kind, tensors in (("input", response.inputs), ("output", response.outputs)):
        for tensor in tensors:
            if tensor.datatype not in DATATYPES:
                raise CheckFailure(f"ModelMetadata of {model!r}: {kind} {tensor.name!r} has "
                                   f"datatype {tensor.datatype!r}, not one of "
                                   f"{', '.join(DATATYPES)}")
            if any(d < -1 for d in tensor.shape):
                raise CheckFailure(f"ModelMetadata of {model!r}: {kind} {tensor.name!r} has shape "
                                   f"{list(tensor.shape)}; write -1 for a variable dimension")
    expected = target.expected
    wanted = expected.grpc_platform if expected is not None else None
    if wanted and response.platform != wanted:
        raise CheckFailure(f"ModelMetadata of {model!r}: platform {response.platform!r}, "
                           f"expected {wanted!r}")
    known = target.expected_model(model)
    if known is not None and known.versions is not None and (
            list(response.versions) != known.versions):
        raise CheckFailure(f"ModelMetadata of {model!r}: versions {list(response.versions)}, "
                           f"expected {known.versions}")


@check("grpc", "SRV-112", scope="model")
def check_model_ready(target: Target, model: str) -> None:
    """ModelReady answers ready: true for a served model and each version it lists."""
    client = target.grpc
    versions = list(grpc_metadata(target, model).versions)
    for version in ["", *versions[-1:]]:
        request = client.messages.ModelReadyRequest(name=model, version=version)
        response = succeeded(client.call("ModelReady", request))
        if response.ready is not True:
            raise CheckFailure(f"ModelReady of {model!r} version {version!r} answered ready: false")


@check("grpc", "SRV-113")
def check_empty_version_is_the_newest(target: Target, model: str) -> None:
    """An empty version selects the newest version the server serves."""
    model = _any_model(target)
    versions = list(grpc_metadata(target, model).versions)
    response, _ = infer(target, model, request_tensors(target, model))
    if versions and response.model_version != versions[-1]:
        raise CheckFailure(f"ModelInfer of {model!r} without a version ran version "
                           f"{response.model_version!r}; the newest served is {versions[-1]!r}")


@check("grpc", "SRV-112", needs_models=False)
def check_model_ready_unknown(target: Target, model: str) -> None:
    """ModelReady of a model or version the server does not serve fails with NOT_FOUND."""
    client = target.grpc
    unknown_model = client.messages.ModelReadyRequest(name=_NO_SUCH)
    expect_status(client.call("ModelReady", unknown_model), "NOT_FOUND", "(unknown model)")
    if target.models:
        unknown_version = client.messages.ModelReadyRequest(name=target.models[0],
                                                            version=_NO_SUCH_VERSION)
        expect_status(client.call("ModelReady", unknown_version), "NOT_FOUND",
                      "(unknown version)")


@check("grpc", "SRV-115", needs_models=False)
def check_model_metadata_unknown(target: Target, model: str) -> None:
    """ModelMetadata of a model or version the server does not serve fails with NOT_FOUND."""
    client = target.grpc
    unknown_model = client.messages.ModelMetadataRequest(name=_NO_SUCH)
    expect_status(client.call("ModelMetadata", unknown_model), "NOT_FOUND", "(unknown model)")
    if target.models:
        unknown_version = client.messages.ModelMetadataRequest(name=target.models[0],
                                                               version=_NO_SUCH_VERSION)
        expect_status(client.call("ModelMetadata", unknown_version), "NOT_FOUND",
                      "(unknown version)")


@check("grpc", "SRV-140")
def check_infer_unknown_model(target: Target, model: str) -> None:
    """ModelInfer of a model or version the server does not serve fails with NOT_FOUND."""
    client = target.grpc
    model = _any_model(target)
    tensors = request_tensors(target, model)
    unknown_model = infer_message(client, _NO_SUCH, tensors)
    expect_status(client.call("ModelInfer", unknown_model), "NOT_FOUND", "(unknown model)")
    unknown_version = infer_message(client, model, tensors, version=_NO_SUCH_VERSION)
    expect_status(client.call("ModelInfer", unknown_version), "NOT_FOUND", "(unknown version)")


# -- inference ------------------------------------------------------------------------------------


@check("grpc", "SRV-130", "SRV-136", scope="model")
def check_infer(target: Target, model: str) -> None:
    """ModelInfer with raw_input_contents for every input answers every output in metadata
    order in raw_output_contents, with the declared datatypes and shapes it allows."""
    metadata = grpc_metadata(target, model)
    response, outputs = infer(target, model, request_tensors(target, model))
    names = [t.name for t in metadata.outputs]
    if [o.name for o in outputs] != names:
        raise CheckFailure(f"ModelInfer of {model!r}: outputs {[o.name for o in outputs]}, "
                           f"expected every output in metadata order {names}")
    declared = {t.name: t for t in metadata.outputs}
    for output in outputs:
        entry = declared[output.name]
        if entry.datatype in DATATYPES and output.datatype != entry.datatype:
            raise CheckFailure(f"ModelInfer of {model!r}: output {output.name!r} is "
                               f"{output.datatype}, the metadata declares {entry.datatype}")
        shape = list(entry.shape)
        if len(shape) != len(output.shape) or any(
                d not in (-1, s) for d, s in zip(shape, output.shape)):
            raise CheckFailure(f"ModelInfer of {model!r}: output {output.name!r} has shape "
                               f"{output.shape}, the metadata declares {shape}")


@check("grpc", "SRV-138")
def check_infer_echoes_id_and_model(target: Target, model: str) -> None:
    """ModelInfer echoes the request id and names the model and version that ran."""
    model = _any_model(target)
    ident = f"interlock-check-{uuid.uuid4().hex[:8]}"
    response, _ = infer(target, model, request_tensors(target, model), request_id=ident)
    if response.id != ident:
        raise CheckFailure(f"ModelInfer answered id {response.id!r}, the request's was {ident!r}")
    if response.model_name != model or not response.model_version:
        raise CheckFailure(f"ModelInfer answered model {response.model_name!r} version "
                           f"{response.model_version!r}, expected {model!r} and its version")


@check("grpc", "SRV-137", scope="model")
def check_output_selection(target: Target, model: str) -> None:
    """A request's outputs are answered exactly, once each, in the order asked."""
    names = [t.name for t in grpc_metadata(target, model).outputs]
    tensors = request_tensors(target, model)
    for wanted in ([names[-1]], names[::-1]) if names else ():
        _, outputs = infer(target, model, tensors, outputs=wanted)
        if [o.name for o in outputs] != wanted:
            raise CheckFailure(f"ModelInfer of {model!r} asking for {wanted} answered "
                               f"{[o.name for o in outputs]}")


@check("grpc", "SRV-137")
def check_unknown_output(target: Target, model: str) -> None:
    """An output the model does not declare fails with INVALID_ARGUMENT."""
    client = target.grpc
    model = _any_model(target)
    message = infer_message(client, model, request_tensors(target, model),
                            outputs=["interlock_check_no_such_output"])
    expect_status(client.call("ModelInfer", message), "INVALID_ARGUMENT", "(unknown output)")


@check("grpc", "SRV-131", capabilities=("grpc.typed-contents",), scope="model")
def check_typed_contents(target: Target, model: str) -> None:
    """Inputs in typed InferTensorContents give the same outputs as raw contents."""
    tensors = request_tensors(target, model)
    if any(d not in TYPED_FIELDS for _, d, _ in tensors):
        raise NotApplicable(f"{model!r} has an input that typed contents cannot carry")
    _, raw = infer(target, model, tensors)
    _, typed = infer(target, model, tensors, typed=True)
    _same(f"ModelInfer of {model!r} with typed contents", typed, raw)


@check("grpc", "SRV-132")
def check_malformed_contents(target: Target, model: str) -> None:
    """A raw_input_contents count that differs from inputs, raw and typed contents together,
    or an input named twice fail with INVALID_ARGUMENT."""
    client = target.grpc
    model = _any_model(target)
    tensors = request_tensors(target, model)
    extra = infer_message(client, model, tensors)
    extra.raw_input_contents.append(b"\x00")
    expect_status(client.call("ModelInfer", extra), "INVALID_ARGUMENT", "(one raw entry too many)")
    both = infer_message(client, model, tensors)
    both.inputs[0].contents.bytes_contents.append(b"x")
    expect_status(client.call("ModelInfer", both), "INVALID_ARGUMENT", "(raw and typed contents)")
    twice = infer_message(client, model, [tensors[0], *tensors])
    expect_status(client.call("ModelInfer", twice), "INVALID_ARGUMENT", "(an input named twice)")


@check("grpc", "SRV-134")
def check_signature_errors(target: Target, model: str) -> None:
    """Wrong or unknown datatypes, negative dimensions, sizes that do not match, BF16, unknown
    and missing inputs, and a wrong rank fail with INVALID_ARGUMENT naming the tensor."""
    client = target.grpc
    model = _any_model(target)
    tensors = request_tensors(target, model)
    name, datatype, array = tensors[0]

    def variant(**changes: Any) -> Any:
        message = infer_message(client, model, tensors)
        entry = message.inputs[0]
        for key, value in changes.items():
            if key == "shape":
                del entry.shape[:]
                entry.shape.extend(value)
            elif key == "raw":
                message.raw_input_contents[0] = value
            else:
                setattr(entry, key, value)
        return message

    other = "INT32" if datatype == "FP32" else "FP32"
    raw = encode_binary(array, datatype)
    for message, why, naming in (
        (variant(datatype=other), f"({datatype} input sent as {other})", name),
        (variant(datatype="FLOAT"), "(datatype 'FLOAT')", name),
        (variant(datatype="BF16"), "(a BF16 input)", name),
        (variant(shape=[-1, *array.shape[1:]]), "(a negative dimension)", name),
        (variant(raw=raw + (raw[:1] if datatype != "BYTES" else b"\x01")), "(size != shape)",
         name),
        (variant(shape=[*array.shape, 1]), "(one dimension too many)", name),
        (variant(name="interlock_check_extra"), "(an undeclared input)", "interlock_check_extra"),
    ):
        expect_status(client.call("ModelInfer", message), "INVALID_ARGUMENT", why, naming=naming)
    if len(tensors) >= 1:
        missing = infer_message(client, model, tensors[1:])
        expect_status(client.call("ModelInfer", missing), "INVALID_ARGUMENT", "(a missing input)",
                                                  naming=name)


@check("grpc", "SRV-135")
def check_unsupported_parameters(target: Target, model: str) -> None:
    """Shared-memory parameters and the classification parameter fail with INVALID_ARGUMENT."""
    client = target.grpc
    model = _any_model(target)
    tensors = request_tensors(target, model)
    outputs = [t.name for t in grpc_metadata(target, model).outputs][:1]
    on_request = infer_message(client, model, tensors)
    on_request.parameters["shared_memory_region"].string_param = "region"
    on_input = infer_message(client, model, tensors)
    on_input.inputs[0].parameters["shared_memory_byte_size"].int64_param = 16
    expect_status(client.call("ModelInfer", on_request), "INVALID_ARGUMENT",
                  "(shared_memory_region)")
    expect_status(client.call("ModelInfer", on_input), "INVALID_ARGUMENT",
                  "(shared_memory_byte_size)")
    if outputs:
        on_output = infer_message(client, model, tensors, outputs=outputs)
        on_output.outputs[0].parameters["classification"].int64_param = 2
        expect_status(client.call("ModelInfer", on_output), "INVALID_ARGUMENT", "(classification)")


@check("grpc", "SRV-133")
def check_invalid_utf8(target: Target, model: str) -> None:
    """A BYTES element that is not valid UTF-8 fails with INVALID_ARGUMENT."""
    client = target.grpc
    for candidate in target.models:
        tensors = request_tensors(target, candidate)
        index = next((i for i, (_, d, _) in enumerate(tensors) if d == "BYTES"), None)
        if index is None:
            continue
        message = infer_message(client, candidate, tensors)
        rows = tensors[index][2].reshape(-1)
        invalid = b"\x02\x00\x00\x00\xff\xfe"  # one element of two bytes that are not UTF-8
        message.raw_input_contents[index] = invalid + encode_binary(rows[1:], "BYTES")
        expect_status(client.call("ModelInfer", message), "INVALID_ARGUMENT", "(BYTES not UTF-8)")
        return
    raise NotApplicable("no model given has a BYTES input")


@check("grpc", "SRV-140", needs_models=False)
def check_unimplemented_and_garbage(target: Target, model: str) -> None:
    """An RPC the service does not have fails with UNIMPLEMENTED; bytes that are not a
    protobuf message fail with INVALID_ARGUMENT. (The probe is a name no extension defines:
    RepositoryIndex, of the model repository extension, is a legal RPC of servers that
    offer it.)"""
    client = target.grpc
    expect_status(client.call_raw("InterlockCheckNoSuchRpc", b""), "UNIMPLEMENTED",
                  "(an RPC no protocol or extension defines)")
    expect_status(client.call_raw("ModelInfer", b"\xff\xff\xff\xff"), "INVALID_ARGUMENT",
                  "(not protobuf)")


@check("grpc", "SRV-143", capabilities=("grpc.auth",), needs_models=False)
def check_bearer_token(target: Target, model: str) -> None:
    """With a token, ServerLive and ServerReady need none; every other RPC fails with
    UNAUTHENTICATED without it or with a wrong one, even for a model that does not exist."""
    if not target.token:
        raise NotApplicable("no token was given")
    client = target.grpc
    succeeded(client.call("ServerLive", client.messages.ServerLiveRequest(), auth=False))
    succeeded(client.call("ServerReady", client.messages.ServerReadyRequest(), auth=False))
    for metadata in ((), (("authorization", "Bearer interlock-check-wrong-token"),)):
        for rpc, request in (
            ("ServerMetadata", client.messages.ServerMetadataRequest()),
            ("ModelMetadata", client.messages.ModelMetadataRequest(name=_NO_SUCH)),
            ("ModelReady", client.messages.ModelReadyRequest(name=_NO_SUCH)),
            ("ModelInfer", client.messages.ModelInferRequest(model_name=_NO_SUCH)),
        ):
            expect_status(client.call(rpc, request, auth=False, metadata=metadata),
                "UNAUTHENTICATED", f"({'a wrong token' if metadata else 'no token'})")
    lower = [("authorization", f"bearer {target.token}")]
    succeeded(client.call("ServerMetadata", client.messages.ServerMetadataRequest(), auth=False,
                metadata=lower))


# -- known outputs --------------------------------------------------------------------------------


@check("grpc", "SRV-139", scope="model", needs_expectations=True)
def check_golden_outputs(target: Target, model: str) -> None:
    """Known inputs give the known outputs, element for element, in dtype and shape."""
    known = target.expected_model(model)
    if known is None:
        raise NotApplicable(f"no known outputs for {model!r}")
    _, outputs = infer(target, model, request_tensors(target, model, golden=True))
    got = {o.name: o for o in outputs}
    for name, expected in known.outputs.items():
        if name not in got:
            raise CheckFailure(f"ModelInfer of {model!r}: output {name!r} is missing")
        problem = same_values(got[name].values, expected, known.rtol, known.atol)
        if got[name].values.dtype != expected.dtype:
            problem = f"dtype {got[name].values.dtype}, expected {expected.dtype}"
        if problem:
            raise CheckFailure(f"ModelInfer of {model!r}: output {name!r}: {problem}")
