"""uvicorn's httptools protocol with a deadline on request headers.

uvicorn times out idle keep-alive connections, but not a client that opens a connection and
trickles its headers (slowloris): this subclass closes a connection whose headers are not
complete within the read timeout. The body is guarded by the application itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["guarded_protocol"]


class _GuardedProtocol(HttpToolsProtocol):
    header_timeout: float = 30.0
    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(header_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class for one server, closing connections whose request headers take
    longer than ``header_timeout`` seconds."""
    return type("InterlockHttpProtocol", (_GuardedProtocol,), {"header_timeout": header_timeout})
