"""The six RPCs of ``inference.GRPCInferenceService`` over a model repository, independent of
the transport that carries them.

An RPC here is ``async rpc(message, context) -> response``: ``message`` is the
:class:`RequestMessage` a transport received (its bytes, or the error that stopped it, such as
a message over the size limit or one that did not arrive in time), ``context`` the call's
:class:`CallContext` (its metadata). It returns the response message or raises
:class:`RpcAbort` with the status name, details and trailing metadata to end the call with.
:meth:`InferenceService.methods` lists them by name with their message types; the reference
transport (:mod:`interlock_grpc._transport`) serves them over HTTP/2. Every RPC runs on the
server's asyncio event loop. Errors become status codes through the table shared with the REST
server (:func:`interlock.serving.oip.errors.grpc_status`):

=====================================  =========================================
what went wrong                        status
=====================================  =========================================
unknown model or version               ``NOT_FOUND``
malformed tensor, wrong signature      ``INVALID_ARGUMENT``
queue full, model or server not ready  ``UNAVAILABLE`` (``retry-after`` trailer)
missing or wrong bearer token          ``UNAUTHENTICATED``
request message over the size limit    ``RESOURCE_EXHAUSTED``
request message not received in time   ``DEADLINE_EXCEEDED``
a runtime broke its contract, a bug    ``INTERNAL`` (details stay in the log)
=====================================  =========================================

A transport reports failures of its own framing (no request message, two, a message cut
short) as :class:`StatusError`, which carries its status name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

import interlock
from interlock.errors import InterlockError, OverloadedError

from interlock_grpc._codec import check_parameters, decode_inputs, encode_outputs
from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
from interlock.serving.oip.auth import BearerToken
from interlock.serving.oip.datatypes import PLATFORMS as _PLATFORMS
from interlock.serving.oip.datatypes import OIP_BY_DTYPE, oip_platform, oip_shape
from interlock.serving.oip.errors import ProtocolError, Unauthorized, grpc_status

if TYPE_CHECKING:
    from interlock.servers import Model, Repository
    from interlock.tensors import TensorSpec
    from interlock.serving.oip.metrics import ServingMetrics

__all__ = [
    "PLATFORMS",
    "SERVICE",
    "CallContext",
    "InferenceService",
    "Method",
    "RequestMessage",
    "RpcAbort",
    "StatusError",
]

log = logging.getLogger("interlock.grpc")

#: Full name of the protocol's service.
SERVICE = "inference.GRPCInferenceService"

#: Protocol platform names ("<project>_<format>") by ``Model.platform`` (the kit's table).
PLATFORMS = _PLATFORMS


class StatusError(InterlockError):
    """A call failed in its transport framing with gRPC status ``status`` (for example
    ``UNIMPLEMENTED`` for a unary call without exactly one request message)."""

    def __init__(self, status: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, component="grpc")
        self.status = status


class RpcAbort(Exception):
    """An RPC ended with ``status`` (a ``grpc.StatusCode`` name other than ``OK``), the
    details ``message`` and the trailing metadata ``trailers``."""

    def __init__(
        self, status: str, message: str, trailers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.trailers = trailers


class RequestMessage:
    """A call's request message as the transport received it: ``data`` (the serialised
    message, compressed when ``inflate`` is set: that function decompresses it or raises) and
    ``parse`` (its type's ``FromString``), or ``error``, the reason there is no message to
    parse."""

    __slots__ = ("data", "error", "inflate", "parse")

    def __init__(
        self,
        data: bytes | memoryview,
        parse: Callable[[bytes | memoryview], Any],
        error: InterlockError | None = None,
        inflate: Callable[[bytes | memoryview], bytes] | None = None,
    ) -> None:
        self.data = data
        self.parse = parse
        self.error = error
        self.inflate = inflate

    def read(self) -> Any:
        """The parsed message (decompressed first if need be)."""
        data = self.data if self.inflate is None else self.inflate(self.data)
        self.data = b""
        return self.parse(data)


#: A request message above this size (or any compressed one) is decompressed, parsed and
#: decoded on a worker thread, so that no single call holds the event loop.
OFFLOAD_BYTES = 256 * 1024


class CallContext:
    """What an RPC may know about its call: the request ``metadata`` (lower-case names; the
    last value of a repeated name)."""

    __slots__ = ("metadata",)

    def __init__(self, metadata: Mapping[str, str]) -> None:
        self.metadata = metadata


#: A bound RPC: ``await rpc(message, context)`` returns the response message.
Rpc = Callable[[RequestMessage, CallContext], Awaitable[Any]]
# The same before it is bound to a service instance.
_UnboundRpc = Callable[[Any, RequestMessage, CallContext], Awaitable[Any]]


class Method:
    """One RPC of the service: its ``name``, message types and the bound ``rpc``."""

    __slots__ = ("name", "request_type", "response_type", "rpc")

    def __init__(self, name: str, request_type: Any, response_type: Any, rpc: Rpc) -> None:
        self.name = name
        self.request_type = request_type
        self.response_type = response_type
        self.rpc = rpc


class _Call:
    """What one RPC reports to the metrics: the model it addressed."""

    __slots__ = ("model", "version")

    def __init__(self) -> None:
        self.model = ""
        self.version = ""

    def addressed(self, model: Model) -> Model:
        self.model, self.version = model.name, model.version
        return model


Body = Callable[[Any, Any, _Call], Awaitable[Any]]


def _rpc(
    endpoint: str | None = None, *, authenticated: bool = True, limited: bool = True
) -> Callable[[Body], _UnboundRpc]:
    """Make an RPC of ``body``: check the token (``authenticated``) and the in-flight limit
    (``limited``), parse the request message, turn errors into :class:`RpcAbort`, and count
    the call in the metrics under ``endpoint`` (the REST server's names: ``infer``,
    ``metadata``; None: not counted).
    """

    def decorate(body: Body) -> _UnboundRpc:
        async def rpc(self: InferenceService, message: RequestMessage, context: CallContext) -> Any:
            call = _Call()
            start = time.perf_counter()
            status = "OK"
            entered = False
            try:
                if authenticated:
                    self.check_token(context)
                if limited:
                    self.enter()
                    entered = True
                if len(message.data) > OFFLOAD_BYTES or message.inflate is not None:
                    request = await asyncio.to_thread(self.read_request, message, body.__name__)
                else:
                    request = self.read_request(message, body.__name__)
                return await body(self, request, call)
            except InterlockError as error:
                status = error.status if isinstance(error, StatusError) else grpc_status(error)
                trailer: tuple[tuple[str, str], ...] = ()
                if isinstance(error, OverloadedError):
                    trailer = (("retry-after", f"{max(1, round(error.retry_after))}"),)
                elif status == "INTERNAL" and not isinstance(error, StatusError):
                    log.error("gRPC %s failed: %s", body.__name__, error, exc_info=error)
                raise RpcAbort(status, str(error), trailer) from None
            except asyncio.CancelledError:
                status = "CANCELLED"  # the client went away, or the server is stopping
                raise
            except Exception:
                # A bug: the log gets the traceback, the client nothing internal.
                status = "INTERNAL"
                log.exception("gRPC %s failed", body.__name__)
                raise RpcAbort(
                    "INTERNAL", f"internal error in {body.__name__}; see the server log"
                ) from None
            finally:
                if entered:
                    self.leave()
                if endpoint is not None and self.metrics is not None:
                    seconds = time.perf_counter() - start if endpoint == "infer" else None
                    self.metrics.observe_request(
                        "grpc", endpoint, call.model, call.version, status, seconds
                    )

        rpc.__name__ = body.__name__
        rpc.__doc__ = body.__doc__
        return rpc

    return decorate


def _tensor_metadata(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=OIP_BY_DTYPE[spec.dtype], shape=oip_shape(spec.shape)
    )


def _requested_outputs(model: Model, request: pb.ModelInferRequest) -> list[str]:
    declared = [spec.name for spec in model.signature.outputs]
    if not request.outputs:
        return declared
    names: list[str] = []
    for output in request.outputs:
        if output.name not in declared:
            raise ProtocolError(
                f"model '{model.name}:{model.version}' has no output {output.name!r} "
                f"(outputs: {', '.join(declared)})",
                hint="ask for outputs the model metadata lists, or for none to get them all",
            )
        check_parameters(f"requested output {output.name!r}", output.parameters)
        if output.name not in names:
            names.append(output.name)
    return names


class InferenceService:
    """``GRPCInferenceService`` for one repository.

    ``token``: when set, every RPC but ``ServerLive`` and ``ServerReady`` needs the metadata
    ``authorization: Bearer <token>`` (as the REST server, which protects a model's readiness
    too, so that nobody learns which models exist without the token). ``max_in_flight``: RPCs
    other than health probes beyond this many at once are refused with ``UNAVAILABLE``
    rather than queued without bound. ``metrics``: where answered RPCs are counted (shared
    with the REST server of the same repository). Subclasses may override an RPC and call
    ``super()``'s: :meth:`methods` binds whatever the instance's class defines.
    """

    def __init__(
        self,
        repository: Repository,
        *,
        token: str | None = None,
        server_name: str = "interlock",
        max_in_flight: int | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.repository = repository
        self.server_name = server_name
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.in_flight = 0
        self._token = BearerToken(token) if token else None

    def methods(self) -> dict[str, Method]:
        """Every RPC of the service by method name, bound to this instance (so that a
        subclass's overrides are the ones served)."""
        service = pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]]
        return {
            method.name: Method(
                method.name,
                getattr(pb, method.input_type.name),
                getattr(pb, method.output_type.name),
                getattr(self, method.name),
            )
            for method in service.methods
        }

    # -- guards ------------------------------------------------------------------------------

    def read_request(self, message: RequestMessage, rpc: str) -> Any:
        """The RPC's request, parsed; raises the transport's error when it has no message."""
        if message.error is not None:
            raise message.error
        try:
            return message.read()
        except DecodeError:
            raise ProtocolError(
                f"the {rpc} request is not a valid protobuf message of the protocol",
                hint="encode it with the Open Inference Protocol's open_inference_grpc.proto",
            ) from None

    def check_token(self, context: CallContext) -> None:
        """Raise :class:`Unauthorized` unless the call carries the token (if one is set)."""
        if self._token is None:
            return
        given = context.metadata.get("authorization")
        if given is None:
            raise Unauthorized(
                "this server requires the metadata 'authorization: Bearer <token>'",
                hint="pass headers={'authorization': 'Bearer <token>'} to the client call",
            )
        if not self._token.accepts(given):
            raise Unauthorized(
                "the 'authorization' metadata does not carry this server's bearer token",
                hint="check the token the server was started with",
            )

    def enter(self) -> None:
        """Count one more RPC in flight, or refuse it when the limit is reached."""
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            raise OverloadedError(
                f"the server is handling {self.max_in_flight} requests already",
                retry_after=1.0,
                hint="retry later, or raise max_connections",
            )
        self.in_flight += 1

    def leave(self) -> None:
        """Count one RPC finished."""
        self.in_flight -= 1

    # -- health ------------------------------------------------------------------------------

    @_rpc(authenticated=False, limited=False)
    async def ServerLive(self, request: pb.ServerLiveRequest, call: _Call) -> pb.ServerLiveResponse:
        """Live as long as the process answers."""
        return pb.ServerLiveResponse(live=True)

    @_rpc(authenticated=False, limited=False)
    async def ServerReady(
        self, request: pb.ServerReadyRequest, call: _Call
    ) -> pb.ServerReadyResponse:
        """Ready once every model is loaded, until the server starts draining."""
        return pb.ServerReadyResponse(ready=self.repository.ready)

    @_rpc(limited=False)
    async def ModelReady(self, request: pb.ModelReadyRequest, call: _Call) -> pb.ModelReadyResponse:
        """Whether one model version is ready; ``NOT_FOUND`` when it is not served."""
        model = call.addressed(self.repository.get(request.name, request.version or None))
        return pb.ModelReadyResponse(ready=model.ready)

    # -- metadata ----------------------------------------------------------------------------

    @_rpc()
    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, call: _Call
    ) -> pb.ServerMetadataResponse:
        """Name and version; the gRPC service has no protocol extensions."""
        return pb.ServerMetadataResponse(name=self.server_name, version=interlock.__version__)

    @_rpc("metadata")
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, call: _Call
    ) -> pb.ModelMetadataResponse:
        """Versions, platform and tensors of a model, from its signature."""
        model = call.addressed(self.repository.get(request.name, request.version or None))
        signature = model.signature
        return pb.ModelMetadataResponse(
            name=model.name,
            versions=model.versions,
            platform=oip_platform(model.platform),
            inputs=[_tensor_metadata(s) for s in signature.inputs],
            outputs=[_tensor_metadata(s) for s in signature.outputs],
        )

    # -- inference ---------------------------------------------------------------------------

    @_rpc("infer")
    async def ModelInfer(self, request: pb.ModelInferRequest, call: _Call) -> pb.ModelInferResponse:
        """Decode the inputs, run the model, return the requested outputs raw."""
        model = call.addressed(
            self.repository.get(request.model_name, request.model_version or None)
        )
        names = _requested_outputs(model, request)
        label = f"model '{model.name}:{model.version}'"
        declared = [spec.name for spec in model.signature.inputs]
        if request.ByteSize() > OFFLOAD_BYTES or len(request.inputs) > 64:
            inputs = await asyncio.to_thread(
                decode_inputs, request, label=label, declared=declared
            )
        else:
            inputs = decode_inputs(request, label=label, declared=declared)
        outputs = await model.infer(inputs)
        response = pb.ModelInferResponse(
            model_name=model.name, model_version=model.version, id=request.id
        )
        encode_outputs(response, outputs, names)
        return response
