"""The dynamic batcher: merging, splitting, isolation, back-pressure and draining."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import interlock
import numpy as np
import pytest
from interlock import BatchingOptions, DynamicBatcher
from interlock_conformance import requirement

Arrays = dict[str, np.ndarray]


class Doubler:
    """A real run function (twice the input), recording the row count of every call."""

    def __init__(self, fail_when: Callable[[Arrays], bool] | None = None) -> None:
        self.calls: list[int] = []
        self.fail_when = fail_when
        self.lock = threading.Lock()

    def __call__(self, inputs: Arrays) -> Arrays:
        with self.lock:
            self.calls.append(inputs["x"].shape[0])
        if self.fail_when is not None and self.fail_when(inputs):
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2, "first": inputs["x"][:, :1].copy()}


def rows(value: float, count: int = 1, width: int = 3) -> Arrays:
    return {"x": np.full((count, width), value, dtype=np.float32)}


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def queued(batcher: DynamicBatcher, depth: int, timeout_s: float = 10.0) -> None:
    """Yield to the submitting tasks until ``batcher`` holds ``depth`` requests."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while batcher.queue_depth < depth:
        assert asyncio.get_running_loop().time() < deadline, f"never {depth} requests queued"
        await asyncio.sleep(0)  # one turn of the loop: the tasks run up to their await


@requirement("SRV-024", "SRV-025")
def test_concurrent_requests_are_merged_and_each_caller_gets_its_own_rows() -> None:
    model = Doubler()
    seen: list[int] = []
    batcher = DynamicBatcher(
        model, BatchingOptions(max_batch_size=64, max_batch_delay_ms=50), on_batch=seen.append
    )

    async def main() -> list[Arrays]:
        results = await asyncio.gather(
            *(batcher.submit(rows(i, count=1 + i % 3)) for i in range(20))
        )
        await batcher.close()
        return list(results)

    results = run(main())
    assert isinstance(results, list)
    for i, out in enumerate(results):
        assert out["y"].shape == (1 + i % 3, 3)
        np.testing.assert_array_equal(out["y"], np.full((1 + i % 3, 3), 2.0 * i, dtype=np.float32))
        np.testing.assert_array_equal(out["first"], np.full((1 + i % 3, 1), i, dtype=np.float32))
    assert sum(model.calls) == sum(1 + i % 3 for i in range(20))
    assert len(model.calls) < 20  # merged
    assert max(model.calls) > 3
    assert seen == model.calls


@requirement("SRV-024")
def test_batches_never_exceed_max_batch_size() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, BatchingOptions(max_batch_size=4, max_batch_delay_ms=20))

    async def main() -> None:
        await asyncio.gather(*(batcher.submit(rows(i)) for i in range(10)))
        await batcher.close()

    run(main())
    assert sum(model.calls) == 10
    assert max(model.calls) <= 4


@requirement("SRV-024")
def test_a_request_larger_than_the_batch_limit_runs_alone() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, BatchingOptions(max_batch_size=4, max_batch_delay_ms=5))

    async def main() -> Arrays:
        out = await batcher.submit(rows(1.0, count=9))
        await batcher.close()
        return out

    out = run(main())
    assert isinstance(out, dict)
    assert out["y"].shape == (9, 3)
    assert model.calls == [9]


@requirement("SRV-025")
def test_requests_with_different_trailing_shapes_run_separately() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, BatchingOptions(max_batch_size=64, max_batch_delay_ms=20))

    async def main() -> list[Arrays]:
        results = await asyncio.gather(
            batcher.submit(rows(1, width=3)),
            batcher.submit(rows(2, width=5)),
            batcher.submit(rows(3, width=3)),
            batcher.submit(rows(4, width=5)),
        )
        await batcher.close()
        return list(results)

    results = run(main())
    assert isinstance(results, list)
    assert [r["y"].shape for r in results] == [(1, 3), (1, 5), (1, 3), (1, 5)]
    assert [float(r["y"][0, 0]) for r in results] == [2.0, 4.0, 6.0, 8.0]
    assert sorted(model.calls) == [2, 2]


@requirement("SRV-026")
def test_one_failing_request_does_not_fail_the_others_in_its_batch() -> None:
    model = Doubler(fail_when=lambda inputs: bool((inputs["x"] < 0).any()))
    batcher = DynamicBatcher(model, BatchingOptions(max_batch_size=16, max_batch_delay_ms=20))

    async def main() -> list[object]:
        results = await asyncio.gather(
            *(batcher.submit(rows(v)) for v in (1.0, -1.0, 3.0)), return_exceptions=True
        )
        await batcher.close()
        return list(results)

    first, bad, third = run(main())  # type: ignore[misc]
    assert isinstance(bad, ValueError)
    assert float(first["y"][0, 0]) == 2.0  # type: ignore[index]
    assert float(third["y"][0, 0]) == 6.0  # type: ignore[index]


