"""A REST server that answers every error with status 200 (the ``{"error": ...}`` body stays).

Breaks SRV-090 (an error response carries the status code of its kind: 400, 404, 503, ...).
Otherwise it is the reference REST server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from interlock.servers import Repository
from interlock import Server, ServerHandle, ServerOptions, hookimpl
from interlock_rest.server import RestServer


def _ok(answer: Any) -> Any:
    status, body, content_type, extra = answer
    return (200 if status >= 400 else status), body, content_type, extra  # the broken part


@cache
def _handle_class() -> type[ServerHandle]:
    # Built on first use: the reference handle imports httptools and orjson (PLG-006).
    from interlock_rest._handle import RestHandle
    from interlock_rest.app import RestApp

    class OkOnErrorApp(RestApp):
        def handle(self, request: Any) -> Any:
            answer = super().handle(request)
            if isinstance(answer, tuple):
                return _ok(answer)

            async def later() -> Any:
                return _ok(await answer)

            return later()

        def error(self, exc: Any) -> Any:
            return _ok(super().error(exc))

    class OkOnErrorHandle(RestHandle):
        async def start(self) -> None:
            await super().start()
            assert self.app is not None
            self.app.__class__ = OkOnErrorApp

    return OkOnErrorHandle


class OkOnErrorServer(RestServer):
    name = "rest-ok-on-error"
    priority = 0
    description = "OIP REST answering errors with 200 (deliberately broken)"

    def create(self, repository: Repository, options: ServerOptions) -> Any:
        handle = super().create(repository, options)
        handle.__class__ = _handle_class()
        return handle


@hookimpl
def interlock_servers() -> list[Server]:
    return [OkOnErrorServer()]
