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
* limits: header bytes (431), body bytes (413, refused from ``Content-Length`` before the body
  is read), connections (503 beyond ``max_connections``);
* timeouts from one periodic sweep instead of a timer per request: a request whose headers do
  not arrive within the read timeout is dropped, one whose body does not gets 408, an idle
  connection is closed after the keep-alive time;
* back-pressure: a client that does not read its answers stops being read;
* graceful stop: no new connections, idle ones closed, in-flight requests answered (then
  ``Connection: close``), the rest cut off after the grace period with the application's
  "shutting down" answer.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
import socket
from collections import deque
from collections.abc import Coroutine
from functools import partial
from typing import Any, Protocol
from urllib.parse import unquote

import httptools

from interlock.errors import InterlockError, OverloadedError
from interlock.serving.oip.errors import (
    HeadersTooLarge,
    ProtocolError,
    RequestTimeout,
    RequestTooLarge,
)

__all__ = ["HttpApplication", "HttpServer", "Request", "Response", "too_large"]

logger = logging.getLogger("interlock.rest")

#: status, body, content type, extra headers (lower-case names).
Response = tuple[int, bytes, bytes, tuple[tuple[bytes, bytes], ...]]

#: Most bytes of request line and headers (above: 431).
MAX_HEADER_BYTES = 64 * 1024
#: Requests, and their body bytes, parsed ahead of the one being answered before the
#: connection stops being read.
MAX_PIPELINED = 16
MAX_PIPELINED_BYTES = 1024 * 1024
#: A body below this size is checked by the application after it arrived; above it (or of
#: unknown size), the application may refuse the request from its head alone.
EARLY_CHECK_BYTES = 64 * 1024

