"""A running gRPC server: bind, serve on the caller's event loop, stop gracefully.

The server is interlock's own HTTP/2 transport (:mod:`interlock_grpc._transport`) on an
asyncio server, so it shares the event loop (uvloop under ``interlock.serve``) with the REST
server and needs no thread of its own. One periodic timer per server enforces the read and
idle timeouts of every connection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interlock.errors import InterlockError
from interlock.servers import ServerHandle

from interlock_grpc._h2 import ConnectionLimits, Http2Connection
from interlock_grpc._h2_budget import RequestBudget
from interlock_grpc._service import InferenceService
from interlock_grpc._transport import GrpcConnection, GrpcEndpoint
from interlock.serving.oip.listen import listen
from interlock.serving.oip.memory import TRIM_AFTER_BYTES, give_back_memory
from interlock.serving.oip.metrics import metrics_for

if TYPE_CHECKING:
    from interlock.servers import Repository, ServerOptions

__all__ = ["GrpcServerHandle", "GrpcSettings"]

log = logging.getLogger("interlock.grpc")


class GrpcSettings(BaseModel):
    """The gRPC server's entries in :attr:`interlock.ServerOptions.settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_response_bytes: int | None = Field(
        None, ge=1024, description="Largest response message sent; None: no limit."
    )
    max_buffered_bytes: int | None = Field(
        None,
        ge=1024 * 1024,
        description="Request bytes all connections together may buffer; at least twice "
        "max_request_bytes. None: twice max_request_bytes plus 2 MiB, and at least 256 MiB.",
    )


class GrpcServerHandle(ServerHandle):
    """``inference.GRPCInferenceService`` for one repository, on the running event loop."""

    scheme: ClassVar[str] = "grpc"

    def __init__(
        self, repository: Repository, options: ServerOptions, *, default_port: int
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
            metrics=metrics_for(repository),
        )
        self.connections: set[Http2Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._interval = 1.0
        self._budget: RequestBudget | None = None

    async def start(self) -> None:
        """Bind ``host:port`` and start serving; raise naming the address if it is taken."""
        if self._server is not None:
            return
        options = self.options
        limits = ConnectionLimits(
            read_timeout_s=options.read_timeout_s,
            keep_alive_s=options.keep_alive_s,
            # A stream window no larger than a request may be bounds what one stream buffers;
            # never below HTTP/2's default, which clients use until they read our SETTINGS.
            initial_window=max(65_535, min(4 * 1024 * 1024, options.max_request_bytes + 1024)),
            buffer_budget=self._buffer_budget(),
            max_connections=options.max_connections,
        )
        # The methods are bound now, not in __init__, so that a subclass swapped in after
        # create() (the conformance suite's broken plugins do) is the one served.
        self._budget = limits.budget
        endpoint = GrpcEndpoint(
            self.service.methods(),
            limits,
            max_request_bytes=options.max_request_bytes,
            max_response_bytes=self.settings.max_response_bytes,
        )
        sock = listen(self.host, self.port, server="the gRPC server", component="grpc")
        loop = asyncio.get_running_loop()
        connections = self.connections
        self._server = await loop.create_server(
            lambda: GrpcConnection(endpoint, connections), sock=sock
        )
        self.host, self.port = sock.getsockname()[:2]
        if self.service.metrics is not None:
            self.service.metrics.attach()  # the repository is loaded by now: observe batches
        self._interval = min(1.0, max(min(options.read_timeout_s, options.keep_alive_s) / 4, 0.01))
        self._sweeper = loop.call_later(self._interval, self._sweep)

    def _buffer_budget(self) -> int:
        """The server-wide request budget: it must hold two of the largest requests, so that
        a waiting stream can always be admitted once the others finish (_h2_budget)."""
        largest = self.options.max_request_bytes + 1024 * 1024
        budget = self.settings.max_buffered_bytes
        if budget is None:
            return max(2 * largest, 256 * 1024 * 1024)
        if budget < 2 * largest:
            raise InterlockError(
                f"gRPC server setting 'max_buffered_bytes' ({budget}) must be at least twice "
                f"max_request_bytes plus 1 MiB ({2 * largest})",
                hint="raise max_buffered_bytes, or lower max_request_bytes",
                component="grpc",
            )
        return budget

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        budget = self._budget
        if (
            budget is not None
            and not budget.reserved
            and not budget.output
            and budget.freed > TRIM_AFTER_BYTES
        ):
            # A burst of large requests is over: give what the allocator kept back.
            budget.freed = 0
            loop.run_in_executor(None, give_back_memory)
        try:
            for connection in list(self.connections):
                try:
                    connection.sweep(now)
                except Exception:  # a bug in one connection must not stop the timeouts
                    log.exception("gRPC connection check failed")
                    connection.abort()
        finally:
            self._sweeper = loop.call_later(self._interval, self._sweep)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Refuse new RPCs, let in-flight ones finish for at most ``grace_seconds``, end the
        rest with ``UNAVAILABLE``, close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # no new connections
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        connections = [c for c in self.connections if isinstance(c, GrpcConnection)]
        for connection in connections:
            connection.go_away()  # streams in flight go on; new ones are refused
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(grace_seconds, 0.0)
        while any(c.unanswered() for c in connections) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        calls: list[asyncio.Task[None]] = []
        for connection in connections:
            for stream in connection.unanswered():
                if stream.task is None:
                    connection.fail_stream(stream, "UNAVAILABLE", "the server is stopping")
                else:
                    connection.end_call(stream, "UNAVAILABLE")
            calls.extend(connection.calls)
        if calls:
            await asyncio.wait(calls, timeout=1.0)
        for connection in connections:
            connection.abort()
        await asyncio.sleep(0)  # let the transports close
