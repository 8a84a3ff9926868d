"""Choosing the next token: greedy, or seeded sampling with temperature, top-k and top-p.

The rules are text.md TXT-030..TXT-036. Sampling draws from NumPy's PCG64 generator seeded
by the request, so one seed gives one answer on every run, streamed or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np

from interlock.errors import GenerationError

if TYPE_CHECKING:
    from interlock.artifacts import GenerationDefaults

__all__ = ["SamplingParams", "TokenSampler"]

MAX_STOP_SEQUENCES: Final = 16
MAX_STOP_LENGTH: Final = 256


@dataclass(frozen=True)
class SamplingParams:
    """What one generation request asks for; ``None`` takes the artifact's default.

    ``temperature`` 0 is greedy decoding; ``seed`` makes sampling repeatable; ``stop`` ends the
    answer before the first occurrence of any of its strings (at most 16, each at most 256
    characters); ``max_tokens`` counts generated tokens.
    """

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check(self.max_tokens is None or (_is_int(self.max_tokens) and self.max_tokens >= 1),
               "max_tokens", self.max_tokens, "an integer of at least 1")
        _check(self.temperature is None or (_is_number(self.temperature)
                                            and 0 <= self.temperature <= 100),
               "temperature", self.temperature, "a number from 0 to 100 (0 is greedy)")
        _check(self.top_p is None or (_is_number(self.top_p) and 0 < self.top_p <= 1),
               "top_p", self.top_p, "a number above 0 and at most 1")
        _check(self.top_k is None or (_is_int(self.top_k) and self.top_k >= 0),
               "top_k", self.top_k, "an integer of at least 0 (0 keeps every token)")
        _check(self.seed is None or (_is_int(self.seed) and 0 <= self.seed < 2**63),
               "seed", self.seed, "an integer from 0 to 2**63 - 1")
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        _check(isinstance(stop, Sequence) and len(stop) <= MAX_STOP_SEQUENCES
               and all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_LENGTH for s in stop),
               "stop", self.stop,
               f"at most {MAX_STOP_SEQUENCES} non-empty strings of at most {MAX_STOP_LENGTH} "
               "characters")
        object.__setattr__(self, "stop", tuple(stop))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise GenerationError(f"{name} is {value!r}", hint=f"{name} must be {expected}")


class TokenSampler:
    """The next-token rule of one request, with the artifact's defaults filled in."""

    def __init__(self, params: SamplingParams, defaults: GenerationDefaults) -> None:
        temperature = params.temperature
        if temperature is None:
            temperature = defaults.temperature if defaults.do_sample else 0.0
        self.temperature = float(temperature)
        self.top_p = float(params.top_p if params.top_p is not None else defaults.top_p)
        self.top_k = int(params.top_k if params.top_k is not None else defaults.top_k)
        self.max_tokens = int(params.max_tokens or defaults.max_new_tokens)
        self.greedy = self.temperature == 0.0
        self.seed = params.seed
        self._rng = np.random.Generator(np.random.PCG64(params.seed))

    def choose(self, logits: np.ndarray) -> int:
        """The next token id from one row of logits (shape [vocab])."""
        if self.greedy:
            return int(np.argmax(logits))
        scores = logits.astype(np.float64) / self.temperature
        if 0 < self.top_k < scores.shape[0]:
            kth = np.partition(scores, -self.top_k)[-self.top_k]
            scores = np.where(scores < kth, -np.inf, scores)
        scores -= scores.max()
        probs = np.exp(scores)
        probs /= probs.sum()
        if self.top_p < 1.0:
            order = np.argsort(-probs, kind="stable")
            cumulative = np.cumsum(probs[order])
            keep = int(np.searchsorted(cumulative, self.top_p)) + 1
            kept = np.zeros_like(probs)
            kept[order[:keep]] = probs[order[:keep]]
            probs = kept / kept.sum()
        return int(self._rng.choice(probs.shape[0], p=probs))
