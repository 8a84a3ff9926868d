"""A running ``grpc.aio`` server: bind, serve on the caller's event loop, stop gracefully."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import grpc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interlock._errors import InterlockError
from interlock._server import ServerHandle

from interlock_grpc._service import SERVICE, InferenceService
from interlock_oip.metrics import metrics_for

if TYPE_CHECKING:
    from interlock._repository import ModelRepository
    from interlock._server_options import ServerOptions

__all__ = ["GrpcServerHandle", "GrpcSettings"]


class GrpcSettings(BaseModel):
    """The gRPC server's entries in :attr:`interlock.ServerOptions.settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_response_bytes: int | None = Field(
        None, ge=1024, description="Largest response message sent; None: no limit."
    )


class GrpcServerHandle(ServerHandle):
    """``inference.GRPCInferenceService`` for one repository, on the running event loop.

    The ``grpc.aio`` server is built by :meth:`start`, so that it belongs to the event loop
    that serves the repository (the one the REST server runs on too).
    """

    scheme: ClassVar[str] = "grpc"

    def __init__(
        self, repository: ModelRepository, options: ServerOptions, *, default_port: int
    ) -> None:
        try:
            self.settings = GrpcSettings.model_validate(options.settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "settings"
            raise InterlockError(
                f"gRPC server setting {where!r}: {first['msg']}",
                hint="the gRPC server accepts settings: "
                + ", ".join(sorted(GrpcSettings.model_fields)),
                component="grpc",
            ) from None
        self.repository = repository
        self.options = options
        self.host = options.host
        self.port = default_port if options.port is None else options.port
        self.service = InferenceService(
            repository,
            token=options.token,
            server_name=options.server_name,
            max_in_flight=options.max_connections,
            read_timeout_s=options.read_timeout_s,
            metrics=metrics_for(repository),
        )
        self._server: grpc.aio.Server | None = None

    def _channel_options(self) -> list[tuple[str, int]]:
        max_send = self.settings.max_response_bytes or -1
        return [
            ("grpc.max_receive_message_length", self.options.max_request_bytes),
            ("grpc.max_send_message_length", max_send),
            # gRPC sets SO_REUSEPORT by default, which lets a second server silently share a
            # port that is already taken; binding a busy port must fail instead.
            ("grpc.so_reuseport", 0),
        ]

    async def start(self) -> None:
        """Bind ``host:port`` and start serving; raise naming the address if it is taken."""
        if self._server is not None:
            return
        server = grpc.aio.server(options=self._channel_options())
        handlers = self.service.method_handlers()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        server.add_registered_method_handlers(SERVICE, handlers)
        requested = self.address
        try:
            port = server.add_insecure_port(requested)
        except RuntimeError as exc:
            port = 0
            reason = str(exc)
        else:
            reason = "the address is in use or not local"
        if not port:
            await server.stop(None)
            raise InterlockError(
                f"the gRPC server cannot listen on {requested}: {reason}",
                hint="choose another grpc port (0 picks a free one) or stop what uses it",
                component="grpc",
            )
        self.port = port
        if self.service.metrics is not None:
            self.service.metrics.attach()  # the repository is loaded by now: observe batches
        await server.start()
        self._server = server

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Refuse new RPCs, let in-flight ones finish for at most ``grace_seconds``, close."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace_seconds)
