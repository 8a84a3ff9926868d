"""One client connection of the REST server's HTTP/1.1 layer: parse, queue, answer in order.

A connection is in one :class:`ConnectionState` at a time, and moves between them only through
:meth:`HttpConnection._move`, by the table :data:`MOVES`: reading is paused while enough
pipelined requests wait (``THROTTLED``) or while the client does not read its answers
(``BLOCKED``), stops for good after a last request (``FINISHING``), and the connection ends
``CLOSED``. What a request in progress has sent so far (its URL, headers, body) is parse data,
not state.
"""

from __future__ import annotations

import asyncio
import enum
import http
import logging
from collections import deque
from functools import partial
from typing import Protocol
from urllib.parse import unquote

import httptools

from interlock.errors import InterlockError, OverloadedError
from interlock.serving.oip.errors import HeadersTooLarge, ProtocolError, RequestTimeout

from interlock_rest._http_messages import HttpApplication, Request, Response, too_large

__all__ = ["MOVES", "ConnectionState", "HttpConnection"]

logger = logging.getLogger("interlock.rest")

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


class ConnectionState(enum.IntEnum):
    """Where a connection is in its life (an IntEnum: tested several times per request, and
    an IntEnum hashes and compares in C)."""

    #: Requests are read and answered.
    READING = 0
    #: Enough requests are queued (pipelining): not read until they are answered.
    THROTTLED = 1
    #: The client does not read its answers: neither read nor answered until it does.
    BLOCKED = 2
    #: Nothing more is read; the connection closes once the queued requests are answered.
    FINISHING = 3
    #: The same, while the client does not read its answers.
    FINISHING_BLOCKED = 4
    #: Closed, by the server or the client: nothing more is read or written.
    CLOSED = 5


_S = ConnectionState

#: Every legal move: (state, event) -> next state. The events: ``queue_full`` (pipelined
#: requests beyond the read-ahead bounds), ``queue_answered`` (all of them answered),
#: ``send_buffer_full`` / ``send_buffer_drained`` (the transport's write buffer crossed its
#: high / low mark), ``last_request`` (nothing after this request is read: ``Connection:
#: close``, an error answered early, a protocol upgrade) and ``closed``. An event that is not
#: listed for a state leaves the state as it is (it has happened already, or no longer matters).
MOVES: dict[tuple[ConnectionState, str], ConnectionState] = {
    (_S.READING, "queue_full"): _S.THROTTLED,
    (_S.THROTTLED, "queue_answered"): _S.READING,
    (_S.READING, "send_buffer_full"): _S.BLOCKED,
    (_S.THROTTLED, "send_buffer_full"): _S.BLOCKED,
    (_S.FINISHING, "send_buffer_full"): _S.FINISHING_BLOCKED,
    # Reading resumes only once the requests read ahead are answered too.
    (_S.BLOCKED, "send_buffer_drained"): _S.THROTTLED,
    (_S.FINISHING_BLOCKED, "send_buffer_drained"): _S.FINISHING,
    (_S.READING, "last_request"): _S.FINISHING,
    (_S.THROTTLED, "last_request"): _S.FINISHING,
    (_S.BLOCKED, "last_request"): _S.FINISHING_BLOCKED,
    **{(state, "closed"): _S.CLOSED for state in _S if state is not _S.CLOSED},
}

_READING = _S.READING
_THROTTLED = _S.THROTTLED
_CLOSED = _S.CLOSED
#: States in which no request is parsed any more.
_NOT_READ = frozenset({_S.FINISHING, _S.FINISHING_BLOCKED, _S.CLOSED})
#: States in which queued requests are answered.
_ANSWERING = frozenset({_S.READING, _S.THROTTLED, _S.FINISHING})


