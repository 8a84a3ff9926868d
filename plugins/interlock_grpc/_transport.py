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
from functools import partial
from typing import Any

from interlock_grpc._frames import ErrorCode, encode_header_block
from interlock_grpc._grpc_heads import GrpcEndpoint, Head, parse_head, trailers_only
from interlock_grpc._h2 import Http2Connection, Stream
from interlock_grpc._service import (
    SERVICE,
    CallContext,
    Method,
    RequestMessage,
    RpcAbort,
    StatusError,
)
from interlock.serving.oip.errors import RequestTimeout, RequestTooLarge

__all__ = ["GrpcConnection", "GrpcEndpoint", "trailers_only"]

log = logging.getLogger("interlock.grpc")

_PREFIX = struct.Struct(">BI")
_RESPONSE_HEAD = encode_header_block([(b":status", b"200"), (b"content-type", b"application/grpc")])
_TRAILERS_OK = encode_header_block([(b"grpc-status", b"0")])
# wbits for zlib: deflate is the zlib format in gRPC, gzip the gzip format.
_WBITS = {"deflate": 15, "gzip": 31}


class GrpcConnection(Http2Connection):
    """One client connection serving unary calls of the endpoint's methods."""

    def __init__(self, endpoint: GrpcEndpoint, registry: set[Http2Connection]) -> None:
        super().__init__(endpoint.limits, registry)
        self.endpoint = endpoint
        self.calls: set[asyncio.Task[None]] = set()

    # -- HTTP/2 hooks ------------------------------------------------------------------------

    def parse_head(self, headers: list[tuple[bytes, bytes]]) -> Head:
        return parse_head(self.endpoint, headers)

    def refuse_head(self, reason: str) -> Head:
        head = Head()
        head.reject = trailers_only("RESOURCE_EXHAUSTED", reason)
        return head

    def stream_opened(self, stream: Stream) -> None:
        head: Head = stream.head
        if head.method is None:
            if head.malformed:
                self.provoked_reset()
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
        declared = stream.head.content_length
        if declared is not None and stream.size > declared:
            self._malformed(stream)  # RFC 9113 section 8.1.1: DATA beyond content-length
            return
        if stream.expected < 0 and stream.size >= 5:
            first = stream.body[0] if len(stream.body[0]) >= 5 else b"".join(stream.body)
            length = _PREFIX.unpack_from(first)[1]
            if length > self.endpoint.max_request_bytes:
                self._start(stream, self._too_large(stream, length))
                return
            stream.expected = 5 + length
            self.admit_stream(stream, stream.expected)
        if stream.size > stream.expected >= 0:
            self._start(stream, self._cardinality(stream, "more than one request message"))

    def stream_ended(self, stream: Stream) -> None:
        declared = stream.head.content_length
        if declared is not None and stream.size != declared and not stream.closed:
            self._malformed(stream)
            return
        if stream.task is None and not stream.closed:
            self._start(stream)

    def _malformed(self, stream: Stream) -> None:
        stream.body = []
        if stream.task is not None:
            self.end_call(stream, "CANCELLED")
        self.provoked_reset()
        self.reset_stream(stream, ErrorCode.PROTOCOL_ERROR)

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

    def _message(self, stream: Stream) -> tuple[bytes | memoryview, Any, Any]:
        """The request message of a completely received body (and how to decompress it), or
        the error it makes."""
        size = stream.size
        if size == 0:
            return b"", self._cardinality(stream, "no request message"), None
        body = stream.body[0] if len(stream.body) == 1 else b"".join(stream.body)
        stream.body = []
        if size < 5 or size < stream.expected:
            return b"", StatusError(
                "INTERNAL", "the request message ended before its length prefix said"
            ), None
        data = memoryview(body)[5:] if size > 4096 else body[5:]
        if not body[0]:
            return data, None, None
        if body[0] != 1:
            return b"", StatusError("INTERNAL", f"invalid message flags {body[0]:#x}"), None
        encoding = stream.head.decompress
        if encoding is None:
            return b"", StatusError(
                "INTERNAL",
                "the request message is marked compressed but the call has no grpc-encoding",
                hint="send grpc-encoding: gzip or deflate with compressed messages",
            ), None
        # Decompressed by the RPC, on a worker thread: inflating can take long.
        return data, None, partial(self._inflate, stream.head.method.name, encoding)

    def _inflate(self, method: str, encoding: str, data: bytes | memoryview) -> bytes:
        limit = self.endpoint.max_request_bytes
        inflater = zlib.decompressobj(_WBITS[encoding])
        try:
            plain = inflater.decompress(data, limit + 1)
        except zlib.error:
            raise StatusError("INTERNAL", f"the request message is not valid {encoding}") from None
        if len(plain) > limit:
            raise RequestTooLarge(
                f"the {method} request message of {len(plain)} bytes or more (decompressed) "
                f"exceeds the server's max_request_bytes ({limit})",
                hint="send a smaller request, or raise the server's max_request_bytes",
            )
        if not inflater.eof or inflater.unused_data:
            problem = "is truncated" if not inflater.eof else "has bytes after its end"
            raise StatusError("INTERNAL", f"the {encoding} request message {problem}")
        return plain

    def _start(self, stream: Stream, error: Any = None) -> None:
        """Run the stream's RPC on its message (or on ``error``)."""
        method: Method = stream.head.method
        data: bytes | memoryview = b""
        inflate = None
        if error is None:
            data, error, inflate = self._message(stream)
        else:
            stream.body = []
        message = RequestMessage(data, method.request_type.FromString, error, inflate)
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
            status = abort.status
            block = trailers_only(abort.status, abort.message, abort.trailers)
        except asyncio.CancelledError:
            cancelled = stream.cancel_status
            if cancelled is None:
                return  # the client reset the stream or went away: nobody to answer
            status = cancelled
            text = {
                "DEADLINE_EXCEEDED": "the call's deadline (grpc-timeout) passed",
                "UNAVAILABLE": "the server is stopping",
            }.get(status, status)
            block = trailers_only(status, text)
        except Exception:
            log.exception("gRPC %s failed", method.name)
            status = "INTERNAL"
            block = trailers_only("INTERNAL", f"internal error in {method.name}; see the log")
        else:
            limit = self.endpoint.max_response_bytes
            status = "RESOURCE_EXHAUSTED"
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
                if self.endpoint.access is not None:
                    self._log_access(stream, "OK", len(data) + 5)
                return
        if stream.timer is not None:
            stream.timer.cancel()
        self.send_response(stream, b"", b"", block)
        if self.endpoint.access is not None:
            self._log_access(stream, status, 0)

    def _log_access(self, stream: Stream, status: str, size: int) -> None:
        assert self.endpoint.access is not None
        peer = self._transport.get_extra_info("peername") if self._transport else None
        shown = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        took = (self._loop.time() - stream.opened) * 1000
        self.endpoint.access.info(
            'grpc %s "POST /%s/%s" %s %dB %.1fms', shown, SERVICE, stream.head.method.name,
            status, size, took,
        )

    def unanswered(self) -> list[Stream]:
        """Streams whose answer has not been sent completely."""
        return [stream for stream in self.streams.values() if not stream.closed]

    def fail_stream(self, stream: Stream, status: str, message: str) -> None:
        """Answer ``stream`` with ``status`` now (a stream whose RPC never ran)."""
        self.send_response(stream, b"", b"", trailers_only(status, message))
