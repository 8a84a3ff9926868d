"""What the REST server's HTTP/1.1 layer and its application hand each other.

The layer (:mod:`interlock_rest._http`) parses a :class:`Request` with its whole body and asks
an :class:`HttpApplication` for the :data:`Response`; it writes the answer itself.
"""

from __future__ import annotations

import http
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

from interlock.errors import InterlockError
from interlock.serving.oip.errors import RequestTooLarge

__all__ = [
    "STATUS_LINES",
    "Answer",
    "HttpApplication",
    "Request",
    "Response",
    "StreamedResponse",
    "log_access",
    "response_head",
    "too_large",
]

#: status, body, content type, extra headers (lower-case names).
Response = tuple[int, bytes, bytes, tuple[tuple[bytes, bytes], ...]]



class StreamedResponse:
    """An answer written while it is produced, in the chunked transfer coding (RFC 9112
    section 7.1): server-sent events of a streamed generation. Each item of ``chunks`` is
    sent as one chunk as soon as the client's connection takes it; the generator is closed
    (and the generation stops) when the client goes away or the server cuts it off."""

    __slots__ = ("chunks", "content_type", "headers", "status")

    def __init__(self, chunks: AsyncIterator[bytes], *, content_type: bytes,
                 headers: tuple[tuple[bytes, bytes], ...] = (), status: int = 200) -> None:
        self.status = status
        self.chunks = chunks
        self.content_type = content_type
        self.headers = headers


#: What an application answers: a whole response, or one streamed.
Answer = Response | StreamedResponse

#: The status line of every status.
STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
    for status in http.HTTPStatus
}


class Request:
    """One parsed request: method, path (percent-decoded), headers (lower-case names), body."""

    __slots__ = ("body", "held", "headers", "keep_alive", "method", "path", "reply", "started")

    def __init__(self, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = b""
        self.keep_alive = True
        #: An answer decided by the HTTP layer (an error) instead of the application.
        self.reply: Response | None = None
        #: Body bytes counted against the server's buffer budget (the HTTP layer's).
        self.held = 0
        #: When its head was parsed (perf_counter), only while the access log is on.
        self.started = 0.0

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class HttpApplication(Protocol):
    """What the HTTP layer needs of an application."""

    def handle(self, request: Request) -> Response | Coroutine[Any, Any, Answer]:
        """Answer ``request``: at once, or with a coroutine that returns the answer. Never
        raises: errors are answers."""

    def check_head(self, request: Request) -> Response | None:
        """A refusal decided from the request line and headers alone (before a large body is
        read), or None to read the body."""

    def error(self, exc: InterlockError) -> Response:
        """The answer for an error the HTTP layer found."""

    def cut_off(self) -> Response:
        """The answer for a request the server stopped before it was done (shutdown)."""


def response_head(status: int, date: bytes, content_type: bytes, length: int | None,
                  extra: tuple[tuple[bytes, bytes], ...], close: bool) -> bytes:
    """Status line and headers; ``length`` None: the chunked transfer coding."""
    head = b"%sdate: %s\r\ncontent-type: %s\r\n" % (
        STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status, date, content_type)
    head += (b"transfer-encoding: chunked\r\n" if length is None
             else b"content-length: %d\r\n" % length)
    for name, value in extra:
        head += name + b": " + value + b"\r\n"
    return head + (b"connection: close\r\n\r\n" if close else b"\r\n")


def too_large(size: int, limit: int) -> RequestTooLarge:
    """The error for a body of ``size`` bytes (or more) over ``limit``."""
    return RequestTooLarge(
        f"the request body ({size} bytes or more) exceeds the server's limit of {limit} bytes",
        hint="send smaller batches, or raise max_request_bytes",
    )


def log_access(logger: logging.Logger, peer: str, request: Request, status: int, size: int) -> None:
    """One access log line for an answered request (interlock.serving.oip.access)."""
    took = (time.perf_counter() - request.started) * 1000 if request.started else 0.0
    logger.info('rest %s "%s %s" %d %dB %.1fms', peer, request.method, request.path[:200],
                status, size, took)