@requirement("SRV-026")
def test_outputs_without_a_batch_axis_are_not_split_but_run_per_request() -> None:
    def total(inputs: Arrays) -> Arrays:
        return {"sum": np.array([inputs["x"].sum()], dtype=np.float32)}

    batcher = DynamicBatcher(total, BatchingOptions(max_batch_size=16, max_batch_delay_ms=20))

    async def main() -> list[Arrays]:
        results = await asyncio.gather(batcher.submit(rows(1, count=2)), batcher.submit(rows(5)))
        await batcher.close()
        return list(results)

    results = run(main())
    assert isinstance(results, list)
    assert [float(r["sum"][0]) for r in results] == [6.0, 15.0]


@requirement("SRV-021")
def test_a_full_queue_raises_overloaded_error() -> None:
    gate = threading.Event()
    running = threading.Event()

    def blocked(inputs: Arrays) -> Arrays:
        running.set()
        gate.wait(10)
        return {"y": inputs["x"]}

    batcher = DynamicBatcher(
        blocked, BatchingOptions(max_batch_size=2, max_batch_delay_ms=0, max_queue=3)
    )

    async def main() -> list[object]:
        tasks = [asyncio.ensure_future(batcher.submit(rows(i))) for i in range(3)]
        # The first two run (held at the gate), the third waits: three held.
        assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 10)
        assert batcher.queue_depth == 3
        with pytest.raises(interlock.OverloadedError, match="3 requests queued") as caught:
            await batcher.submit(rows(9))
        assert caught.value.retry_after > 0
        gate.set()
        results = await asyncio.gather(*tasks)
        await batcher.close()
        return list(results)

    results = run(main())
    assert isinstance(results, list) and len(results) == 3
    assert batcher.queue_depth == 0


@requirement("SRV-015")
def test_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, BatchingOptions(max_batch_size=8, max_batch_delay_ms=200))

    async def main() -> list[Arrays]:
        tasks = [asyncio.ensure_future(batcher.submit(rows(i))) for i in range(5)]
        await queued(batcher, 5)
        await batcher.close()  # does not wait out the 200 ms delay needlessly, and loses nothing
        with pytest.raises(interlock.OverloadedError, match="shutting down"):
            await batcher.submit(rows(1))
        return list(await asyncio.gather(*tasks))

    results = run(main())
    assert isinstance(results, list)
    assert [float(r["y"][0, 0]) for r in results] == [0.0, 2.0, 4.0, 6.0, 8.0]


@requirement("SRV-027")
def test_cancelled_requests_are_skipped() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, BatchingOptions(max_batch_size=8, max_batch_delay_ms=30))

    async def main() -> Arrays:
        gone = asyncio.ensure_future(batcher.submit(rows(7)))
        kept = asyncio.ensure_future(batcher.submit(rows(8)))
        await queued(batcher, 2)
        gone.cancel()
        out = await kept
        await batcher.close()
        return out

    out = run(main())
    assert isinstance(out, dict)
    assert float(out["y"][0, 0]) == 16.0
    assert model.calls == [1]


def test_batching_options_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        BatchingOptions(max_batch_size=0)
    with pytest.raises(ValidationError):
        BatchingOptions(max_queue=0)
    with pytest.raises(ValidationError):
        BatchingOptions(max_batch_sise=4)  # type: ignore[call-arg]


@requirement("SRV-022")
def test_a_fast_model_runs_on_the_event_loop_and_a_slow_one_in_threads() -> None:
    def recording(delay_s: float) -> tuple[Callable[[Arrays], Arrays], list[int]]:
        threads: list[int] = []

        def run_model(inputs: Arrays) -> Arrays:
            threads.append(threading.get_ident())
            time.sleep(delay_s)  # the model's own duration, what is measured: not a wait
            return {"y": inputs["x"] * 2}

        return run_model, threads

    async def main(run_model: Callable[[Arrays], Arrays], inline_below_ms: float) -> int:
        options = BatchingOptions(max_batch_size=4, max_batch_delay_ms=0,
                                  inline_below_ms=inline_below_ms)
        batcher = DynamicBatcher(run_model, options)
        for value in range(6):
            answer = await batcher.submit(rows(float(value)))
            assert float(answer["y"][0, 0]) == 2 * value
        await batcher.close()
        return threading.get_ident()

    fast, fast_threads = recording(0.0)
    # A generous threshold: on a loaded machine a no-op call measured in a thread can take a
    # millisecond (preemption), which is not what this test is about.
    loop_thread = run(main(fast, 20.0))
    # The first calls run in worker threads while the model is measured, then on the loop:
    # a thread hop would cost more than such a call.
    assert all(thread != loop_thread for thread in fast_threads[:3])
    assert fast_threads[3:] and all(thread == loop_thread for thread in fast_threads[3:])

    slow, slow_threads = recording(0.005)  # 5 ms per row: never under 1 ms, however idle
    loop_thread = run(main(slow, 1.0))
    assert len(slow_threads) == 6 and all(thread != loop_thread for thread in slow_threads)
