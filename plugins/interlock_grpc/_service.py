"""The six RPCs of ``inference.GRPCInferenceService`` over a model repository.

Every RPC runs on the server's asyncio event loop (``grpc.aio``). Errors become status codes
through the table shared with the REST server (:func:`interlock_oip.errors.grpc_status`):

=====================================  =========================================
what went wrong                        status
=====================================  =========================================
unknown model or version               ``NOT_FOUND``
malformed tensor, wrong signature      ``INVALID_ARGUMENT``
queue full, model or server not ready  ``UNAVAILABLE`` (``retry-after`` trailer)
missing or wrong bearer token          ``UNAUTHENTICATED``
a runtime broke its contract, a bug    ``INTERNAL`` (details stay in the log)
=====================================  =========================================

Oversized messages are refused by gRPC itself with ``RESOURCE_EXHAUSTED``; a request message
that does not arrive within ``read_timeout_s`` fails with ``DEADLINE_EXCEEDED``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

import interlock
from interlock._errors import InterlockError, OverloadedError

from interlock_grpc._codec import check_parameters, decode_inputs, encode_outputs
from interlock_grpc._generated import open_inference_grpc_pb2 as pb
from interlock_oip.auth import BearerToken
from interlock_oip.deadlines import Deadlines
from interlock_oip.datatypes import OIP_BY_DTYPE, oip_shape
from interlock_oip.errors import ProtocolError, RequestTimeout, Unauthorized, grpc_status

if TYPE_CHECKING:
    from interlock._repository import ModelRepository, ServedModel
    from interlock._signature import TensorSpec
    from interlock_oip.metrics import ServingMetrics

__all__ = ["PLATFORMS", "SERVICE", "InferenceService"]

log = logging.getLogger("interlock.grpc")

#: Full name of the protocol's service.
SERVICE = "inference.GRPCInferenceService"

#: Protocol platform names ("<project>_<format>") by ``ServedModel.platform``.
PLATFORMS = {"onnx": "onnx_onnxv1"}


class _Call:
    """What one RPC reports to the metrics: the model it addressed."""

    __slots__ = ("model", "version")

    def __init__(self) -> None:
        self.model = ""
        self.version = ""

    def addressed(self, model: ServedModel) -> ServedModel:
        self.model, self.version = model.name, model.version
        return model


Body = Callable[[Any, Any, _Call], Awaitable[Any]]
Rpc = Callable[[Any, AsyncIterator[Any], grpc.aio.ServicerContext], Awaitable[Any]]


def _rpc(
    endpoint: str | None = None, *, authenticated: bool = True, limited: bool = True
) -> Callable[[Body], Rpc]:
    """Make an RPC of ``body``: check the token (``authenticated``) and the in-flight limit
    (``limited``), read the request message within the read timeout, turn errors into status
    codes, and count the call in the metrics under ``endpoint`` (the REST server's names:
    ``infer``, ``metadata``; None: not counted).

    The RPC is served as client-streaming, which is the same on the wire as unary (one message
    each way): it is what lets the server start the clock before the request message arrives,
    so that a client sending it slowly cannot hold the RPC open beyond ``read_timeout_s``.
    """

    def decorate(body: Body) -> Rpc:
        async def rpc(
            self: InferenceService,
            requests: AsyncIterator[Any],
            context: grpc.aio.ServicerContext,
        ) -> Any:
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
                request = await self.read_request(requests, body.__name__)
                return await body(self, request, call)
            except InterlockError as error:
                status = grpc_status(error)
                trailer: tuple[tuple[str, str], ...] = ()
                if isinstance(error, OverloadedError):
                    trailer = (("retry-after", f"{max(1, round(error.retry_after))}"),)
                elif status == "INTERNAL":
                    log.error("gRPC %s failed: %s", body.__name__, error, exc_info=error)
                await context.abort(getattr(grpc.StatusCode, status), str(error), trailer)
            except asyncio.CancelledError:
                status = "CANCELLED"  # the client went away, or the server is stopping
                raise
            except Exception:
                # A bug: the log gets the traceback, the client nothing internal.
                status = "INTERNAL"
                log.exception("gRPC %s failed", body.__name__)
                await context.abort(
                    grpc.StatusCode.INTERNAL,
                    f"internal error in {body.__name__}; see the server log",
                )
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


def _requested_outputs(model: ServedModel, request: pb.ModelInferRequest) -> list[str]:
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
    rather than queued without bound. ``read_timeout_s``: the longest an RPC may take to
    deliver its request message (``DEADLINE_EXCEEDED`` beyond). ``metrics``: where
    answered RPCs are counted (shared with the REST server of the same repository).
    """

    def __init__(
        self,
        repository: ModelRepository,
        *,
        token: str | None = None,
        server_name: str = "interlock",
        max_in_flight: int | None = None,
        read_timeout_s: float = 30.0,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.repository = repository
        self.read_timeout_s = read_timeout_s
        self._read_deadlines = Deadlines(read_timeout_s)
        self.server_name = server_name
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.in_flight = 0
        self._token = BearerToken(token) if token else None

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """The handler of every RPC of the service, by method name, for ``grpc.aio``."""
        handlers = {}
        for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(
                getattr(self, method.name),
                request_deserializer=getattr(pb, method.input_type.name).FromString,
                response_serializer=getattr(pb, method.output_type.name).SerializeToString,
            )
        return handlers

    # -- guards ------------------------------------------------------------------------------

    async def read_request(self, requests: AsyncIterator[Any], rpc: str) -> Any:
        """The RPC's one request message, received within ``read_timeout_s``."""
        # One shared timer for every RPC (Deadlines) rather than wait_for, which starts a
        # task and a timer per call: that was a measurable share of a small ModelInfer.
        deadlines = self._read_deadlines
        task = deadlines.start()
        try:
            return await anext(requests)
        except asyncio.CancelledError:
            if deadlines.expired(task):
                raise RequestTimeout(
                    f"the {rpc} request message did not arrive within {self.read_timeout_s:g} s",
                    hint="send the request faster, or raise the server's read_timeout_s",
                ) from None
            raise
        except StopAsyncIteration:
            raise ProtocolError(
                f"the {rpc} call carried no request message", hint="send one request message"
            ) from None
        except DecodeError:
            raise ProtocolError(
                f"the {rpc} request is not a valid protobuf message of the protocol",
                hint="encode it with the Open Inference Protocol's open_inference_grpc.proto",
            ) from None
        finally:
            deadlines.finish(task)

    def check_token(self, context: grpc.aio.ServicerContext) -> None:
        """Raise :class:`Unauthorized` unless the call carries the token (if one is set)."""
        if self._token is None:
            return
        given = [v for k, v in (context.invocation_metadata() or ()) if k == "authorization"]
        if not given:
            raise Unauthorized(
                "this server requires the metadata 'authorization: Bearer <token>'",
                hint="pass headers={'authorization': 'Bearer <token>'} to the client call",
            )
        if not self._token.accepts(given[0]):
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
            platform=PLATFORMS.get(model.platform, model.platform),
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
        outputs = await model.infer(decode_inputs(request))
        response = pb.ModelInferResponse(
            model_name=model.name, model_version=model.version, id=request.id
        )
        encode_outputs(response, outputs, names)
        return response
