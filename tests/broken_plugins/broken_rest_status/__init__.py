"""A REST server that answers every error with status 200 (the ``{"error": ...}`` body stays).

Breaks SRV-090 (an error response carries the status code of its kind: 400, 404, 503, ...).
Otherwise it is the reference REST server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from interlock import ModelRepository, Server, ServerHandle, ServerOptions, hookimpl
from interlock_rest.server import RestServer


@cache
def _handle_class() -> type[ServerHandle]:
    # Built on first use: the reference handle imports uvicorn and orjson (PLG-006).
    from interlock_rest._handle import RestHandle
    from interlock_rest.app import RestApp

    class OkOnErrorApp(RestApp):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def always_ok(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start" and message["status"] >= 400:
                    message = {**message, "status": 200}  # the broken part
                await send(message)

            await super().__call__(scope, receive, always_ok)

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

    def create(self, repository: ModelRepository, options: ServerOptions) -> Any:
        handle = super().create(repository, options)
        handle.__class__ = _handle_class()
        return handle


@hookimpl
def interlock_servers() -> list[Server]:
    return [OkOnErrorServer()]
