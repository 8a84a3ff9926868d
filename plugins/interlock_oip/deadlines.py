"""Read timeouts for many concurrent requests, kept with one periodic timer.

A front end must not let a client that sends its request slowly hold a request open forever,
so every request read has a deadline. A timer per request (``asyncio.timeout``,
``asyncio.wait_for``) costs more than everything else a small inference request does outside
the model; with :class:`Deadlines` a request only records its task and deadline in a dict,
and one callback, scheduled while reads are in progress, cancels the reads that are late.
A late read is noticed at most a quarter of the timeout (and at most a second) after its
deadline.

Usage, on the event loop::

    task = deadlines.start()
    try:
        message = await receive()
    except asyncio.CancelledError:
        if deadlines.expired(task):
            raise RequestTimeout(...) from None
        raise
    finally:
        deadlines.finish(task)
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadlines"]


class Deadlines:
    """Deadlines of ``seconds`` for reads in progress on one event loop."""

    __slots__ = ("_expired", "_interval", "_loop", "_reading", "_sweep", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._interval = min(1.0, max(seconds / 4, 0.005))
        self._reading: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[object]:
        """Start the clock for the current task's read; return the task."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - front ends always run requests in tasks
            raise RuntimeError("Deadlines.start() must be called from a task")
        loop = task.get_loop()
        self._reading[task] = loop.time() + self.seconds
        if self._sweep is None:
            self._loop = loop
            self._sweep = loop.call_later(self._interval, self._cancel_late)
        return task

    def finish(self, task: asyncio.Task[object]) -> None:
        """The read of ``task`` is over (done, failed or expired)."""
        self._reading.pop(task, None)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether ``task`` was cancelled because its read was late.

        Call it where ``CancelledError`` is caught: when true, the cancellation is withdrawn
        (the task goes on to answer the client), otherwise it must be re-raised.
        """
        if task not in self._expired:
            return False
        self._expired.discard(task)
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        return True

    def _cancel_late(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        late = [task for task, deadline in self._reading.items() if deadline <= now]
        for task in late:
            del self._reading[task]
            self._expired.add(task)
            task.cancel()
        # Rescheduled only while reads are in progress: an idle server has no timer.
        self._sweep = (
            self._loop.call_later(self._interval, self._cancel_late) if self._reading else None
        )
