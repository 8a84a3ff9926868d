"""Control frames of an HTTP/2 server connection (RFC 9113): SETTINGS, PING, WINDOW_UPDATE,
RST_STREAM, PRIORITY, GOAWAY, unknown types, and the budgets that bound what a client may
spend on them (control frames per second; stream resets per second, whether the client sent
them or made the server send them).
"""

from __future__ import annotations

import struct

from interlock_grpc._frames import (
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
)
from interlock_grpc._h2_sending import Http2Sender

__all__ = ["Http2Control"]

_U32 = struct.Struct(">I")


class Http2Control(Http2Sender):
    """The control-frame half of :class:`interlock_grpc._h2.Http2Connection`."""

    _budget_start: float
    _control_frames: int
    _resets: int

    def _on_continuation(self, payload: bytes, flags: int, stream_id: int) -> None:
        raise NotImplementedError

    def provoked_reset(self) -> None:
        """Count a stream reset the client made the server send (CVE-2025-8671, "MadeYouReset")
        as one it sent; past the limit the connection ends with ENHANCE_YOUR_CALM."""
        self._spend_control_budget()
        self._resets += 1
        if self._resets > self.limits.resets_per_s:
            raise H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets")


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
                self.provoked_reset()
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
            self.provoked_reset()
            self.reset_stream(stream, ErrorCode.PROTOCOL_ERROR)
            return
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW:
            self.provoked_reset()
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
