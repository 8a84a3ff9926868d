"""Dynamic batching: merge concurrent requests for one model into one runtime call.

Part of the serving core, which knows neither the wire protocol nor the runtime: it takes a
plain ``run(inputs) -> outputs`` function. Requests wait in a bounded queue; the worker takes
the oldest one, waits up to ``max_batch_delay_ms`` for more requests of the same trailing
shapes, concatenates them along the first axis, runs the model once and hands every caller
exactly its own rows back (spec: serving.md, SRV-023 to SRV-027).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from interlock.errors import OverloadedError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BatchingOptions", "DynamicBatcher", "RunFunction"]

#: A model call: validated input tensors in, every output tensor out.
RunFunction = Callable[[dict[str, "np.ndarray"]], dict[str, "np.ndarray"]]


class BatchingOptions(BaseModel):
    """How a served model queues, batches and runs its requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int = Field(
        default=1, ge=1, description="Most rows in one merged runtime call; 1 turns batching off."
    )
    max_batch_delay_ms: float = Field(
        default=2.0, ge=0, le=60_000, description="How long the oldest request waits for company."
    )
    max_queue: int = Field(
        default=256,
        ge=1,
        description="Most requests a model holds at once (waiting or running); "
        "one more is refused with interlock.OverloadedError (HTTP 503, gRPC UNAVAILABLE).",
    )
    inline_below_ms: float = Field(
        default=1.0,
        ge=0,
        description="Without batching, a model whose calls take less than this "
        "(running average) runs on the event loop itself, saving a thread hop; slower "
        "models run in worker threads so the server stays responsive. 0 = always threads.",
    )


@dataclass(eq=False)
class _Request:
    inputs: dict[str, np.ndarray]
    rows: int
    key: tuple[tuple[str, str, tuple[int, ...]], ...]
    future: asyncio.Future[dict[str, np.ndarray]] = field(repr=False)


def _merge_key(inputs: dict[str, np.ndarray]) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """Requests merge only when every input has the same dtype and trailing dimensions."""
    return tuple(sorted((n, a.dtype.str, tuple(a.shape[1:])) for n, a in inputs.items()))


