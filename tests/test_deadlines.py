"""Read timeouts kept by one shared timer (interlock_oip.deadlines), as the front ends use them."""

from __future__ import annotations

import asyncio
import time

import pytest
from interlock_oip.deadlines import Deadlines


async def guarded_read(deadlines: Deadlines, read: asyncio.Future[str]) -> str:
    """The front ends' pattern: start the clock, await the read, tell a timeout apart."""
    task = deadlines.start()
    try:
        return await read
    except asyncio.CancelledError:
        if deadlines.expired(task):
            return "timed out"
        raise
    finally:
        deadlines.finish(task)


def test_a_late_read_is_cancelled_and_reported_as_expired() -> None:
    async def main() -> tuple[str, float, str]:
        deadlines = Deadlines(0.1)
        never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        started = time.monotonic()

        async def request() -> tuple[str, str]:
            outcome = await guarded_read(deadlines, never)
            # The cancellation was withdrawn: the task goes on to answer its client.
            await asyncio.sleep(0.01)
            return outcome, "answered"

        outcome, after = await asyncio.wait_for(request(), 10)
        return outcome, time.monotonic() - started, after

    outcome, elapsed, after = asyncio.run(main())
    assert outcome == "timed out"
    assert after == "answered"
    # Noticed within a quarter of the timeout after the deadline (plus scheduling slack).
    assert 0.09 <= elapsed < 1.0


def test_a_read_that_arrives_in_time_is_never_cancelled_later() -> None:
    async def main() -> str:
        deadlines = Deadlines(0.05)
        loop = asyncio.get_running_loop()
        read: asyncio.Future[str] = loop.create_future()
        loop.call_later(0.01, read.set_result, "body")

        async def request() -> str:
            body = await guarded_read(deadlines, read)
            await asyncio.sleep(0.2)  # well past the deadline: work after the read is free
            return body

        return await asyncio.wait_for(request(), 10)

    assert asyncio.run(main()) == "body"


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    async def main() -> None:
        deadlines = Deadlines(30.0)
        never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(guarded_read(deadlines, never))
        await asyncio.sleep(0.01)
        task.cancel()  # say, the server's grace period ran out
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_many_concurrent_reads_each_get_their_own_outcome() -> None:
    async def main() -> list[str]:
        deadlines = Deadlines(0.1)
        loop = asyncio.get_running_loop()
        reads: list[asyncio.Future[str]] = [loop.create_future() for _ in range(20)]
        for index, read in enumerate(reads):
            if index % 2 == 0:  # every other read arrives in time
                loop.call_later(0.01, read.set_result, f"body {index}")
        return list(
            await asyncio.wait_for(
                asyncio.gather(*(guarded_read(deadlines, read) for read in reads)), 10
            )
        )

    outcomes = asyncio.run(main())
    assert outcomes == [f"body {i}" if i % 2 == 0 else "timed out" for i in range(20)]
