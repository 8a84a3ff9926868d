"""Unary gRPC over :mod:`interlock_grpc._h2` (the gRPC "HTTP/2 protocol" document).

A request is ``POST /inference.GRPCInferenceService/<Method>`` with ``content-type:
application/grpc`` (or ``application/grpc+proto``) and one length-prefixed message in its body.
The response is HEADERS (``:status 200``, content type), one DATA with the length-prefixed
response, and trailers with ``grpc-status: 0``; a failure is "Trailers-Only": one HEADERS with
``grpc-status``, the percent-encoded ``grpc-message`` and any trailing metadata.

Which failures this layer answers itself:

* a path outside the service, or an unknown method: ``UNIMPLEMENTED``;
* a content type that is not gRPC's: HTTP 415 (so that no plain HTTP client takes the answer
  for a success);
* a method other than POST: HTTP 405 with ``UNIMPLEMENTED``;
* a ``grpc-encoding`` other than identity, gzip or deflate: ``UNIMPLEMENTED`` with
  ``grpc-accept-encoding``; an invalid ``grpc-timeout``: ``INTERNAL``;
* a malformed request (missing pseudo-headers, connection-specific headers, upper-case names):
  RST_STREAM with PROTOCOL_ERROR, as RFC 9113 section 8.1.1 asks.

Everything about the message itself goes to the RPC as :class:`RequestMessage`, so that the
token check comes first (SRV-143) and the metrics count the call: a message over
``max_request_bytes`` (``RESOURCE_EXHAUSTED``, decided from its length prefix, before it is
buffered), a message not received within ``read_timeout_s`` (``DEADLINE_EXCEEDED``), no message
or more than one (``UNIMPLEMENTED``: the gRPC status for a cardinality violation), a message
cut short or compressed without an encoding (``INTERNAL``).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from interlock_grpc._frames import ErrorCode, encode_header_block, percent_encode
from interlock_grpc._h2 import ConnectionLimits, Http2Connection, Stream
from interlock_grpc._service import (
    SERVICE,
    CallContext,
    Method,
    RequestMessage,
    RpcAbort,
    StatusError,
)
from interlock.serving.oip.errors import RequestTimeout, RequestTooLarge

__all__ = ["GrpcConnection", "GrpcEndpoint"]

log = logging.getLogger("interlock.grpc")

#: Status names to their numbers (grpc/doc/statuscodes.md).
STATUS_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
ACCEPT_ENCODING = "identity,deflate,gzip"
_MESSAGE_LIMIT = 1024  # characters of grpc-message: the details stay one readable line
_PREFIX = struct.Struct(">BI")
_RESPONSE_HEAD = encode_header_block([(b":status", b"200"), (b"content-type", b"application/grpc")])
_TRAILERS_OK = encode_header_block([(b"grpc-status", b"0")])
_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
# Headers RFC 9113 section 8.2.2 forbids in HTTP/2.
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_PSEUDO = frozenset({b":method", b":scheme", b":path", b":authority"})
# wbits for zlib: deflate is the zlib format in gRPC, gzip the gzip format.
_WBITS = {"deflate": 15, "gzip": 31}


def trailers_only(
    status: str,
    message: str,
    trailers: tuple[tuple[str, str], ...] = (),
    http_status: bytes = b"200",
) -> bytes:
    """The header block of a Trailers-Only response ending a call with ``status``."""
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    message = " ".join(message.split())  # one line: no CR or LF can reach the header
    headers = [
        (b":status", http_status),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", str(STATUS_CODES[status]).encode()),
        (b"grpc-message", percent_encode(message)),
    ]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in trailers]
    return encode_header_block(headers)


class GrpcEndpoint:
    """What every connection of one server shares: the methods by path, the limits."""

    __slots__ = ("limits", "max_request_bytes", "max_response_bytes", "methods")

    def __init__(
        self,
        methods: Mapping[str, Method],
        limits: ConnectionLimits,
        *,
        max_request_bytes: int,
        max_response_bytes: int | None,
    ) -> None:
        self.methods = {f"/{SERVICE}/{name}".encode(): method for name, method in methods.items()}
        self.limits = limits
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes


class Head:
    """A request's header list, judged: the method to run, or how to refuse the request."""

    __slots__ = ("decompress", "malformed", "metadata", "method", "reject", "timeout")

    def __init__(self) -> None:
        self.method: Method | None = None
        self.metadata: dict[str, str] = {}
        self.timeout: float | None = None
        self.decompress: str | None = None
        self.reject: bytes | None = None  # a Trailers-Only block to answer with at once
        self.malformed = False


