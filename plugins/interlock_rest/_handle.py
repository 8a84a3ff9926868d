"""The REST server's handle: interlock's HTTP/1.1 server on the caller's event loop."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from interlock._errors import InterlockError, MissingDependencyError
from interlock._server import ServerHandle

if TYPE_CHECKING:
    from interlock._repository import ModelRepository
    from interlock._server_options import ServerOptions

    from interlock_rest._http import HttpServer
    from interlock_rest.app import RestApp

__all__ = ["RestHandle"]


class RestHandle(ServerHandle):
    """One HTTP server bound to a repository, on the caller's event loop."""

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
        self._server: HttpServer | None = None

    async def start(self) -> None:
        """Bind the socket (port 0: any free port) and start accepting requests."""
        try:
            import httptools  # noqa: F401
            import orjson  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                exc.name or "httptools", "serve", purpose="the REST server"
            ) from None
        from interlock_oip.metrics import metrics_for

        from interlock_rest._http import HttpServer
        from interlock_rest.app import RestApp

        options = self.options
        self.app = RestApp(self.repository, options, metrics_for(self.repository))
        server = HttpServer(
            self.app,
            read_timeout_s=options.read_timeout_s,
            keep_alive_s=options.keep_alive_s,
            max_connections=options.max_connections,
            max_body_bytes=options.max_request_bytes,
        )
        sock = _bind(self.host, self._requested_port)
        try:
            await server.start(sock)
        except BaseException:
            sock.close()
            raise
        self._server = server
        self.host, self.port = sock.getsockname()[:2]

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Report not-ready, stop accepting, let in-flight requests finish, then close."""
        if self.app is not None:
            self.app.draining = True
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace_seconds)


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
