"""The sending side and the state of an HTTP/2 server connection (RFC 9113).

:class:`Http2Sender` holds what both directions of a connection share (its streams and the
flow-control windows) and writes frames: responses split to the peer's frame size and held
back while the peer's windows are closed, RST_STREAM, GOAWAY. Writes are coalesced: what is
queued in one turn of the event loop leaves in one ``transport.write``. The receiving side is
:class:`interlock_grpc._h2.Http2Connection`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from interlock_grpc._h2_budget import RequestBudget
from interlock_grpc._frames import (
    DEFAULT_WINDOW,
    MIN_FRAME_SIZE,
    ErrorCode,
    Flag,
    FrameType,
    frame_header,
    goaway,
    rst_stream,
)

__all__ = ["ConnectionLimits", "Http2Sender", "Stream", "debug_text"]

log = logging.getLogger("interlock.grpc")

_END = Flag.END_HEADERS | Flag.END_STREAM
_LINGER_S = 1.0  # after a GOAWAY, how long to wait for the client to close first


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def debug_text(message: str) -> bytes:
    """GOAWAY debug data: the reason in at most 256 bytes, without object addresses."""
    return _ADDRESS.sub("", message).encode("utf-8", "replace")[:256]


class ConnectionLimits:
    """What the server advertises and enforces on every connection."""

    __slots__ = (
        "budget",
        "control_frames_per_s",
        "first_window",
        "initial_window",
        "keep_alive_s",
        "max_connections",
        "max_frame_size",
        "max_header_list_size",
        "max_streams",
        "read_timeout_s",
        "resets_per_s",
        "send_timeout_s",
    )

    def __init__(
        self,
        *,
        read_timeout_s: float,
        keep_alive_s: float,
        initial_window: int = 4 * 1024 * 1024,
        max_streams: int = 128,
        max_frame_size: int = 1024 * 1024,
        max_header_list_size: int = 16 * 1024,
        control_frames_per_s: int = 1000,
        resets_per_s: int = 200,
        buffer_budget: int = 256 * 1024 * 1024,
        max_connections: int | None = None,
        send_timeout_s: float | None = None,
    ) -> None:
        self.read_timeout_s = read_timeout_s
        self.keep_alive_s = keep_alive_s
        #: The window an admitted stream is kept at.
        self.initial_window = initial_window
        #: The window every stream starts with (SETTINGS_INITIAL_WINDOW_SIZE): what a client
        #: may send on a stream before the server admitted it (HTTP/2's default size).
        self.first_window = min(DEFAULT_WINDOW, initial_window)
        self.max_streams = max_streams
        self.max_frame_size = max_frame_size
        self.max_header_list_size = max_header_list_size
        self.control_frames_per_s = control_frames_per_s
        #: Stream resets per second a client may cause, by sending RST_STREAM or by making
        #: the server send one (CVE-2023-44487 and CVE-2025-8671); above: ENHANCE_YOUR_CALM.
        self.resets_per_s = resets_per_s
        #: Request bytes the streams of all connections may buffer (see _h2_budget).
        self.budget = RequestBudget(buffer_budget)
        #: Most connections at once; beyond, a new one gets GOAWAY and is closed.
        self.max_connections = max_connections
        #: How long an answer may wait for a client that does not read it (closed flow
        #: window, or unread socket) before the stream, or connection, is dropped.
        self.send_timeout_s = read_timeout_s if send_timeout_s is None else send_timeout_s


class Stream:
    """One request stream. The HTTP/2 layer owns the first group of fields, the gRPC layer
    the second (it is one class so that a stream is one small object)."""

    __slots__ = (
        # HTTP/2
        "id",
        "receiving",
        "recv_window",
        "send_window",
        "closed",
        "blocked",
        "blocked_at",
        "unsent",
        "held",
        "reserved",
        "admitted",
        "wanted",
        # gRPC
        "head",
        "body",
        "size",
        "expected",
        "opened",
        "deadline",
        "task",
        "timer",
        "cancel_status",
    )

    def __init__(
        self,
        stream_id: int,
        head: Any,
        recv_window: int,
        send_window: int,
        receiving_body: bool = True,
    ) -> None:
        self.id = stream_id
        self.receiving = True  # the client may still send on it
        self.recv_window = recv_window
        self.send_window = send_window
        self.closed = False
        self.blocked: tuple[memoryview, bytes] | None = None  # data and trailers awaiting window
        self.blocked_at = 0.0  # since when (loop time) an answer waits for the client's window
        self.unsent = 0  # answer bytes counted in the budget's output while it waits
        self.held = 0  # DATA bytes received on it
        self.reserved = 0  # bytes of the server's RequestBudget it holds
        self.admitted = not receiving_body  # may receive windows beyond its first
        self.wanted = 0  # while waiting for admission: the size of its request
        self.head = head
        self.body: list[bytes] = []
        self.size = 0
        self.expected = -1
        self.opened = 0.0
        self.deadline = 0.0
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.cancel_status: str | None = None


class Http2Sender:
    """Connection state and the frames a server sends; see the module docstring."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self.streams: dict[int, Stream] = {}
        self.receiving: dict[int, Stream] = {}  # streams still waiting for request bytes
        self.held = 0  # request bytes the open streams hold (see ConnectionLimits.buffer_budget)
        self._last_stream = 0
        self._peer_window = DEFAULT_WINDOW  # the peer's SETTINGS_INITIAL_WINDOW_SIZE
        self._peer_max_frame = MIN_FRAME_SIZE
        self._send_window = DEFAULT_WINDOW  # connection-level, ours to spend
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._goaway_sent = False
        self._peer_goaway = False
        self._linger: asyncio.TimerHandle | None = None
        self.idle_since = self._loop.time()

    def stream_cancelled(self, stream: Stream) -> None:
        """``stream`` was reset (by the client) or its connection is gone."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        # Coalesced: everything queued in one turn of the event loop leaves in one write.
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out, self._out = self._out, []
        transport = self._transport
        if out and transport is not None and not transport.is_closing():
            transport.write(b"".join(out) if len(out) > 1 else out[0])

    def send_response(self, stream: Stream, head: bytes, message: bytes, trailers: bytes) -> None:
        """Send a response on ``stream`` and end it: the header block ``head`` (none when
        empty), ``message`` as DATA within the flow-control windows, then the header block
        ``trailers`` with END_STREAM. Blocks must fit in one frame (the server's do)."""
        if stream.closed:
            return
        sid = stream.id
        parts: list[bytes] = []
        if head:
            parts.append(frame_header(FrameType.HEADERS, Flag.END_HEADERS, sid, len(head)))
            parts.append(head)
        size = len(message)
        if size:
            if (
                size <= stream.send_window
                and size <= self._send_window
                and (size <= self._peer_max_frame)
            ):
                parts.append(frame_header(FrameType.DATA, 0, sid, size))
                parts.append(message)
                stream.send_window -= size
                self._send_window -= size
            else:
                rest = self._data_frames(stream, memoryview(message), parts)
                if rest:
                    stream.blocked = (rest, trailers)
                    stream.blocked_at = self._loop.time()
                    stream.unsent = len(rest)
                    self.limits.budget.output += stream.unsent
                    self._write(b"".join(parts))
                    return
        parts.append(frame_header(FrameType.HEADERS, _END, sid, len(trailers)))
        parts.append(trailers)
        self._write(b"".join(parts))
        self._finish(stream)

    def _data_frames(self, stream: Stream, data: memoryview, parts: list[bytes]) -> memoryview:
        """Append DATA frames of ``data`` as far as the windows allow; return what is left."""
        while data:
            size = min(len(data), stream.send_window, self._send_window, self._peer_max_frame)
            if size <= 0:
                break
            parts.append(frame_header(FrameType.DATA, 0, stream.id, size))
            parts.append(bytes(data[:size]))
            data = data[size:]
            stream.send_window -= size
            self._send_window -= size
        return data

    def _send_pending(self, stream: Stream) -> None:
        assert stream.blocked is not None
        data, trailers = stream.blocked
        parts: list[bytes] = []
        rest = self._data_frames(stream, data, parts)
        if rest:
            stream.blocked = (rest, trailers)
            if parts:
                stream.blocked_at = self._loop.time()  # progress: the send timeout restarts
                self._write(b"".join(parts))
            return
        stream.blocked = None
        parts.append(frame_header(FrameType.HEADERS, _END, stream.id, len(trailers)))
        parts.append(trailers)
        self._write(b"".join(parts))
        self._finish(stream)

    def _send_blocked(self) -> None:
        for stream in [s for s in self.streams.values() if s.blocked is not None]:
            if self._send_window <= 0:
                break
            self._send_pending(stream)

    def _finish(self, stream: Stream) -> None:
        """The response has ended the stream (on our side)."""
        if stream.receiving:
            # An early answer (an error) to a request still being sent: the client may
            # stop sending (RFC 9113 section 8.1).
            self._write(rst_stream(stream.id, ErrorCode.NO_ERROR))
        self._forget(stream)

    def reset_stream(self, stream: Stream, code: int) -> None:
        """End ``stream`` with RST_STREAM ``code``; its request, if running, is cancelled."""
        if stream.closed:
            return
        self._write(rst_stream(stream.id, code))
        self._forget(stream)
        self.stream_cancelled(stream)

    def _release_output(self, stream: Stream) -> None:
        if stream.unsent:
            budget = self.limits.budget
            budget.output -= stream.unsent
            budget.freed += stream.unsent
            stream.unsent = 0

    def _forget(self, stream: Stream) -> None:
        if stream.held:
            self.held -= stream.held
            stream.held = 0
        self._release_output(stream)
        self.limits.budget.release(stream)
        stream.closed = True
        stream.receiving = False
        stream.blocked = None
        self.streams.pop(stream.id, None)
        self.receiving.pop(stream.id, None)
        if not self.streams:
            self.idle_since = self._loop.time()
            if self._goaway_sent or self._peer_goaway:
                self.close_with(None)

    # -- ending the connection ---------------------------------------------------------------

    def go_away(self) -> None:
        """Graceful shutdown: announce that no stream above the last one will be processed;
        streams in flight are still answered, and new ones refused."""
        if not self._goaway_sent and self._transport is not None:
            self._goaway_sent = True
            self._write(goaway(self._last_stream, ErrorCode.NO_ERROR))
            if not self.streams:
                self.close_with(None)

    def close_with(self, code: int | None, message: str = "") -> None:
        """End the connection: with GOAWAY ``code`` (a protocol error) at once, or, for None,
        after the GOAWAY already sent, once the client had a moment to read it and close."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if code is not None:
            if code != ErrorCode.NO_ERROR:
                log.info("closing an HTTP/2 connection: %s", message)
            self._goaway_sent = True
            self._write(goaway(self._last_stream, code, debug_text(message)))
            self._flush()
            streams = list(self.streams.values())
            self.streams.clear()
            self.receiving.clear()
            for stream in streams:
                stream.closed, stream.receiving, stream.blocked = True, False, None
                self._release_output(stream)
                self.limits.budget.release(stream)
                self.stream_cancelled(stream)
            transport.close()
            return
        if not self._goaway_sent:
            self._goaway_sent = True
            self._write(goaway(self._last_stream, ErrorCode.NO_ERROR))
        self._flush()
        if self._peer_goaway:
            transport.close()  # the client said it sends nothing more
            return
        # Closing at once could reset a client whose new request is already on the way before
        # it reads the GOAWAY; give it a moment to close first.
        if self._linger is None:
            self._linger = self._loop.call_later(_LINGER_S, transport.close)

    def abort_now(self) -> None:
        """Drop the connection and whatever it has not sent yet."""
        if self._transport is not None:
            self._transport.abort()

    def abort(self) -> None:
        """Close the connection now (the server is gone)."""
        if self._transport is not None:
            self._flush()
            self._transport.close()