class ConnectionOwner(Protocol):
    """What a connection reads of the server that accepted it."""

    app: HttpApplication
    connections: set[HttpConnection]
    max_connections: int | None
    max_body_bytes: int
    read_timeout_s: float
    #: The number of the current timeout sweep, and the Date header value, kept current.
    sweep: int
    date: bytes
    draining: bool


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, queue, answer in order."""

    def __init__(self, server: ConnectionOwner) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._state = _READING
        self._pending: deque[Request] = deque()
        self.active: asyncio.Task[Response] | None = None
        self._answered = 0
        #: When the connection last had nothing to do (opened, or answered), in sweeps.
        self._idle_since = server.sweep
        #: What to answer the first request with instead of serving it (over the limit).
        self._refusal: InterlockError | None = None
        # The request being received: when it began (None between requests), what came so far.
        self._receiving_since: int | None = None
        self._request: Request | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._url = b""
        self._expect: bytes | None = None
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._header_bytes = 0
        self._limit = server.max_body_bytes

    @property
    def state(self) -> ConnectionState:
        """Where the connection is in its life."""
        return self._state

    def _move(self, event: str) -> None:
        """Take the move of :data:`MOVES` for ``event``, pausing, resuming or closing the
        transport as the new state requires."""
        old = self._state
        new = MOVES.get((old, event), old)
        if new is old:
            return
        self._state = new
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if new is _CLOSED:
            transport.close()  # what was written is still sent
        elif old is _READING:
            transport.pause_reading()
        elif new is _READING:
            transport.resume_reading()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        server = self._server
        limit = server.max_connections
        if limit is not None and len(server.connections) >= limit:
            self._refusal = OverloadedError(
                f"the server has {limit} connections open",
                retry_after=1.0,
                hint="retry later, reuse connections, or raise max_connections",
            )
        server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # An answer still being computed finishes and is dropped (a batch may hold its rows).
        self._move("closed")
        self._server.connections.discard(self)
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        if self._state in _NOT_READ:
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
        self._move("send_buffer_full")

    def resume_writing(self) -> None:
        self._move("send_buffer_drained")
        if self._state is not _CLOSED:
            self._dispatch()

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._state in _NOT_READ:
            return
        self._receiving_since = self._server.sweep
        self._headers = []
        self._url = b""
        self._header_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._expect = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        name = name.lower()
        if name == b"expect":
            self._expect = value
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
        if self._state in _NOT_READ:
            return
        parser = self._parser
        url = self._url
        if not url.startswith(b"/"):
            url = _target_path(url)
        path_end = url.find(b"?")
        path = (url if path_end < 0 else url[:path_end]).decode("latin-1")
        if "%" in path:
            path = unquote(path)
        request = Request(parser.get_method().decode("ascii"), path, self._headers)
        request.keep_alive = parser.should_keep_alive() and parser.get_http_version() == "1.1"
        self._request = request
        if self._refusal is not None:
            self._reply_early(request, self._refusal)
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
        expect_continue = self._expect is not None and self._expect.lower() == b"100-continue"
        if declared is None or declared > EARLY_CHECK_BYTES or expect_continue:
            refusal = self._server.app.check_head(request)
            if refusal is not None:
                self._reply_early(request, refusal)
                return
        if expect_continue and self._transport is not None:
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
        if request is None or self._state in _NOT_READ:
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
        if request is None or self._state in _NOT_READ:
            return
        self._receiving_since = None
        body = self._body
        if body:
            request.body = body[0] if len(body) == 1 else b"".join(body)
            self._body = []
        pending = self._pending
        pending.append(request)
        if not request.keep_alive:
            self._stop_reading()
        elif len(pending) > 1 and (
            len(pending) > MAX_PIPELINED or sum(len(r.body) for r in pending) > MAX_PIPELINED_BYTES
        ):
            self._move("queue_full")

    # -- answering ---------------------------------------------------------------------------

    def _refuse(self, error: InterlockError) -> None:
        """Answer, after those before it, a request the connection cannot go on with."""
        request = self._request or Request("GET", "/", [])
        request.method = "GET" if request.method == "HEAD" else request.method
        self._reply_early(request, error)

    def _stop_reading(self) -> None:
        # Nothing after this request is parsed; the connection closes once it is answered.
        self._receiving_since = None
        self._move("last_request")

    def _dispatch(self) -> None:
        pending = self._pending
        app = self._server.app
        while pending and self.active is None and self._state in _ANSWERING:
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
        if self._state is _THROTTLED and not pending and self.active is None:
            self._move("queue_answered")

    def _finished(self, request: Request, task: asyncio.Task[Response]) -> None:
        self.active = None
        if self._state is _CLOSED:
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
        if transport is None or self._state is _CLOSED:
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
        self._idle_since = server.sweep
        if close:
            self.close()

    # -- timeouts and shutdown ---------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing in flight: no request being read, queued or answered."""
        return self.active is None and not self._pending and self._receiving_since is None

    def check_timeouts(self, read_sweeps: float, idle_sweeps: float) -> None:
        """Called by every sweep: drop requests that arrive too slowly and idle connections.

        A request (headers and body) must arrive within the read timeout from its first byte,
        and so must the first request of a new connection; between requests the keep-alive
        time applies.
        """
        if self._state is _CLOSED or self.active is not None or self._pending:
            return
        since = self._receiving_since
        if since is not None:
            limit = read_sweeps
        else:
            since = self._idle_since
            limit = read_sweeps if self._answered == 0 else idle_sweeps
        if self._server.sweep - since <= limit:
            return
        if self._request is not None and self._receiving_since is not None:
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
        self._move("closed")


class _Refusal(Exception):
    """Raised in a parser callback to stop parsing and answer ``error``."""

    def __init__(self, error: InterlockError) -> None:
        super().__init__(str(error))
        self.error = error


def _target_path(url: bytes) -> bytes:
    """The path of a request target that does not start with one; a refusal if it has none."""
    # The absolute form (as sent to proxies) names a path too; "*" and the authority form
    # (CONNECT) name none, and no endpoint answers to them.
    try:
        return httptools.parse_url(url).path or b"/"
    except httptools.HttpParserInvalidURLError:
        raise _Refusal(
            ProtocolError(
                f"malformed HTTP request: the request target {url[:100]!r} is not a path",
                hint="send an origin-form target such as /v2/health/ready",
            )
        ) from None
