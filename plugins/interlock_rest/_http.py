"""The REST server's HTTP/1.1 layer: httptools parsing on an asyncio protocol, nothing else.

Why not an ASGI server: uvicorn spends about 50 us of server CPU on every request (a task, an
event, ASGI message dicts, two writes), more than the whole inference of a small model, and
that alone keeps a Python endpoint far below the serving targets (docs/performance.md,
docs/design-decisions.md). Here a request is parsed by httptools' C parser into a
:class:`Request`, handed to the application, and answered with one ``write``; an answer the
application can give at once (every request of a fast, unbatched model) needs no task at all.

What the layer does for every application:

* keep-alive and pipelining (answers in request order), ``Connection: close``, HTTP/1.0;
* ``Expect: 100-continue``; chunked request bodies;
* limits: header bytes (431, counted as they arrive) and fields (431 above 100), body bytes
  (413, refused from ``Content-Length`` before the body is read), connections (503 beyond
  ``max_connections``), and two server-wide budgets: request bytes buffered by all
  connections together, and answer bytes their clients have not read yet (503 with
  ``Retry-After`` beyond either, so that many clients cannot add up to an out-of-memory kill);
* timeouts from one periodic sweep instead of a timer per request: a request whose headers do
  not arrive within the read timeout is dropped, one whose body does not gets 408, an idle
  connection is closed after the keep-alive time, and one whose client has not read its
  answers for the read timeout is aborted (its unread answers dropped);
* back-pressure: a client that does not read its answers stops being read;
* graceful stop: no new connections, idle ones closed, in-flight requests answered (then
  ``Connection: close``), the rest cut off after the grace period with the application's
  "shutting down" answer.

The request and answer types are in :mod:`interlock_rest._http_messages`; one connection, and
the states it moves through, in :mod:`interlock_rest._http_connection`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket

from interlock.serving.oip.access import access_logger
from interlock.serving.oip.memory import TRIM_AFTER_BYTES, give_back_memory

from interlock_rest._http_connection import HttpConnection
from interlock_rest._http_messages import HttpApplication, Request, Response, too_large

__all__ = ["HttpApplication", "HttpServer", "Request", "Response", "buffer_budget", "too_large"]


def buffer_budget(max_body_bytes: int) -> int:
    """The default server-wide budget for buffered request bytes (and for unread answer
    bytes): four bodies of the largest size, and at least 64 MiB."""
    return max(4 * max_body_bytes, 64 * 1024 * 1024)


class HttpServer:
    """One listening socket and its connections, on the running event loop."""

    def __init__(
        self,
        app: HttpApplication,
        *,
        read_timeout_s: float,
        keep_alive_s: float,
        max_connections: int | None,
        max_body_bytes: int,
        max_buffered_bytes: int | None = None,
        max_output_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.read_timeout_s = read_timeout_s
        self.keep_alive_s = keep_alive_s
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self.max_buffered_bytes = max_buffered_bytes or buffer_budget(max_body_bytes)
        self.max_output_bytes = max_output_bytes or buffer_budget(max_body_bytes)
        #: Request body bytes all connections buffer, and answer bytes waiting to be read.
        self.buffered = 0
        self.output = 0
        self._freed = 0  # bytes of either kind released since memory was last given back
        # Timeouts are counted in sweeps: a connection notes the sweep number when it hears
        # from its client, and a sweep compares. Cheaper than reading a clock per request.
        self.interval = max(0.01, min(1.0, read_timeout_s / 4, keep_alive_s / 4))
        self._read_sweeps = read_timeout_s / self.interval
        self._idle_sweeps = keep_alive_s / self.interval
        self.send_sweeps = read_timeout_s / self.interval
        self.access: logging.Logger | None = None
        self.sweep = 0
        self.date = b""
        self.draining = False
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def admit(self, size: int) -> bool:
        """Count ``size`` more buffered request bytes, or refuse (False) beyond the budget;
        with nothing buffered, any one request (at most ``max_body_bytes``) is admitted."""
        if self.buffered and self.buffered + size > self.max_buffered_bytes:
            return False
        self.buffered += size
        return True

    def release(self, size: int) -> None:
        """Give back ``size`` buffered request bytes."""
        self.buffered -= size
        self._freed += size

    def output_full(self) -> bool:
        """Whether unread answers fill the output budget (new requests get 503 until not)."""
        return self.output > self.max_output_bytes

    def output_changed(self, delta: int) -> None:
        """Unread answer bytes grew (or shrank) by ``delta``."""
        self.output += delta
        if delta < 0:
            self._freed -= delta

    async def start(self, sock: socket.socket) -> None:
        """Serve on the bound, listening ``sock``."""
        self._loop = loop = asyncio.get_running_loop()
        self.access = access_logger()
        self._refresh_date()
        self._timer = loop.call_later(self.interval, self._tick)
        self._server = await loop.create_server(lambda: HttpConnection(self), sock=sock)

    def _refresh_date(self) -> None:
        self.date = email.utils.formatdate(usegmt=True).encode()

    def _tick(self) -> None:
        assert self._loop is not None
        self.sweep += 1
        if self.sweep % max(1, round(1 / self.interval)) == 0:
            self._refresh_date()
        for connection in list(self.connections):
            connection.check_timeouts(self._read_sweeps, self._idle_sweeps)
        if self._freed > TRIM_AFTER_BYTES and not self.buffered and not self.output:
            self._freed = 0  # a burst of large requests is over: give the memory back
            self._loop.run_in_executor(None, give_back_memory)
        self._timer = self._loop.call_later(self.interval, self._tick)

    async def stop(self, grace_seconds: float) -> None:
        """Stop accepting; answer in-flight requests for up to ``grace_seconds``; close."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.idle:
                connection.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(grace_seconds, 0.0)
        while any(not c.idle for c in self.connections) and loop.time() < deadline:
            await asyncio.sleep(min(0.01, max(deadline - loop.time(), 0.0)))
        for connection in list(self.connections):
            connection.cut_off()
        if any(c.active is not None for c in self.connections):
            await asyncio.sleep(0)  # let cancelled answers be written
        for connection in list(self.connections):
            connection.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
