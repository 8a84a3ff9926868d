"""The REST server's handle: uvicorn on the caller's event loop, start, address, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

from interlock._errors import InterlockError, MissingDependencyError
from interlock._server import ServerHandle

if TYPE_CHECKING:
    from interlock._repository import ModelRepository
    from interlock._server_options import ServerOptions

    from interlock_rest.app import RestApp

__all__ = ["RestHandle"]


class RestHandle(ServerHandle):
    """One uvicorn server bound to a repository, on the caller's event loop."""

    scheme = "http"

    def __init__(
        self, repository: ModelRepository, options: ServerOptions, *, default_port: int
    ) -> None:
        if options.settings:
            raise InterlockError(
                "the REST server takes no settings, got "
                + ", ".join(repr(key) for key in sorted(options.settings)),
                hint="remove them from ServerOptions.settings",
                component="rest",
            )
        self.repository = repository
        self.options = options
        self.host = options.host
        self._requested_port = options.port if options.port is not None else default_port
        self.port = 0
        self.app: RestApp | None = None
        self._server: Any = None
        self._socket: socket.socket | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the socket (port 0: any free port) and start accepting requests."""
        try:
            import uvicorn
        except ImportError:
            raise MissingDependencyError("uvicorn", "serve", purpose="the REST server") from None
        from interlock_oip.metrics import metrics_for

        from interlock_rest._protocol import guarded_protocol
        from interlock_rest.app import RestApp

        options = self.options
        self.app = RestApp(self.repository, options, metrics_for(self.repository))
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self._requested_port,
            loop="none",
            http=guarded_protocol(options.read_timeout_s),
            ws="none",
            lifespan="off",
            interface="asgi3",
            access_log=False,
            log_level="warning",
            server_header=False,
            # Nothing here reads the client address or scheme, so X-Forwarded-* rewriting
            # would only add a middleware call to every request.
            proxy_headers=False,
            timeout_keep_alive=options.keep_alive_s,  # type: ignore[arg-type]  # a float works
            limit_concurrency=options.max_connections,
        )
        config.load()
        self._socket = sock = _bind(self.host, self._requested_port)
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server = server
        self.host, self.port = sock.getsockname()[:2]
        # uvicorn refreshes its Date header once a second on this tick.
        self._ticker = asyncio.get_running_loop().create_task(server.main_loop())

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Report not-ready, stop accepting, let in-flight requests finish, then close."""
        if self.app is not None:
            self.app.draining = True
        server = self._server
        if server is None:
            return
        self._server = None
        server.should_exit = True
        if self._ticker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        server.config.timeout_graceful_shutdown = max(grace_seconds, 0.001)
        await server.shutdown(sockets=[self._socket] if self._socket else None)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY on accepted connections only for
    # sockets that say they are TCP, and without it small responses wait on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise InterlockError(
            f"the REST server cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another port (0 picks a free one) or stop what is using it",
        ) from None
    return sock