class DynamicBatcher:
    """Merge concurrent requests for one model along the first (batch) axis.

    ``run`` is called with the concatenated inputs at most once at a time per batcher: in a
    worker thread (``executor``; the default executor when None), so that new requests
    gather while a batch runs, or, once its calls are known to take less than
    ``inline_below_ms`` per row (running average), on the event loop itself, where a thread
    hop would cost more than the call. Every output must have as many rows as the merged
    inputs; when one does not, the requests of that batch are run one by one instead, as they
    are when the merged call fails (so one bad request cannot fail its neighbours).
    ``on_batch(rows)`` is told the row count of every runtime call (metrics).

    One batcher serves one asyncio event loop.
    """

    def __init__(
        self,
        run: RunFunction,
        options: BatchingOptions,
        *,
        name: str = "model",
        executor: concurrent.futures.Executor | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self.options = options
        self.name = name
        self._executor = executor
        self._on_batch = on_batch
        self._pending: collections.deque[_Request] = collections.deque()
        self._running = 0
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self._timer = RunTimer()
        self._inline_below_s = options.inline_below_ms / 1000.0

    @property
    def queue_depth(self) -> int:
        """Requests waiting or running right now."""
        return len(self._pending) + self._running

    async def submit(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Queue validated ``inputs`` (each with a first, batch, axis) and await the outputs.

        Raises :class:`interlock.OverloadedError` when the queue is full or the batcher is
        closing.
        """
        if self._closing:
            raise OverloadedError(f"model {self.name!r} is shutting down", retry_after=1.0)
        if len(self._pending) + self._running >= self.options.max_queue:
            raise OverloadedError(
                f"model {self.name!r} has {self.options.max_queue} requests queued",
                retry_after=1.0,
            )
        loop = asyncio.get_running_loop()
        if self._worker is None:
            self._wakeup = asyncio.Event()
            self._worker = loop.create_task(self._work(), name=f"interlock-batcher-{self.name}")
        rows = next(iter(inputs.values())).shape[0] if inputs else 0
        request = _Request(inputs, int(rows), _merge_key(inputs), loop.create_future())
        self._pending.append(request)
        assert self._wakeup is not None
        self._wakeup.set()
        return await request.future

    async def close(self) -> None:
        """Refuse new requests, finish every queued one, stop the worker."""
        self._closing = True
        if self._worker is not None and self._wakeup is not None:
            self._wakeup.set()
            await self._worker

    # -- worker ------------------------------------------------------------------------------

    def _compatible_rows(self, key: tuple[tuple[str, str, tuple[int, ...]], ...]) -> int:
        return sum(r.rows for r in self._pending if r.key == key and not r.future.done())

    async def _work(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        loop = asyncio.get_running_loop()
        limit = self.options.max_batch_size
        delay = self.options.max_batch_delay_ms / 1000.0
        while True:
            while not self._pending:
                if self._closing:
                    return
                wakeup.clear()
                await wakeup.wait()
            first = self._pending[0]
            if first.future.done():  # the caller went away (cancelled)
                self._pending.popleft()
                continue
            deadline = loop.time() + delay
            while not self._closing and self._compatible_rows(first.key) < limit:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take(first, limit)
            self._running = len(batch)
            try:
                await self._execute(batch)
            finally:
                self._running = 0

    def _take(self, first: _Request, limit: int) -> list[_Request]:
        """Pop the oldest request and, in arrival order, the compatible ones that fit."""
        batch = [first]
        rows = first.rows
        keep: collections.deque[_Request] = collections.deque()
        self._pending.popleft()
        while self._pending:
            request = self._pending.popleft()
            if request.future.done():
                continue
            if request.key == first.key and rows + request.rows <= limit:
                batch.append(request)
                rows += request.rows
            else:
                keep.append(request)
        self._pending = keep
        return batch

    async def _call(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        timer = self._timer
        per_row = max(rows, 1)
        if timer.calls >= 3 and timer.average_s * per_row < self._inline_below_s:
            # Known-fast model: the thread hop would cost more than the call blocks the loop.
            start = time.perf_counter()
            outputs = self._run(inputs)
            timer.record((time.perf_counter() - start) / per_row)
        else:
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(self._executor, self._timed_run, inputs, per_row)
        if self._on_batch is not None:
            self._on_batch(rows)
        return outputs

    def _timed_run(self, inputs: dict[str, np.ndarray], per_row: int) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = self._run(inputs)
        # Per row, so that a large batch is not predicted to be as fast as a small one.
        self._timer.record((time.perf_counter() - start) / per_row)
        return outputs

    async def _execute(self, batch: list[_Request]) -> None:
        if len(batch) == 1:
            await self._execute_one(batch[0])
            return
        import numpy as np

        total = sum(r.rows for r in batch)
        names = list(batch[0].inputs)
        merged = {n: np.concatenate([r.inputs[n] for r in batch], axis=0) for n in names}
        try:
            outputs = await self._call(merged, total)
        except Exception:
            outputs = None  # isolate the culprit: run the requests one by one
        if outputs is None or any(a.ndim == 0 or a.shape[0] != total for a in outputs.values()):
            for request in batch:
                await self._execute_one(request)
            return
        start = 0
        for request in batch:
            end = start + request.rows
            if not request.future.done():
                request.future.set_result({n: a[start:end] for n, a in outputs.items()})
            start = end

    async def _execute_one(self, request: _Request) -> None:
        if request.future.done():
            return
        try:
            outputs = await self._call(request.inputs, request.rows)
        except Exception as exc:
            if not request.future.done():
                request.future.set_exception(exc)
            return
        if not request.future.done():
            request.future.set_result(outputs)


class RunTimer:
    """Running average of a model's call time, deciding whether calls may run inline."""

    __slots__ = ("average_s", "calls")

    def __init__(self) -> None:
        self.average_s = 0.0
        self.calls = 0

    def record(self, seconds: float) -> None:
        """Fold one call's duration into the exponential moving average."""
        self.calls += 1
        weight = 0.1 if self.calls > 10 else 1.0 / self.calls
        self.average_s += (seconds - self.average_s) * weight

    @staticmethod
    def now() -> float:
        return time.perf_counter()