def _timeout(value: bytes) -> float | None:
    """Seconds of a ``grpc-timeout`` value (at most 8 digits and a unit), or None if invalid."""
    unit = _TIMEOUT_UNITS.get(value[-1:])
    digits = value[:-1]
    if unit is None or not 1 <= len(digits) <= 8 or not digits.isdigit():
        return None
    return int(digits) * unit


def _split_headers(
    headers: list[tuple[bytes, bytes]],
) -> tuple[dict[bytes, bytes], dict[bytes, bytes]] | None:
    """The pseudo-headers and the regular ones, or None for a malformed request (RFC 9113
    section 8.1.1: misplaced, repeated or unknown pseudo-headers, connection-specific or
    upper-case names, forbidden characters in values, a missing method, scheme or path)."""
    pseudo: dict[bytes, bytes] = {}
    regular: dict[bytes, bytes] = {}
    for name, value in headers:
        if name[:1] == b":":
            if regular or name in pseudo or name not in _PSEUDO:
                return None
            pseudo[name] = value
        elif name in _CONNECTION_SPECIFIC or name != name.lower() or not name:
            return None
        elif name == b"te" and value != b"trailers":
            return None
        elif b"\r" in value or b"\n" in value or b"\0" in value:
            return None  # RFC 9113 section 8.2.1
        else:
            regular[name] = value
    if b":method" not in pseudo or b":scheme" not in pseudo or not pseudo.get(b":path"):
        return None
    return pseudo, regular


def parse_head(endpoint: GrpcEndpoint, headers: list[tuple[bytes, bytes]]) -> Head:
    """Judge a request's headers (pure: the connection caches the result by header block)."""
    head = Head()
    split = _split_headers(headers)
    if split is None:
        head.malformed = True
        return head
    pseudo, regular = split
    if pseudo[b":method"] != b"POST":
        head.reject = trailers_only(
            "UNIMPLEMENTED",
            f"gRPC calls are POST requests, not {pseudo[b':method'].decode('latin-1')}",
            http_status=b"405",
        )
        return head
    content_type = regular.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type not in (b"application/grpc", b"application/grpc+proto"):
        shown = content_type.decode("latin-1") or "none"
        head.reject = trailers_only(
            "INTERNAL",
            f"content-type {shown!r} is not application/grpc",
            http_status=b"415",
        )
        return head
    path = pseudo[b":path"]
    method = endpoint.methods.get(path)
    if method is None:
        shown = path.decode("latin-1")
        what = "method" if path.startswith(f"/{SERVICE}/".encode()) else "service"
        head.reject = trailers_only(
            "UNIMPLEMENTED", f"unknown {what}: {shown} (this server serves {SERVICE})"
        )
        return head
    encoding = regular.get(b"grpc-encoding", b"identity").decode("latin-1")
    if encoding not in ("identity", "gzip", "deflate"):
        head.reject = trailers_only(
            "UNIMPLEMENTED",
            f"grpc-encoding {encoding!r} is not supported (supported: {ACCEPT_ENCODING})",
            (("grpc-accept-encoding", ACCEPT_ENCODING),),
        )
        return head
    head.decompress = None if encoding == "identity" else encoding
    raw_timeout = regular.get(b"grpc-timeout")
    if raw_timeout is not None:
        head.timeout = _timeout(raw_timeout)
        if head.timeout is None:
            head.reject = trailers_only(
                "INTERNAL", f"invalid grpc-timeout {raw_timeout.decode('latin-1')!r}"
            )
            return head
    head.method = method
    head.metadata = {k.decode("latin-1"): v.decode("latin-1") for k, v in regular.items()}
    return head


