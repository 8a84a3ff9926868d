"""Batched decode steps: the one-token steps of concurrent requests merged into one graph call.

A request's key/value cache has its own length; a merged step pads the shorter caches on the
left with zeros that the attention mask hides, gives each row its own position, and hands each
request back its own slice of the present cache (text.md TXT-039). One thread runs the merged
steps; a request that is alone runs its step on its own thread, without the hop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from interlock.artifacts import TextInfo

__all__ = ["Cache", "StepBatcher"]

Cache = list[tuple[np.ndarray, np.ndarray]]
Infer = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class _Step:
    __slots__ = ("done", "error", "length", "past", "result", "token")

    def __init__(self, token: int, past: Cache, length: int) -> None:
        self.token = token
        self.past = past
        self.length = length
        self.done = threading.Event()
        self.result: tuple[np.ndarray, Cache] | None = None
        self.error: BaseException | None = None


class StepBatcher:
    """Runs decode steps, merging those that wait at the same time (at most ``limit``)."""

    def __init__(self, text: TextInfo, infer: Infer, limit: int) -> None:
        assert text.kv_cache is not None and text.logits is not None
        self._text = text
        self._infer = infer
        self._limit = limit
        self._past = text.kv_cache.past_names()
        self._present = text.kv_cache.present_names()
        self._lock = threading.Condition()
        self._waiting: list[_Step] = []
        self._worker: threading.Thread | None = None
        #: Merged graph calls made and the request steps they ran (rows / calls: the merge).
        self.calls = 0
        self.rows = 0

    def step(self, token: int, past: Cache, length: int) -> tuple[np.ndarray, Cache]:
        """The logits and the new cache of one request's next token."""
        step = _Step(token, past, length)
        with self._lock:
            self._waiting.append(step)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, daemon=True,
                                                name="interlock-decode-steps")
                self._worker.start()
            self._lock.notify()
        step.done.wait()
        if step.error is not None:
            raise step.error
        assert step.result is not None
        return step.result

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._lock.wait()
                batch = self._waiting[: self._limit]
                del self._waiting[: self._limit]
            self.calls += 1
            self.rows += len(batch)
            try:
                results = self._merged(batch)
                for step, result in zip(batch, results):
                    step.result = result
            except BaseException as exc:  # every waiting request gets the error
                for step in batch:
                    step.error = exc
            for step in batch:
                step.done.set()

    def _merged(self, batch: list[_Step]) -> list[tuple[np.ndarray, Cache]]:
        tensors = self._text.tensors
        rows = len(batch)
        longest = max(s.length for s in batch)
        mask = np.zeros((rows, longest + 1), np.int64)
        for i, step in enumerate(batch):
            mask[i, longest - step.length:] = 1
        feeds: dict[str, np.ndarray] = {
            tensors.input_ids: np.array([[s.token] for s in batch], np.int64),
            tensors.attention_mask: mask,
        }
        if tensors.position_ids:
            feeds[tensors.position_ids] = np.array([[s.length] for s in batch], np.int64)
        for layer, names in enumerate(self._past):
            for which, name in enumerate(names):
                first = batch[0].past[layer][which]
                padded = np.zeros((rows, first.shape[1], longest, first.shape[3]), first.dtype)
                for i, step in enumerate(batch):
                    padded[i, :, longest - step.length:] = step.past[layer][which][0]
                feeds[name] = padded
        outputs = self._infer(feeds)
        assert self._text.logits is not None
        logits = outputs[self._text.logits]
        results = []
        for i, step in enumerate(batch):
            start = longest - step.length
            cache = [(outputs[key][i:i + 1, :, start:].copy(),
                      outputs[value][i:i + 1, :, start:].copy())
                     for key, value in self._present]
            results.append((logits[i, -1].copy(), cache))
        return results
