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
    MAX_FRAME_SIZE_LIMIT,
    MAX_WINDOW,
    MIN_FRAME_SIZE,
    ErrorCode,
    Flag,
    FrameType,
    H2ConnectionError,
    Setting,
    frame,
    rst_stream,
    settings_frame,
    window_update,
)
from interlock_grpc._h2_sending import ConnectionLimits, Http2Sender, Stream
from interlock_grpc._header_blocks import HeaderBlockDecoder

__all__ = ["ConnectionLimits", "Http2Connection", "Stream"]

log = logging.getLogger("interlock.grpc")

_HEADER = struct.Struct(">IBI")
_U32 = struct.Struct(">I")


class Http2Connection(Http2Sender, asyncio.Protocol):
    """One HTTP/2 server connection; subclasses implement the request hooks."""

    def __init__(self, limits: ConnectionLimits, registry: set[Http2Connection]) -> None:
        super().__init__(limits)
        self._registry = registry
        self._rest = bytearray()  # bytes of an incomplete frame (or preface)
        self._need = 0  # how many bytes _rest must hold before it is worth parsing
        self._preface = True  # still waiting for the client preface
        self._first_frame = True  # the first frame after it must be SETTINGS
        self._headers = HeaderBlockDecoder(limits.max_header_list_size, self.parse_head)
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

    def _replenish(self) -> None:
        if self._recv_unacked >= self._conn_window >> 1 and self.held <= self.limits.buffer_budget:
            self._write(window_update(0, self._recv_unacked))
            self._recv_window += self._recv_unacked
            self._recv_unacked = 0

    # -- hooks -------------------------------------------------------------------------------

    def parse_head(self, headers: list[tuple[bytes, bytes]]) -> Any:
        """The request head for a decoded header list; must depend on ``headers`` only."""
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
        self._registry.add(self)
        limits = self.limits
        settings = {
            Setting.MAX_CONCURRENT_STREAMS: limits.max_streams,
            Setting.INITIAL_WINDOW_SIZE: limits.initial_window,
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
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
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
            self.reset_stream(stream, ErrorCode.STREAM_CLOSED)
            return
        stream.recv_window -= length
        if stream.recv_window < 0:
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
            self.stream_ended(stream)
        elif stream.recv_window < self.limits.initial_window >> 1:
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
            if stream is None:
                self._write(rst_stream(stream_id, ErrorCode.STREAM_CLOSED))
            elif not end_stream:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
            elif not stream.receiving:
                self.reset_stream(stream, ErrorCode.STREAM_CLOSED)
            else:  # request trailers: gRPC clients send none, but they end the request
                stream.receiving = False
                self.receiving.pop(stream_id, None)
                self.stream_ended(stream)
            return
        self._last_stream = stream_id
        head = self._headers.decode(block)
        if self._goaway_sent or self._peer_goaway or len(self.streams) >= self.limits.max_streams:
            self._spend_control_budget()
            self._write(rst_stream(stream_id, ErrorCode.REFUSED_STREAM))
            return
        stream = Stream(stream_id, head, self.limits.initial_window, self._peer_window)
        self.streams[stream_id] = stream
        if end_stream:
            stream.receiving = False
        else:
            self.receiving[stream_id] = stream
        self.stream_opened(stream)

    def _on_control(self, kind: int, payload: bytes, flags: int, stream_id: int) -> None:
        if kind == FrameType.WINDOW_UPDATE:
            self._on_window_update(payload, stream_id)
        elif kind == FrameType.CONTINUATION:
            self._on_continuation(payload, flags, stream_id)
        elif kind == FrameType.SETTINGS:
            self._on_settings(payload, flags, stream_id)
        elif kind == FrameType.PING:
            if stream_id != 0:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
            if len(payload) != 8:
                raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING of a wrong size")
            self._spend_control_budget()
            if not flags & Flag.ACK:  # the server sends no PING: an ACK needs no answer
                self._write(frame(FrameType.PING, Flag.ACK, 0, payload))
        elif kind == FrameType.RST_STREAM:
            self._on_rst_stream(payload, stream_id)
        elif kind == FrameType.PRIORITY:
            if stream_id == 0:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0")
            self._spend_control_budget()
            if len(payload) != 5:
                stream = self.streams.get(stream_id)
                if stream is not None:
                    self.reset_stream(stream, ErrorCode.FRAME_SIZE_ERROR)
                else:
                    self._write(rst_stream(stream_id, ErrorCode.FRAME_SIZE_ERROR))
        elif kind == FrameType.GOAWAY:
            if stream_id != 0:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
            if len(payload) < 8:
                raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY too short")
            # The client opens no more streams; those in flight are still answered.
            self._peer_goaway = True
            if not self.streams:
                self.close_with(None)
        elif kind == FrameType.PUSH_PROMISE:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "a client must not push")
        else:
            self._spend_control_budget()  # unknown frame types are ignored (RFC 9113 5.5)

    def _on_settings(self, payload: bytes, flags: int, stream_id: int) -> None:
        if stream_id != 0:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & Flag.ACK:
            if payload:
                raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            self._spend_control_budget()
            return
        if len(payload) % 6:
            raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of a wrong size")
        self._spend_control_budget()
        for offset in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == Setting.INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "window too large")
                delta, self._peer_window = value - self._peer_window, value
                for stream in self.streams.values():
                    stream.send_window += delta
                    if stream.send_window > MAX_WINDOW:
                        raise H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "window overflow")
            elif key == Setting.MAX_FRAME_SIZE:
                if not MIN_FRAME_SIZE <= value <= MAX_FRAME_SIZE_LIMIT:
                    raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "invalid MAX_FRAME_SIZE")
                self._peer_max_frame = value
            elif key == Setting.ENABLE_PUSH and value > 1:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "invalid ENABLE_PUSH")
            # The rest limit what we send: no pushes, no dynamic table, tiny header lists.
        self._write(frame(FrameType.SETTINGS, Flag.ACK, 0))
        self._send_blocked()

    def _on_window_update(self, payload: bytes, stream_id: int) -> None:
        if len(payload) != 4:
            raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of a wrong size")
        increment = _U32.unpack(payload)[0] & 0x7FFFFFFF
        if stream_id == 0:
            if increment == 0:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > MAX_WINDOW:
                raise H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "window overflow")
            self._send_blocked()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            if stream_id > self._last_stream:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream")
            self._spend_control_budget()  # late but legal; many of them are not
            return
        if increment == 0:
            self.reset_stream(stream, ErrorCode.PROTOCOL_ERROR)
            return
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW:
            self.reset_stream(stream, ErrorCode.FLOW_CONTROL_ERROR)
        elif stream.blocked is not None:
            self._send_pending(stream)

    def _on_rst_stream(self, payload: bytes, stream_id: int) -> None:
        if stream_id == 0:
            raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of a wrong size")
        stream = self.streams.get(stream_id)
        if stream is None:
            if stream_id > self._last_stream:
                raise H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream")
            return
        # Rapid reset (CVE-2023-44487): streams opened and reset at once cost the server
        # work and complete nothing; a client doing that too often loses its connection.
        self._spend_control_budget()
        self._resets += 1
        if self._resets > self.limits.resets_per_s:
            raise H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets")
        self._forget(stream)
        self.stream_cancelled(stream)

    def _spend_control_budget(self) -> None:
        now = self._loop.time()
        if now - self._budget_start >= 1.0:
            self._budget_start, self._control_frames, self._resets = now, 0, 0
        self._control_frames += 1
        if self._control_frames > self.limits.control_frames_per_s:
            raise H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many control frames")

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
        if not self.streams and now - self.idle_since > limits.keep_alive_s:
            self.close_with(None)
