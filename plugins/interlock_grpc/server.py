"""The ``grpc`` server component (light: the transport is imported by :meth:`GrpcServer.create`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from interlock.plugins import FALLBACK_PRIORITY
from interlock.servers import Server

if TYPE_CHECKING:
    from interlock.servers import Repository, ServerHandle, ServerOptions

__all__ = ["GrpcServer"]


class GrpcServer(Server):
    """The Open Inference Protocol's ``inference.GRPCInferenceService`` over interlock's own
    HTTP/2 transport (cleartext HTTP/2, "h2c"; no TLS) on the serving event loop.

    Reads ``host``, ``port`` (default 8001), ``token``, ``max_request_bytes``,
    ``read_timeout_s`` (longest wait for a request message, and for a connection's preface),
    ``keep_alive_s`` (a connection without calls for this long is closed with GOAWAY),
    ``max_connections`` (most RPCs in flight; more are refused with ``UNAVAILABLE``) and
    ``server_name`` from :class:`interlock.ServerOptions`, and from ``settings``:

    ``max_response_bytes``
        Largest response message sent (default: no limit); a larger one fails the call
        with ``RESOURCE_EXHAUSTED``.
    """

    name: ClassVar[str] = "grpc"
    capabilities: ClassVar[frozenset[str]] = frozenset({"grpc", "grpc.typed-contents", "grpc.auth"})
    priority: ClassVar[int] = FALLBACK_PRIORITY
    description: ClassVar[str] = "Open Inference Protocol over gRPC (own HTTP/2 transport)"
    default_port: ClassVar[int] = 8001

    def create(self, repository: Repository, options: ServerOptions) -> ServerHandle:
        """Return a not yet started gRPC server for ``repository``; binds nothing."""
        from interlock_grpc._handle import GrpcServerHandle

        return GrpcServerHandle(repository, options, default_port=self.default_port)