class GrpcConnection(Http2Connection):
    """One client connection serving unary calls of the endpoint's methods."""

    def __init__(self, endpoint: GrpcEndpoint, registry: set[Http2Connection]) -> None:
        super().__init__(endpoint.limits, registry)
        self.endpoint = endpoint
        self.calls: set[asyncio.Task[None]] = set()

    # -- HTTP/2 hooks ------------------------------------------------------------------------

    def parse_head(self, headers: list[tuple[bytes, bytes]]) -> Head:
        return parse_head(self.endpoint, headers)

    def stream_opened(self, stream: Stream) -> None:
        head: Head = stream.head
        if head.method is None:
            if head.malformed:
                self.reset_stream(stream, ErrorCode.PROTOCOL_ERROR)
            else:
                assert head.reject is not None
                self.send_response(stream, b"", b"", head.reject)
            return
        now = self._loop.time()
        stream.opened = now
        stream.deadline = now + self.limits.read_timeout_s
        if head.timeout is not None:
            stream.deadline = min(stream.deadline, now + head.timeout)
        if not stream.receiving:
            self._start(stream)

    def stream_data(self, stream: Stream, data: bytes) -> None:
        if stream.task is not None:
            return  # answered already (an error): the rest of the request is dropped
        stream.body.append(data)
        stream.size += len(data)
        if stream.expected < 0 and stream.size >= 5:
            first = stream.body[0] if len(stream.body[0]) >= 5 else b"".join(stream.body)
            length = _PREFIX.unpack_from(first)[1]
            if length > self.endpoint.max_request_bytes:
                self._start(stream, self._too_large(stream, length))
                return
            stream.expected = 5 + length
        if stream.size > stream.expected >= 0:
            self._start(stream, self._cardinality(stream, "more than one request message"))

    def stream_ended(self, stream: Stream) -> None:
        if stream.task is None and not stream.closed:
            self._start(stream)

    def stream_cancelled(self, stream: Stream) -> None:
        if stream.timer is not None:
            stream.timer.cancel()
        if stream.task is not None and not stream.task.done():
            stream.task.cancel()  # cancel_status stays None: nobody is left to answer

    def stream_expired(self, stream: Stream) -> None:
        if stream.task is not None:
            return
        head: Head = stream.head
        assert head.method is not None
        now = self._loop.time()
        if head.timeout is not None and now - stream.opened >= head.timeout:
            error: Any = StatusError(
                "DEADLINE_EXCEEDED", "the call's deadline (grpc-timeout) passed"
            )
        else:
            error = RequestTimeout(
                f"the {head.method.name} request message did not arrive within "
                f"{self.limits.read_timeout_s:g} s",
                hint="send the request faster, or raise the server's read_timeout_s",
            )
        self._start(stream, error)

    # -- calls -------------------------------------------------------------------------------

    def _too_large(self, stream: Stream, size: int) -> RequestTooLarge:
        name = stream.head.method.name
        return RequestTooLarge(
            f"the {name} request message of {size} bytes exceeds the server's "
            f"max_request_bytes ({self.endpoint.max_request_bytes})",
            hint="send a smaller request, or raise the server's max_request_bytes",
        )

    def _cardinality(self, stream: Stream, what: str) -> StatusError:
        return StatusError(
            "UNIMPLEMENTED",
            f"the {stream.head.method.name} call carried {what}; a unary call takes exactly one",
            hint="send one request message per call",
        )

    def _message(self, stream: Stream) -> tuple[bytes | memoryview, Any]:
        """The request message of a completely received body, or the error it makes."""
        size = stream.size
        if size == 0:
            return b"", self._cardinality(stream, "no request message")
        body = stream.body[0] if len(stream.body) == 1 else b"".join(stream.body)
        stream.body = []
        if size < 5 or size < stream.expected:
            return b"", StatusError(
                "INTERNAL", "the request message ended before its length prefix said"
            )
        data = memoryview(body)[5:] if size > 4096 else body[5:]
        if not body[0]:
            return data, None
        if body[0] != 1:
            return b"", StatusError("INTERNAL", f"invalid message flags {body[0]:#x}")
        encoding = stream.head.decompress
        if encoding is None:
            return b"", StatusError(
                "INTERNAL",
                "the request message is marked compressed but the call has no grpc-encoding",
                hint="send grpc-encoding: gzip or deflate with compressed messages",
            )
        limit = self.endpoint.max_request_bytes
        inflater = zlib.decompressobj(_WBITS[encoding])
        try:
            plain = inflater.decompress(data, limit + 1)
        except zlib.error:
            return b"", StatusError("INTERNAL", f"the request message is not valid {encoding}")
        if len(plain) > limit:
            return b"", self._too_large(stream, len(plain))
        if not inflater.eof:
            return b"", StatusError("INTERNAL", f"the request message is truncated {encoding}")
        return plain, None

    def _start(self, stream: Stream, error: Any = None) -> None:
        """Run the stream's RPC on its message (or on ``error``)."""
        method: Method = stream.head.method
        data: bytes | memoryview = b""
        if error is None:
            data, error = self._message(stream)
        else:
            stream.body = []
        message = RequestMessage(data, method.request_type.FromString, error)
        task = self._loop.create_task(
            self._call(stream, method, message, CallContext(stream.head.metadata))
        )
        stream.task = task
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)
        timeout = stream.head.timeout
        if timeout is not None:
            remaining = stream.opened + timeout - self._loop.time()
            stream.timer = self._loop.call_later(max(remaining, 0.0), self._expire, stream)

    def _expire(self, stream: Stream) -> None:
        stream.timer = None
        self.end_call(stream, "DEADLINE_EXCEEDED")

    def end_call(self, stream: Stream, status: str) -> None:
        """Cancel the stream's RPC; it answers ``status`` instead."""
        task = stream.task
        if task is not None and not task.done() and stream.cancel_status is None:
            stream.cancel_status = status
            task.cancel()

    async def _call(
        self, stream: Stream, method: Method, message: RequestMessage, context: CallContext
    ) -> None:
        try:
            response = await method.rpc(message, context)
            data = response.SerializeToString()
        except RpcAbort as abort:
            block = trailers_only(abort.status, abort.message, abort.trailers)
        except asyncio.CancelledError:
            status = stream.cancel_status
            if status is None:
                return  # the client reset the stream or went away: nobody to answer
            text = {
                "DEADLINE_EXCEEDED": "the call's deadline (grpc-timeout) passed",
                "UNAVAILABLE": "the server is stopping",
            }.get(status, status)
            block = trailers_only(status, text)
        except Exception:
            log.exception("gRPC %s failed", method.name)
            block = trailers_only("INTERNAL", f"internal error in {method.name}; see the log")
        else:
            limit = self.endpoint.max_response_bytes
            if limit is not None and len(data) > limit:
                block = trailers_only(
                    "RESOURCE_EXHAUSTED",
                    f"the {method.name} response of {len(data)} bytes exceeds the server's "
                    f"max_response_bytes ({limit})",
                )
            else:
                if stream.timer is not None:
                    stream.timer.cancel()
                self.send_response(
                    stream, _RESPONSE_HEAD, _PREFIX.pack(0, len(data)) + data, _TRAILERS_OK
                )
                return
        if stream.timer is not None:
            stream.timer.cancel()
        self.send_response(stream, b"", b"", block)

    def unanswered(self) -> list[Stream]:
        """Streams whose answer has not been sent completely."""
        return [stream for stream in self.streams.values() if not stream.closed]

    def fail_stream(self, stream: Stream, status: str, message: str) -> None:
        """Answer ``stream`` with ``status`` now (a stream whose RPC never ran)."""
        self.send_response(stream, b"", b"", trailers_only(status, message))
