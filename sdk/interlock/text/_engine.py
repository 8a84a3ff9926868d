"""Text engines: generation loops of other vendors, behind one small interface (text.md).

A :class:`TextEngine` component (hook ``interlock_text_engines``) loads a text-generation
artifact and returns a :class:`TokenSource`, which turns prompt ids into generated ids one at a
time. :class:`interlock.text.TextGenerator` keeps what the request means around it: the
parameters and their defaults, end tokens, stop strings, incremental decoding, streaming and
``finish_reason`` (TXT-070). Without an engine, the generator runs its own loop over
``Predictor.infer``, on any runtime; that loop is also the reference an engine is checked
against.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from interlock.plugins import Component, parse_options

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock.artifacts import Artifact
    from interlock.text._sampling import TokenSampler

__all__ = ["TextEngine", "TokenSource"]


class TokenSource(ABC):
    """A text-generation artifact loaded by a :class:`TextEngine`."""

    @abstractmethod
    def tokens(self, prompt: list[int], sampler: TokenSampler,
               max_tokens: int) -> Iterator[int]:
        """Yield the ids generated after ``prompt``, at most ``max_tokens`` of them, as they
        come, choosing as ``sampler`` says (its ``greedy``, ``temperature``, ``top_k``,
        ``top_p`` and ``seed``). End tokens are yielded like any other: the caller stops there.
        The caller closes the iterator when it has what it needs; the engine then stops."""


class TextEngine(Component, ABC, kind="text_engine"):
    """A generation engine component: ``load`` an artifact on a device into a TokenSource."""

    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    @abstractmethod
    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> TokenSource:
        """Load the text-generation ``artifact`` (its files verified) on ``device``."""

    @property
    def options_model(self) -> type[BaseModel] | None:
        """The pydantic model of this engine's options, or None if it takes none."""
        return None

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """Validate ``options`` against :attr:`options_model`."""
        return parse_options(self, self.options_model, options,
                             without_options="load the engine without options")
