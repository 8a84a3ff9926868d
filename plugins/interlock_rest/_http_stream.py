"""Writing a streamed answer in the chunked transfer coding (RFC 9112 section 7.1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from interlock_rest._http_messages import Request, StreamedResponse, log_access, response_head
from interlock_rest._http_states import ConnectionState

if TYPE_CHECKING:
    from interlock_rest._http_states import ConnectionOwner

__all__ = ["StreamTarget", "StreamWriter", "pump"]

_CLOSED = ConnectionState.CLOSED
logger = logging.getLogger("interlock.rest")


class StreamTarget(Protocol):
    """What :func:`pump` needs of a connection."""

    def write_chunk(self, data: bytes) -> None:
        """Write bytes to the client; raise ConnectionError if it is gone."""

    async def writable(self) -> None:
        """Return once the client's buffer has room."""


async def pump(target: StreamTarget, chunks: AsyncIterator[bytes]) -> int:
    """Send every chunk of ``chunks`` as it comes, then the last chunk; return the bytes of
    data sent. The producer is closed however this ends (the client left, the server cut the
    stream off), so that it stops the work behind it."""
    sent = 0
    try:
        async for chunk in chunks:
            if chunk:
                target.write_chunk(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                await target.writable()
        target.write_chunk(b"0\r\n\r\n")
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    return sent


class StreamWriter:
    """The streamed-answer half of :class:`interlock_rest._http_connection.HttpConnection`:
    the head at once, then each chunk as the client takes it; the connection's next request
    waits until the stream ends."""

    # Set by the connection.
    _transport: asyncio.Transport | None
    _state: ConnectionState
    _server: ConnectionOwner
    _loop: asyncio.AbstractEventLoop
    _output: int
    _blocked_since: int | None
    _writable: asyncio.Future[None] | None
    _streaming: bool
    _answered: int
    _idle_since: int
    _peer: str
    active: asyncio.Task[Any] | None

    def _track_output(self) -> None:
        """Keep the server's count of unread answer bytes current for this connection."""
        transport = self._transport
        size = 0 if transport is None else transport.get_write_buffer_size()
        if size != self._output:
            self._server.output_changed(size - self._output)
            self._output = size

    def _dispatch(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _stream(self, request: Request, reply: StreamedResponse) -> None:
        """Send the head now and each chunk as it comes; later requests wait for the end."""
        close = not request.keep_alive or self._server.draining
        assert self._transport is not None
        self._transport.write(response_head(reply.status, self._server.date,
                                            reply.content_type, None, reply.headers, close))
        self._streaming = True
        self.active = self._loop.create_task(pump(self, reply.chunks))
        self.active.add_done_callback(partial(self._streamed, request, reply.status, close))

    def _streamed(self, request: Request, status: int, close: bool,
                  task: asyncio.Task[int]) -> None:
        self.active = None
        self._streaming = False
        self._answered += 1
        self._idle_since = self._server.sweep
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            if error is not None and not isinstance(error, ConnectionError):
                logger.error("unexpected error streaming %s", request.path, exc_info=error)
            if self._transport is not None:
                self._transport.abort()  # a stream cut short cannot end in a valid frame
            return
        if self._server.access is not None:
            log_access(self._server.access, self._peer, request, status, task.result())
        if close:
            self.close()
        elif self._state is not _CLOSED:
            self._dispatch()

    def write_chunk(self, data: bytes) -> None:
        """Write one piece of a streamed answer (:func:`interlock_rest._http_stream.pump`)."""
        transport = self._transport
        if transport is None or self._state is _CLOSED or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        transport.write(data)
        if transport.get_write_buffer_size() or self._output:
            self._track_output()

    async def writable(self) -> None:
        """Return once the client reads again (at once unless its buffer is full)."""
        while self._blocked_since is not None and self._state is not _CLOSED:
            self._writable = self._loop.create_future()
            await self._writable

    def _wake_writer(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

