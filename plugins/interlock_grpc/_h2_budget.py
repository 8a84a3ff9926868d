"""The server-wide budget for request bytes that HTTP/2 streams may buffer, and stream
admission under it.

Flow control bounds what a client may send: a stream may send its window (the server's
``INITIAL_WINDOW_SIZE``) before the server grants more. The budget decides who gets more, per
stream, never by withholding the connection window (that starves every stream at once: with
30 large calls on one connection, none can finish). A stream with a body first *reserves* one
window's worth as **pending**; once its message's length prefix tells its size, it is
**admitted** if the budget can hold the whole message, and then receives windows as usual. A
stream that cannot be admitted yet keeps its window closed and waits (first come, first
served) until admitted streams finish. New streams are refused (``REFUSED_STREAM``, which gRPC
clients retry) while pending reservations would exceed half the budget, so that the other half
can always admit a waiting stream: no state in which every stream waits for another.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from interlock_grpc._h2_sending import Stream

__all__ = ["Admitter", "RequestBudget"]


class Admitter(Protocol):
    """A connection that opens a waiting stream's window once it is admitted."""

    def stream_admitted(self, stream: Stream) -> None:
        """``stream`` was admitted: grant it its window."""


class RequestBudget:
    """Request bytes all streams of one server may buffer: ``limit``, of which ``reserved``
    are spoken for (``pending`` of them by streams not admitted yet)."""

    __slots__ = ("freed", "limit", "output", "pending", "reserved", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved = 0
        self.pending = 0
        self.waiting: deque[tuple[Admitter, Stream]] = deque()
        #: Bytes released since the server last gave memory back (interlock.serving.oip.memory).
        self.freed = 0
        #: Answer bytes waiting for clients' flow-control windows, on all connections: while
        #: they exceed ``limit``, new streams are refused (REFUSED_STREAM).
        self.output = 0

    def open(self, stream: Stream, window: int) -> bool:
        """Reserve ``window`` bytes for a new stream with a body, or refuse it (False)."""
        if self.reserved and self.pending + window > self.limit // 2:
            return False
        stream.reserved = window
        self.reserved += window
        self.pending += window
        return True

    def admit(self, stream: Stream, size: int) -> bool:
        """Admit ``stream``, whose whole request is ``size`` bytes, if the budget holds it;
        else it waits (False) and its connection is told when it is admitted."""
        if stream.admitted:
            return True
        extra = max(size - stream.reserved, 0)
        alone = self.reserved == stream.reserved  # nothing else buffered: always admitted
        if extra and not alone and self.reserved + extra > self.limit:
            return False
        self.pending -= stream.reserved
        self.reserved += extra
        stream.reserved += extra
        stream.admitted = True
        return True

    def wait(self, connection: Admitter, stream: Stream, size: int) -> None:
        """Queue ``stream`` (of ``size`` bytes) until :meth:`release` can admit it."""
        stream.wanted = size
        self.waiting.append((connection, stream))

    def settle(self, stream: Stream) -> None:
        """``stream``'s request arrived whole: what it reserved is no longer pending."""
        if not stream.admitted:
            self.pending -= stream.reserved
            stream.admitted = True

    def release(self, stream: Stream) -> None:
        """``stream`` is done with its reservation; admit whoever waits and now fits."""
        if stream.reserved:
            self.reserved -= stream.reserved
            self.freed += stream.reserved
            if not stream.admitted:
                self.pending -= stream.reserved
            stream.reserved = 0
        stream.admitted = True  # nothing more to admit
        waiting = self.waiting
        while waiting:
            connection, head = waiting[0]
            if head.closed or head.admitted:
                waiting.popleft()
                continue
            if not self.admit(head, head.wanted):
                break
            waiting.popleft()
            connection.stream_admitted(head)
