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
import logging
import time
from collections import deque
from functools import partial
from typing import Any

import httptools

from interlock.errors import InterlockError, OverloadedError
from interlock.serving.oip.errors import HeadersTooLarge, ProtocolError, RequestTimeout

from interlock_rest._http_checks import (
    MAX_HEADERS,
    Refusal,
    head_problem,
    overloaded,
    request_path,
    target_path,
)
from interlock_rest._http_messages import Answer, Request, Response, StreamedResponse
from interlock_rest._http_messages import log_access, response_head, too_large
from interlock_rest._http_states import MOVES, ConnectionOwner, ConnectionState
from interlock_rest._http_stream import StreamWriter

__all__ = ["MOVES", "ConnectionState", "HttpConnection"]

_S = ConnectionState
_READING = _S.READING
_THROTTLED = _S.THROTTLED
_CLOSED = _S.CLOSED
#: States in which no request is parsed any more.
_NOT_READ = frozenset({_S.FINISHING, _S.FINISHING_BLOCKED, _S.CLOSED})
#: States in which queued requests are answered.
_ANSWERING = frozenset({_S.READING, _S.THROTTLED, _S.FINISHING})

logger = logging.getLogger("interlock.rest")

#: Most bytes of request line and headers (above: 431), counted as they arrive.
MAX_HEADER_BYTES = 64 * 1024
#: While a head is incomplete, received bytes are parsed in pieces of this size, so that the
#: head limit is enforced within one piece whatever the client sends (httptools joins a
#: header's value only once it is complete).
_HEAD_PIECE = 8 * 1024
#: Requests, and their body bytes, parsed ahead of the one being answered before the
#: connection stops being read.
MAX_PIPELINED = 16
MAX_PIPELINED_BYTES = 1024 * 1024
#: A body below this size is checked by the application after it arrived; above it (or of
#: unknown size), the application may refuse the request from its head alone.
EARLY_CHECK_BYTES = 64 * 1024

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HttpConnection(StreamWriter, asyncio.Protocol):
    """One client connection: parse, queue, answer in order."""

    def __init__(self, server: ConnectionOwner) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._state = _READING
        self._pending: deque[Request] = deque()
        self.active: asyncio.Task[Any] | None = None  # an answer computed, or streamed
        self._streaming = False
        self._writable: asyncio.Future[None] | None = None  # a stream waits for the client
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
        self._header_count = 0
        self._head_size = 0  # the head's bytes as parsed (the other count is as received)
        self._in_head = True  # the next bytes belong to a request head
        self._wire_bytes = 0  # bytes received for the request, framing included
        self._limit = server.max_body_bytes
        self._output = 0  # answer bytes in the transport's write buffer
        self._blocked_since: int | None = None  # since when (sweep) the buffer is full
        self._peer = ""  # the client's address, for the access log only

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
        if server.access is not None:
            peer = transport.get_extra_info("peername")
            self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
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
        if self._streaming and self.active is not None:
            self.active.cancel()  # nobody reads the stream: stop producing it
        self._wake_writer()
        server = self._server
        server.connections.discard(self)
        for request in (self._request, *self._pending):
            if request is not None:
                self._release(request)
        self._request = None
        self._pending.clear()
        self._body = []
        if self._output:
            server.output_changed(-self._output)
            self._output = 0

    def data_received(self, data: bytes) -> None:
        if self._state in _NOT_READ:
            return
        try:
            self._feed(data)
        except httptools.HttpParserUpgrade:
            # A request asking to switch protocols (h2c, websocket) is answered in HTTP/1.1,
            # as if it had not asked; what follows it is not HTTP/1.1: close after answering.
            self._stop_reading()
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, Refusal):
                self._refuse(refused.error)
            else:  # a bug in a callback: logged; the client gets a 500 and a closed connection
                logger.error("unexpected error parsing a request", exc_info=refused)
                self._refuse(InterlockError("internal server error; see the server log"))
        except httptools.HttpParserError as exc:
            self._refuse(ProtocolError(f"malformed HTTP request: {exc}"))
        if self._pending and self.active is None:
            self._dispatch()

    def _feed(self, data: bytes) -> None:
        """Parse ``data``; a head is parsed in pieces and its bytes counted as they arrive."""
        parser = self._parser
        end = len(data)
        pos = 0
        while pos < end:
            if self._in_head:
                piece = data[pos : pos + _HEAD_PIECE] if pos or end > _HEAD_PIECE else data
                self._header_bytes += len(piece)
            else:
                piece = data[pos:] if pos else data
                self._wire_bytes += len(piece)
            pos += len(piece)
            parser.feed_data(piece)
            if self._in_head and self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(HeadersTooLarge(f"the request head exceeds {MAX_HEADER_BYTES} bytes"))
            elif self._request and self._wire_bytes > MAX_HEADER_BYTES + 2 * self._body_bytes:
                # Chunk sizes and extensions are framing, bounded like a head.
                self._refuse(ProtocolError("the chunked body's framing exceeds its data"))
            if self._state in _NOT_READ:
                return

    def pause_writing(self) -> None:
        # The client does not read its answers: stop reading its requests until it does.
        self._blocked_since = self._server.sweep
        self._move("send_buffer_full")

    def resume_writing(self) -> None:
        self._blocked_since = None
        self._wake_writer()
        self._track_output()
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
        self._in_head = True
        self._header_bytes = 0
        self._header_count = 0
        self._head_size = 0
        self._wire_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._expect = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            raise Refusal(HeadersTooLarge(f"the request has more than {MAX_HEADERS} header fields"))
        self._head_size += len(name) + len(value) + 4
        if not self._in_head:
            # A trailer field of a chunked body: never merged into the headers (RFC 9112
            # section 7.1.2), so that it cannot change how the body is read.
            return
        name = name.lower()
        if name == b"expect":
            self._expect = value
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._wire_bytes = 0
        if self._state in _NOT_READ:
            return
        if self._head_size > MAX_HEADER_BYTES:  # the head ended in the piece that crossed
            raise Refusal(HeadersTooLarge(f"the request head exceeds {MAX_HEADER_BYTES} bytes"))
        parser = self._parser
        url = self._url
        if not url.startswith(b"/"):
            url = target_path(url)
        path_end = url.find(b"?")
        path = (url if path_end < 0 else url[:path_end]).decode("latin-1")
        request = Request(parser.get_method().decode("ascii"), path, self._headers)
        if self._server.access is not None:
            request.started = time.perf_counter()
        version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive() and version == "1.1"
        self._request = request
        if self._refusal is not None:
            self._reply_early(request, self._refusal)
            return
        try:
            request.path = request_path(path)
            problem = head_problem(version, self._headers)
        except ProtocolError as error:
            problem = error
        if problem is not None:
            self._reply_early(request, problem)
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
        if declared and not self._hold(request, declared):
            return
        expect_continue = self._expect is not None and self._expect.lower() == b"100-continue"
        if declared is None or declared > EARLY_CHECK_BYTES or expect_continue:
            refusal = self._server.app.check_head(request)
            if refusal is not None:
                self._reply_early(request, refusal)
                return
        if expect_continue and self._transport is not None:
            self._transport.write(_CONTINUE)

    def _hold(self, request: Request, size: int) -> bool:
        """Count ``size`` body bytes against the server's budget; refuse (503) when spent."""
        if self._server.admit(size):
            request.held += size
            return True
        self._body = []
        self._reply_early(request, overloaded("buffers as many request bytes"))
        return False

    def _release(self, request: Request) -> None:
        if request.held:
            self._server.release(request.held)
            request.held = 0

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
        if self._body_bytes > request.held and not self._hold(request, len(body)):
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._header_bytes = 0
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
            if reply is None and self._server.output_full():
                request.keep_alive = False
                reply = app.error(overloaded("holds as many unread answers"))
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

    def _finished(self, request: Request, task: asyncio.Task[Answer]) -> None:
        self.active = None
        if self._state is _CLOSED:
            self._release(request)
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

    def _send(self, request: Request, reply: Answer) -> None:
        self._release(request)
        transport = self._transport
        if transport is None or self._state is _CLOSED:
            return
        server = self._server
        if isinstance(reply, StreamedResponse):
            self._stream(request, reply)
            return
        status, body, content_type, extra = reply
        # After a 408 or 413 the rest of a body may still be on the wire (SRV-092).
        close = not request.keep_alive or server.draining or status == 413 or status == 408
        head = response_head(status, server.date, content_type, len(body), extra, close)
        if request.method == "HEAD":
            transport.write(head)
        elif len(body) > 16384:
            transport.writelines((head, body))  # no copy of a large body
        else:
            transport.write(head + body)
        self._answered += 1
        self._idle_since = server.sweep
        if server.access is not None:
            log_access(server.access, self._peer, request, status, len(body))
        if self._output or transport.get_write_buffer_size():
            self._track_output()
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
        if self._state is _CLOSED:
            return
        blocked = self._blocked_since
        if blocked is not None and self._server.sweep - blocked > self._server.send_sweeps:
            # The client has not read its answers for the send timeout: drop them and it.
            if self._transport is not None:
                self._transport.abort()
            return
        if self.active is not None or self._pending:
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
        while self._pending:
            self._release(self._pending.popleft())
        if self.active is not None:
            self.active.cancel()

    def close(self) -> None:
        """Close the connection (what was written is still sent)."""
        self._move("closed")