_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in http.HTTPStatus
}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Request:
    """One parsed request: method, path (percent-decoded), headers (lower-case names), body."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "reply")

    def __init__(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = b""
        self.keep_alive = True
        #: An answer decided by the HTTP layer (an error) instead of the application.
        self.reply: Response | None = None

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class HttpApplication(Protocol):
    """What the HTTP layer needs of an application."""

    def handle(self, request: Request) -> Response | Coroutine[Any, Any, Response]:
        """Answer ``request``: at once, or with a coroutine that returns the answer. Never
        raises: errors are answers."""

    def check_head(self, request: Request) -> Response | None:
        """A refusal decided from the request line and headers alone (before a large body is
        read), or None to read the body."""

    def error(self, exc: InterlockError) -> Response:
        """The answer for an error the HTTP layer found."""

    def cut_off(self) -> Response:
        """The answer for a request the server stopped before it was done (shutdown)."""


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
    ) -> None:
        self.app = app
        self.read_timeout_s = read_timeout_s
        self.keep_alive_s = keep_alive_s
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        # Timeouts are counted in sweeps: a connection notes the sweep number when it hears
        # from its client, and a sweep compares. Cheaper than reading a clock per request.
        self.interval = max(0.01, min(1.0, read_timeout_s / 4, keep_alive_s / 4))
        self._read_sweeps = read_timeout_s / self.interval
        self._idle_sweeps = keep_alive_s / self.interval
        self.sweep = 0
        self.date = b""
        self.draining = False
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on the bound, listening ``sock``."""
        self._loop = loop = asyncio.get_running_loop()
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


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, queue, answer in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._pending: deque[Request] = deque()
        self.active: asyncio.Task[Response] | None = None
        self._request: Request | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._header_bytes = 0
        self._limit = server.max_body_bytes
        self._expect_continue = False
        self._in_message = False  # between a request's first byte and its last
        self._answered = 0
        self._stamp = server.sweep  # when the current wait began, in sweeps
        self._stopped = False  # nothing more is read: close once the queue is answered
        self._closing = False
        self._write_paused = False
        self._read_paused = False  # by back-pressure (pipelining, a client not reading)
        self._over_limit = False

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        server = self._server
        limit = server.max_connections
        self._over_limit = limit is not None and len(server.connections) >= limit
        server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # An answer still being computed finishes and is dropped (a batch may hold its rows).
        self._closing = True
        self._server.connections.discard(self)
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # A request asking to switch protocols (h2c, websocket) is answered in HTTP/1.1,
            # as if it had not asked; what follows it is not HTTP/1.1: close after answering.
            self._stop_reading()
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refusal):
                self._refuse(refused.error)
            else:  # a bug in a callback: logged; the client gets a 500 and a closed connection
                logger.error("unexpected error parsing a request", exc_info=refused)
                self._refuse(InterlockError("internal server error; see the server log"))
        except httptools.HttpParserError as exc:
            self._refuse(ProtocolError(f"malformed HTTP request: {exc}"))
        if self._pending and self.active is None:
            self._dispatch()

    def pause_writing(self) -> None:
        # The client does not read its answers: stop reading its requests until it does.
        self._write_paused = True
        self._pause()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._transport is not None and not self._closing:
            self._dispatch()

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._stopped:
            return
        self._in_message = True
        self._stamp = self._server.sweep
        self._headers = []
        self._url = b""
        self._header_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._expect_continue = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._headers.append((name, value))

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _Refusal(
                HeadersTooLarge(
                    f"the request line and headers exceed {MAX_HEADER_BYTES} bytes",
                    hint="send fewer or shorter headers",
                )
            )

    def on_headers_complete(self) -> None:
        if self._stopped:
            return
        parser = self._parser
        url = self._url
        if not url.startswith(b"/"):
            # The absolute form (as sent to proxies) names a path too; "*" and the authority
            # form (CONNECT) name none, and no endpoint answers to them.
            try:
                url = httptools.parse_url(url).path or b"/"
            except httptools.HttpParserInvalidURLError:
                raise _Refusal(
                    ProtocolError(
                        f"malformed HTTP request: the request target {url[:100]!r} is not a path",
                        hint="send an origin-form target such as /v2/health/ready",
                    )
                ) from None
        path_end = url.find(b"?")
        path = (url if path_end < 0 else url[:path_end]).decode("latin-1")
        if "%" in path:
            path = unquote(path)
        request = Request(parser.get_method().decode("ascii"), path, self._headers)
        request.keep_alive = parser.should_keep_alive() and parser.get_http_version() == "1.1"
        self._request = request
        server = self._server
        if self._over_limit:
            self._reply_early(
                request,
                OverloadedError(
                    f"the server has {server.max_connections} connections open",
                    retry_after=1.0,
                    hint="retry later, reuse connections, or raise max_connections",
                ),
            )
            return
        length = request.header(b"content-length")
        if length is not None:
            declared: int | None = int(length)  # the parser has checked it is a number
        elif request.header(b"transfer-encoding") is not None:
            declared = None  # chunked: of unknown size
        else:
            declared = 0
        if declared is not None and declared > self._limit:
            self._reply_early(request, too_large(declared, self._limit))
            return
        if declared is None or declared > EARLY_CHECK_BYTES or self._expect_continue:
            refusal = server.app.check_head(request)
            if refusal is not None:
                self._reply_early(request, refusal)
                return
        if self._expect_continue and self._transport is not None:
            self._transport.write(_CONTINUE)

    def _reply_early(self, request: Request, answer: InterlockError | Response) -> None:
        """Answer ``request`` without its body (not read), then close the connection."""
        if isinstance(answer, InterlockError):
            answer = self._server.app.error(answer)
        request.reply = answer
        request.keep_alive = False
        self._request = None
        self._pending.append(request)
        self._stop_reading()

    def on_body(self, body: bytes) -> None:
        request = self._request
        if request is None or self._stopped:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self._limit:
            self._body = []
            self._reply_early(request, too_large(self._body_bytes, self._limit))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        request = self._request
        self._request = None
        if request is None or self._stopped:
            return
        self._in_message = False
        body = self._body
        if body:
            request.body = body[0] if len(body) == 1 else b"".join(body)
            self._body = []
        self._pending.append(request)
        if not request.keep_alive:
            self._stop_reading()
        elif len(self._pending) > 1 and (
            len(self._pending) > MAX_PIPELINED
            or sum(len(r.body) for r in self._pending) > MAX_PIPELINED_BYTES
        ):
            self._pause()

    # -- answering ---------------------------------------------------------------------------

    def _refuse(self, error: InterlockError) -> None:
        """Answer, after those before it, a request the connection cannot go on with."""
        request = self._request or Request("GET", "/", [])
        request.method = "GET" if request.method == "HEAD" else request.method
        self._reply_early(request, error)

    def _stop_reading(self) -> None:
        # Nothing after this request is parsed; the connection closes once it is answered.
        self._stopped = True
        self._in_message = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def _dispatch(self) -> None:
        pending = self._pending
        app = self._server.app
        while pending and self.active is None and not self._closing and not self._write_paused:
            request = pending.popleft()
            reply = request.reply
            if reply is None:
                answer = app.handle(request)
                if not isinstance(answer, tuple):
                    task = self._loop.create_task(answer)
                    self.active = task
                    task.add_done_callback(partial(self._finished, request))
                    return
                reply = answer
            self._send(request, reply)
        if self._read_paused and not pending and self.active is None:
            if not (self._closing or self._stopped or self._write_paused):
                self._read_paused = False
                if self._transport is not None:
                    self._transport.resume_reading()

    def _pause(self) -> None:
        # Only a paused transport is resumed: resuming costs system calls on every request.
        if not self._read_paused and not self._closing and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _finished(self, request: Request, task: asyncio.Task[Response]) -> None:
        self.active = None
        if self._closing:
            return
        if task.cancelled():
            request.keep_alive = False
            self._send(request, self._server.app.cut_off())
            return
        error = task.exception()
        if error is not None:  # the application promised not to raise: a bug
            logger.error(
                "unexpected error answering %s %s", request.method, request.path, exc_info=error
            )
            request.keep_alive = False
            self._send(request, self._server.app.error(InterlockError("internal server error")))
            return
        self._send(request, task.result())
        self._dispatch()

    def _send(self, request: Request, reply: Response) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        status, body, content_type, extra = reply
        server = self._server
        # After a 408 or 413 the rest of a body may still be on the wire (SRV-092).
        close = not request.keep_alive or server.draining or status == 413 or status == 408
        head = b"%sdate: %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n" % (
            _STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status,
            server.date,
            content_type,
            len(body),
        )
        for name, value in extra:
            head += name + b": " + value + b"\r\n"
        head += b"connection: close\r\n\r\n" if close else b"\r\n"
        if request.method == "HEAD":
            transport.write(head)
        elif len(body) > 16384:
            transport.writelines((head, body))  # no copy of a large body
        else:
            transport.write(head + body)
        self._answered += 1
        if not self._in_message:
            self._stamp = server.sweep  # idle from now on
        if close:
            self.close()

    # -- timeouts and shutdown ---------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing in flight: no request being read, queued or answered."""
        return self.active is None and not self._pending and not self._in_message

    def check_timeouts(self, read_sweeps: float, idle_sweeps: float) -> None:
        """Called by every sweep: drop requests that arrive too slowly and idle connections.

        A request (headers and body) must arrive within the read timeout from its first byte,
        and so must the first request of a new connection; between requests the keep-alive
        time applies.
        """
        if self._closing or self.active is not None or self._pending:
            return
        waited = self._server.sweep - self._stamp
        reading = self._in_message or self._answered == 0
        if waited <= (read_sweeps if reading else idle_sweeps):
            return
        if self._request is not None and self._in_message:
            # The headers arrived, the body did not: say why before closing.
            self._refuse(
                RequestTimeout(
                    f"the request body did not arrive within {self._server.read_timeout_s:g} s",
                    hint="send the whole body promptly, or raise the server's read timeout",
                )
            )
            self._dispatch()
        else:
            self.close()

    def cut_off(self) -> None:
        """The grace period is over: stop the request being answered (it answers 503)."""
        self._pending.clear()
        if self.active is not None:
            self.active.cancel()

    def close(self) -> None:
        """Close the connection (what was written is still sent)."""
        if not self._closing:
            self._closing = True
            if self._transport is not None:
                self._transport.close()


class _Refusal(Exception):
    """Raised in a parser callback to stop parsing and answer ``error``."""

    def __init__(self, error: InterlockError) -> None:
        super().__init__(str(error))
        self.error = error


def too_large(size: int, limit: int) -> RequestTooLarge:
    """The error for a body of ``size`` bytes (or more) over ``limit``."""
    return RequestTooLarge(
        f"the request body ({size} bytes or more) exceeds the server's limit of {limit} bytes",
        hint="send smaller batches, or raise max_request_bytes",
    )
