"""The gRPC proto and its generated stubs: wire-compatible, coexisting, never stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from google.protobuf.descriptor import Descriptor

from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as pb_grpc
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent

PROTOCOL_RPCS = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}


def _fields(descriptor: Descriptor, prefix: str = "") -> dict[str, tuple[int, int, bool, str]]:
    """Every field, nested messages included: path -> (number, type, repeated, message type)."""
    out: dict[str, tuple[int, int, bool, str]] = {}
    for field in descriptor.fields:
        message = field.message_type.full_name if field.message_type is not None else ""
        repeated = bool(field.is_repeated)
        out[f"{prefix}{field.name}"] = (field.number, field.type, repeated, message)
    for nested in descriptor.nested_types:
        out.update(_fields(nested, f"{prefix}{nested.name}."))
    return out


def test_committed_stubs_match_what_the_script_generates() -> None:
    """The stubs are what scripts/generate_grpc.py makes of the proto today."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_grpc.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@requirement("SRV-100")
def test_service_has_the_six_protocol_rpcs_with_their_messages() -> None:
    """SRV-100."""
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    rpcs = {m.name: (m.input_type.name, m.output_type.name) for m in service.methods}
    assert rpcs == PROTOCOL_RPCS
    assert all(not m.client_streaming and not m.server_streaming for m in service.methods)
    assert hasattr(pb_grpc, "GRPCInferenceServiceStub")


@requirement("SRV-100")
def test_every_message_matches_the_triton_client_wire_format() -> None:
    """SRV-100: same fields, numbers and types as the Triton client's proto."""
    # The Triton client's own proto is a superset of the protocol; each message we define
    # must have the same fields with the same numbers and types.
    from tritonclient.grpc import service_pb2 as triton

    ours = pb.DESCRIPTOR.message_types_by_name
    theirs = triton.DESCRIPTOR.message_types_by_name
    assert len(ours) == 14
    for name, descriptor in ours.items():
        assert _fields(descriptor) == _fields(theirs[name]), name
    oneof = ours["InferParameter"].oneofs_by_name["parameter_choice"]
    assert [f.name for f in oneof.fields] == [
        "bool_param",
        "int64_param",
        "string_param",
        "double_param",
        "uint64_param",
    ]


@requirement("SRV-102")
def test_messages_are_interchangeable_with_the_triton_client_on_the_wire() -> None:
    """SRV-100, SRV-102: both definitions in one process, bytes interchangeable."""
    from tritonclient.grpc import service_pb2 as triton

    request = pb.ModelInferRequest(model_name="m", model_version="2", id="req-1")
    request.parameters["priority"].int64_param = 3
    tensor = request.inputs.add(name="x", datatype="INT64", shape=[2])
    tensor.contents.int64_contents.extend([-1, 2**40])
    request.outputs.add(name="y")
    decoded = triton.ModelInferRequest.FromString(request.SerializeToString())
    assert decoded.id == "req-1"
    assert decoded.parameters["priority"].int64_param == 3
    assert list(decoded.inputs[0].contents.int64_contents) == [-1, 2**40]
    assert decoded.outputs[0].name == "y"
    back = pb.ModelInferRequest.FromString(decoded.SerializeToString())
    assert back == request
