"""The server side of one HTTP/2 connection (RFC 9113) on an asyncio protocol, for unary gRPC.

Frames are parsed by hand from the received bytes; header blocks are decoded with ``hpack``.
This layer keeps the connection correct (preface, settings, flow control in both directions,
stream states, PING, GOAWAY, RST_STREAM) and bounded (streams per connection, header list
size, frames per second a client may spend on control frames), and hands complete requests
to its subclass through hooks: :meth:`parse_head`, :meth:`stream_opened`, :meth:`stream_data`,
:meth:`stream_ended`, :meth:`stream_cancelled` and :meth:`stream_expired`. The gRPC layer
(:mod:`interlock_grpc._transport`) implements them; the sending side is
:mod:`interlock_grpc._h2_sending`, header blocks are decoded (and cached) by
:mod:`interlock_grpc._header_blocks`.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, cast

from interlock_grpc._frames import (
    CLIENT_PREFACE,
    DEFAULT_WINDOW,
    ErrorCode,
    Flag,
    FrameType,
    H2ConnectionError,
    Setting,
    goaway,
    rst_stream,
    settings_frame,
    window_update,
)
from interlock_grpc._h2_control import Http2Control
from interlock_grpc._h2_sending import ConnectionLimits, Stream
from interlock_grpc._header_blocks import HeaderBlockDecoder

__all__ = ["ConnectionLimits", "Http2Connection", "Stream"]

log = logging.getLogger("interlock.grpc")

_HEADER = struct.Struct(">IBI")


class Http2Connection(Http2Control, asyncio.Protocol):
    """One HTTP/2 server connection; subclasses implement the request hooks."""

    def __init__(self, limits: ConnectionLimits, registry: set[Http2Connection]) -> None:
        super().__init__(limits)
        self._registry = registry
        self._rest = bytearray()  # bytes of an incomplete frame (or preface)
        self._need = 0  # how many bytes _rest must hold before it is worth parsing
        self._preface = True  # still waiting for the client preface
        self._first_frame = True  # the first frame after it must be SETTINGS
        self._headers = HeaderBlockDecoder(
            limits.max_header_list_size, self.parse_head, self.refuse_head
        )
        self._block: list[bytes] | None = None  # a header block waiting for CONTINUATION
        self._block_stream = 0
        self._block_flags = 0
        self._block_size = 0
        self._block_started = 0.0
        self._conn_window = max(16 * 1024 * 1024, limits.initial_window)
        self._recv_window = DEFAULT_WINDOW  # connection-level, the peer's to spend
        self._recv_unacked = 0
        now = self._loop.time()
        self.opened_at = now
        self._budget_start = now
        self._control_frames = 0
        self._resets = 0
        self._heard = False  # bytes arrived since the last sweep
        self._paused_at: float | None = None  # since when the client does not read

    def _replenish(self) -> None:
        # The connection window is always given back: what streams may buffer is bounded
        # by their own windows, which the request budget hands out (_h2_budget).
        if self._recv_unacked >= self._conn_window >> 1:
            self._write(window_update(0, self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0

    def admit_stream(self, stream: Stream, size: int) -> None:
        """``stream``'s request is ``size`` bytes: let it receive windows once the request
        budget can hold it (at once, or when streams finish)."""
        budget = self.limits.budget
        if not budget.admit(stream, size):
            budget.wait(self, stream, size)

    def stream_admitted(self, stream: Stream) -> None:
        grant = self.limits.initial_window - stream.recv_window
        if grant > 0 and stream.receiving and not stream.closed:
            stream.recv_window += grant
            self._write(window_update(stream.id, grant))


    def parse_head(self, headers: list[tuple[bytes, bytes]]) -> Any:
        """The request head for a decoded header list; must depend on ``headers`` only."""
        raise NotImplementedError

    def refuse_head(self, reason: str) -> Any:
        """The request head for a header list the server refuses (too large) for ``reason``;
        that stream alone is refused."""
        raise NotImplementedError

    def stream_opened(self, stream: Stream) -> None:
        """A new stream's headers arrived (``stream.receiving`` is false if it has no body)."""
        raise NotImplementedError

    def stream_data(self, stream: Stream, data: bytes) -> None:
        """Request bytes arrived on ``stream``."""
        raise NotImplementedError

    def stream_ended(self, stream: Stream) -> None:
        """The client finished sending on ``stream``."""
        raise NotImplementedError

    def stream_cancelled(self, stream: Stream) -> None:
        """``stream`` was reset (by the client) or its connection is gone."""
        raise NotImplementedError

    def stream_expired(self, stream: Stream) -> None:
        """``stream``'s request did not arrive by ``stream.deadline``."""
        raise NotImplementedError

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        limits = self.limits
        if limits.max_connections is not None and len(self._registry) >= limits.max_connections:
            # No stream of this connection will be processed: the client retries elsewhere
            # or later (gRPC clients report UNAVAILABLE).
            refusal = goaway(0, ErrorCode.NO_ERROR, b"too many connections")
            transport.write(settings_frame({}) + refusal)
            transport.close()
            return
        self._registry.add(self)
        settings = {
            Setting.MAX_CONCURRENT_STREAMS: limits.max_streams,
            Setting.INITIAL_WINDOW_SIZE: limits.first_window,
            Setting.MAX_FRAME_SIZE: limits.max_frame_size,
            Setting.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            Setting.ENABLE_PUSH: 0,
        }
        grow = self._conn_window - DEFAULT_WINDOW
        self._recv_window = self._conn_window
        transport.write(settings_frame(settings) + window_update(0, grow))

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        self._transport = None
        if self._linger is not None:
            self._linger.cancel()
        for stream in list(self.streams.values()):
            self._forget(stream)
            self.stream_cancelled(stream)

    def eof_received(self) -> bool | None:
        # The client will send nothing more; answers to what it sent may still go out.
        if self._goaway_sent or not self.streams:
            return False  # close now
        self._peer_goaway = True
        return True

    def pause_writing(self) -> None:
        # The client is not reading what we send: stop reading its requests until it does,
        # so that answers (and PING or SETTINGS acknowledgements) cannot pile up unbounded.
        self._paused_at = self._loop.time()
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused_at = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self._heard = True
        if self._rest:
            self._rest += data
            if len(self._rest) < self._need:
                return
            data = bytes(self._rest)
            self._rest.clear()
        try:
            if self._preface:
                data = self._read_preface(data)
                if not data:
                    return
            pos = self._frames(data)
            if pos < len(data):
                self._rest += data[pos:]
        except H2ConnectionError as error:
            self.close_with(error.code, str(error))
        except Exception:  # a bug must not take the server down: end this connection only
            log.exception("HTTP/2 connection failed")
            self.close_with(ErrorCode.INTERNAL_ERROR, "internal error")

    # -- parsing -----------------------------------------------------------------------------

    def _read_preface(self, data: bytes) -> bytes:
        size = len(CLIENT_PREFACE)
        if len(data) < size:
            if not CLIENT_PREFACE.startswith(data):
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 client preface")
            self._rest += data
            self._need = size
            return b""
        if data[:size] != CLIENT_PREFACE:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 client preface")
        self._preface = False
        return data[size:]

    def _frames(self, data: bytes) -> int:
        """Handle every complete frame in ``data``; return where the incomplete rest begins."""
        pos = 0
        end = len(data)
        unpack = _HEADER.unpack_from
        max_frame = self.limits.max_frame_size
        while end - pos >= 9:
            head, flags, stream_id = unpack(data, pos)
            length = head >> 8
            if length > max_frame:
                raise H2ConnectionError(
                    ErrorCode.FRAME_SIZE_ERROR, f"a frame of {length} bytes exceeds {max_frame}"
                )
            stop = pos + 9 + length
            if stop > end:
                self._need = stop - pos
                return pos
            kind = head & 0xFF
            stream_id &= 0x7FFFFFFF
            if self._first_frame:
                if kind != FrameType.SETTINGS or flags & Flag.ACK:
                    raise H2ConnectionError(
                        ErrorCode.PROTOCOL_ERROR, "the client preface must end with SETTINGS"
                    )
                self._first_frame = False
            if self._block is not None and (
                kind != FrameType.CONTINUATION or stream_id != self._block_stream
            ):
                raise H2ConnectionError(
                    ErrorCode.PROTOCOL_ERROR, "a header block was interrupted by another frame"
                )
            if kind == FrameType.DATA:
                self._on_data(data, pos + 9, stop, flags, stream_id)
            elif kind == FrameType.HEADERS:
                self._on_headers(data, pos + 9, stop, flags, stream_id)
            else:
                self._on_control(kind, data[pos + 9 : stop], flags, stream_id)
            pos = stop
            if self._transport is None or self._transport.is_closing():
                return end
        self._need = 9
        return pos

    def _on_data(self, data: bytes, start: int, stop: int, flags: int, stream_id: int) -> None:
        if stream_id == 0:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0")
        length = stop - start
        self._recv_window -= length
        if self._recv_window < 0:
            raise H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the window")
        # Every byte counts against the connection window whatever becomes of the stream;
        # give it back in large steps, not one WINDOW_UPDATE per frame, and not while the
        # open streams hold more than the buffer budget (then as streams finish).
        self._recv_unacked += length
        self._replenish()
        if flags & Flag.PADDED:
            if length < 1 or data[start] >= length:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA padding too long")
            stop -= data[start]
            start += 1
        elif length == 0 and not flags & Flag.END_STREAM:
            self._spend_control_budget()  # empty DATA frames do nothing but cost
        stream = self.streams.get(stream_id)
        if stream is None:
            if stream_id > self._last_stream:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream")
            return  # a stream we closed or reset: its late frames are dropped
        if not stream.receiving:
            self.provoked_reset()
            self.reset_stream(stream, ErrorCode.STREAM_CLOSED)
            return
        stream.recv_window -= length
        if stream.recv_window < 0:
            self.provoked_reset()
            self.reset_stream(stream, ErrorCode.FLOW_CONTROL_ERROR)
            return
        stream.held += length
        self.held += length
        if start < stop:
            self.stream_data(stream, data[start:stop])
        if stream.closed:
            return
        if flags & Flag.END_STREAM:
            stream.receiving = False
            self.receiving.pop(stream.id, None)
            self.limits.budget.settle(stream)
            self.stream_ended(stream)
        elif stream.admitted and stream.recv_window < self.limits.initial_window >> 1:
            grant = self.limits.initial_window - stream.recv_window
            stream.recv_window += grant
            self._write(window_update(stream.id, grant))

    def _on_headers(self, data: bytes, start: int, stop: int, flags: int, stream_id: int) -> None:
        if stream_id == 0 or not stream_id & 1:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, f"HEADERS on stream {stream_id}")
        if flags & Flag.PADDED:
            if stop == start or data[start] >= stop - start:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS padding too long")
            stop -= data[start]
            start += 1
        if flags & Flag.PRIORITY:
            if stop - start < 5:
                raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS priority truncated")
            start += 5  # priority signals are ignored (RFC 9113 section 5.3.2)
        block = data[start:stop]
        if len(block) > 2 * self.limits.max_header_list_size:
            raise H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")
        if flags & Flag.END_HEADERS:
            self._on_header_block(stream_id, block, flags)
        else:
            self._block, self._block_stream, self._block_flags = [block], stream_id, flags
            self._block_size = len(block)
            self._block_started = self._loop.time()

    def _on_continuation(self, payload: bytes, flags: int, stream_id: int) -> None:
        if self._block is None:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
        self._block.append(payload)
        self._block_size += len(payload)
        if self._block_size > 2 * self.limits.max_header_list_size:
            raise H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large")
        if not payload and not flags & Flag.END_HEADERS:
            self._spend_control_budget()
        if flags & Flag.END_HEADERS:
            block, self._block = b"".join(self._block), None
            self._on_header_block(stream_id, block, self._block_flags)

    def _on_header_block(self, stream_id: int, block: bytes, flags: int) -> None:
        end_stream = bool(flags & Flag.END_STREAM)
        if stream_id <= self._last_stream:
            self._headers.decode(block)  # the decoder's table must follow every block
            stream = self.streams.get(stream_id)
            if stream is None:  # a closed (or skipped, so closed) stream: a reset it provoked
                self.provoked_reset()
                self._write(rst_stream(stream_id, ErrorCode.STREAM_CLOSED))
            elif not end_stream:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
            elif not stream.receiving:
                self.provoked_reset()
                self.reset_stream(stream, ErrorCode.STREAM_CLOSED)
            else:  # request trailers: gRPC clients send none, but they end the request
                stream.receiving = False
                self.receiving.pop(stream_id, None)
                self.limits.budget.settle(stream)
                self.stream_ended(stream)
            return
        self._last_stream = stream_id
        head = self._headers.decode(block)
        limits = self.limits
        stream = Stream(stream_id, head, limits.first_window, self._peer_window, not end_stream)
        if (
            self._goaway_sent
            or self._peer_goaway
            or len(self.streams) >= limits.max_streams
            or limits.budget.output > limits.budget.limit
            or (not end_stream and not limits.budget.open(stream, limits.first_window))
        ):
            self._spend_control_budget()
            self._write(rst_stream(stream_id, ErrorCode.REFUSED_STREAM))
            return
        self.streams[stream_id] = stream
        if end_stream:
            stream.receiving = False
        else:
            self.receiving[stream_id] = stream
        self.stream_opened(stream)

    def sweep(self, now: float) -> None:
        """Periodic checks: the preface and idle timeouts, and :meth:`stream_expired` for each
        stream whose request did not arrive by its deadline."""
        if self._transport is None or self._transport.is_closing():
            return
        limits = self.limits
        if self._preface or self._first_frame:
            if now - self.opened_at > limits.read_timeout_s:
                self.close_with(ErrorCode.PROTOCOL_ERROR, "no client preface in time")
            return
        if self._block is not None and now - self._block_started > limits.read_timeout_s:
            # Nothing else can happen on the connection until the block is complete.
            self.close_with(ErrorCode.ENHANCE_YOUR_CALM, "a header block was not completed in time")
            return
        for stream in list(self.receiving.values()):
            if stream.deadline <= now:
                self.receiving.pop(stream.id, None)
                self.stream_expired(stream)
        self._sweep_sending(now)
        if self._heard:  # idle means no stream and no bytes for the whole period
            self._heard = False
            self.idle_since = now
        if not self.streams and now - self.idle_since > limits.keep_alive_s:
            self.close_with(None)

    def _sweep_sending(self, now: float) -> None:
        """The send timeout: answers whose client opened no window (stream) or read nothing
        (connection) for that long are dropped, and their memory with them."""
        timeout = self.limits.send_timeout_s
        if self._paused_at is not None and now - self._paused_at > timeout:
            log.info("aborting an HTTP/2 connection whose client did not read for %g s", timeout)
            self.abort_now()
            return
        for stream in [s for s in self.streams.values() if s.blocked is not None]:
            if now - stream.blocked_at > timeout:
                self.reset_stream(stream, ErrorCode.CANCEL)
