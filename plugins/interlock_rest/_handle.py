"""The REST server's handle: interlock's HTTP/1.1 server on the caller's event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.errors import InterlockError, MissingDependencyError
from interlock.servers import ServerHandle

if TYPE_CHECKING:
    from interlock.servers import Repository, ServerOptions

    from interlock_rest._http import HttpServer
    from interlock_rest.app import RestApp

__all__ = ["RestHandle"]


class RestHandle(ServerHandle):
    """One HTTP server bound to a repository, on the caller's event loop."""

    scheme = "http"

    def __init__(
        self, repository: Repository, options: ServerOptions, *, default_port: int
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
        from interlock.serving.oip.listen import listen
        from interlock.serving.oip.metrics import metrics_for

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
        sock = listen(
            self.host, self._requested_port, server="the REST server", component="rest"
        )
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
