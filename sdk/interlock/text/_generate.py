"""Text generation over any predictor of a decoder-only language model (spec: text.md).

:class:`TextGenerator` runs the artifact's graph through :meth:`interlock.Predictor.infer`:
one prefill step over the prompt, then one decode step per new token, feeding back the
key/value cache the graph returns. Streaming and non-streaming answers are the same tokens by
construction: :meth:`TextGenerator.generate` joins what :meth:`TextGenerator.stream` yields.
Several threads may generate at once with one generator; each request keeps its own cache.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from interlock.errors import GenerationError
from interlock.text._sampling import SamplingParams, TokenSampler
from interlock.text._tokenizer import (
    ChatTemplate,
    IncrementalDecoder,
    TextTokenizer,
    _text_info,
)

from interlock.text._engine import TokenSource

if TYPE_CHECKING:
    from interlock.artifacts import Artifact, TextInfo
    from interlock.runtimes import Predictor

__all__ = ["Completion", "CompletionChunk", "TextGenerator"]

FinishReason = Literal["stop", "length"]
_CACHE_DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass(frozen=True)
class CompletionChunk:
    """One streamed piece: new text, the tokens it came from, and on the last chunk why the
    answer ended (``"stop"``: an end token or stop sequence; ``"length"``: the token limit or
    the model's context)."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class Completion:
    """A whole answer and its token counts."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        """Tokens generated, the ones a stop sequence cut included."""
        return len(self.token_ids)


class _StopMatcher:
    """Holds back text that may be the start of a stop sequence (TXT-034)."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stops)
        self._pending = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        text = self._pending + piece
        hits = [text.find(s) for s in self._stops if s in text]
        if hits:
            self._pending = ""
            return text[: min(hits)], True
        hold = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), hold, -1):
                if text.endswith(stop[:size]):
                    hold = size
                    break
        self._pending = text[len(text) - hold:]
        return text[: len(text) - hold], False

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return text


class TextGenerator:
    """Generates text with a language-model artifact (``text.task`` ``text-generation``)."""

    def __init__(self, predictor: Predictor | None, text: TextInfo, tokenizer: TextTokenizer,
                 chat_template: ChatTemplate | None = None, *, name: str = "",
                 batch_steps: int = 1, source: TokenSource | None = None) -> None:
        if text.task != "text-generation":
            raise GenerationError(
                f"{name or 'the model'} is a {text.task!r} model, not a text-generation one",
                hint="use interlock.TextEmbedder for embedding models",
            )
        assert text.kv_cache is not None and text.generation is not None and text.logits
        self.predictor = predictor
        self.text = text
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        if predictor is None and source is None:
            raise GenerationError("a TextGenerator needs a predictor or a token source")
        self.name = name or (predictor.model if predictor is not None else "the model")
        self.source = source
        self.defaults = text.generation
        self._kv = text.kv_cache
        self._past = self._kv.past_names()
        self._present = self._kv.present_names()
        self._cache_dtype = _CACHE_DTYPES.get(self._kv.dtype, np.float32)
        self._eos = frozenset(self.defaults.eos_token_ids)
        if not (isinstance(batch_steps, int) and 1 <= batch_steps <= 256):
            raise GenerationError(f"batch_steps is {batch_steps!r}",
                                  hint="batch_steps is 1 (off) to 256 requests per step")
        self._batcher = None
        if batch_steps > 1 and predictor is not None:
            from interlock.text._steps import StepBatcher

            self._batcher = StepBatcher(text, predictor.infer, batch_steps)
        self._streams = 0  # requests generating now (merged steps only pay off for two)
        self._count = threading.Lock()

    @classmethod
    def load(cls, artifact: Artifact | str, runtime: str = "onnxruntime", device: str = "cpu",
             *, store: str | None = None, batch_steps: int = 1, engine: str | None = None,
             **options: Any) -> TextGenerator:
        """Load a text-generation artifact with ``runtime`` (see :func:`load_predictor`).

        ``batch_steps`` above 1 merges the decode steps of up to that many concurrent
        requests into one graph call (TXT-039). ``engine`` names a text engine component
        (``onnxruntime-genai``, ...) that generates instead of interlock's own loop; then
        ``options`` are the engine's and ``runtime`` is not used (TXT-070)."""
        from interlock.artifacts import load_artifact

        loaded = artifact if not isinstance(artifact, str) else load_artifact(artifact, store)
        _text_info(loaded)  # not a text model: say so before loading it
        if engine is not None:
            return cls.from_artifact(loaded, None, source=_load_source(engine, loaded, device,
                                                                       options))
        from interlock.runtimes import load_predictor

        predictor = load_predictor(loaded, runtime, device, **options)
        return cls.from_artifact(loaded, predictor, batch_steps=batch_steps)

    @classmethod
    def from_artifact(cls, artifact: Artifact, predictor: Predictor | None, *,
                      batch_steps: int = 1, source: TokenSource | None = None
                      ) -> TextGenerator:
        """The generator of ``artifact`` over a predictor already loaded from it."""
        text = _text_info(artifact)
        tokenizer = TextTokenizer.from_artifact(artifact)
        template = None
        if text.chat_template:
            ends = text.generation.eos_token_ids if text.generation else []
            template = ChatTemplate(
                artifact.read_bytes(text.chat_template).decode("utf-8", "replace"),
                bos_token=_token_text(tokenizer, text.generation.bos_token_id
                                      if text.generation else None),
                eos_token=_token_text(tokenizer, ends[0] if ends else None),
                where=f"{artifact.ref}/{text.chat_template}",
            )
        return cls(predictor, text, tokenizer, template, name=artifact.ref,
                   batch_steps=batch_steps, source=source)

    def chat_prompt(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """The prompt text of ``messages``, rendered with the artifact's chat template."""
        if self.chat_template is None:
            raise GenerationError(
                f"{self.name} has no chat template, so it cannot take messages",
                hint="send a plain prompt (completions), or export the model with its "
                "tokenizer's chat template",
            )
        return self.chat_template.render(messages)

    def prompt_ids(self, prompt: str | Sequence[int]) -> list[int]:
        """Token ids of ``prompt`` (text, or ids as they are), checked against the context."""
        if isinstance(prompt, str):
            ids = self.tokenizer.encode(prompt)
        else:
            ids = [int(i) for i in prompt]
            vocab = self.tokenizer.vocab_size
            bad = [i for i in ids if not 0 <= i < vocab]
            if bad:
                raise GenerationError(f"prompt token id {bad[0]} is outside the vocabulary",
                                      hint=f"token ids are 0 to {vocab - 1}")
        if not ids:
            raise GenerationError("the prompt is empty (0 tokens)",
                                  hint="send at least one token of prompt")
        if len(ids) >= self.text.context_length:
            raise GenerationError(
                f"the prompt is {len(ids)} tokens; {self.name} reads at most "
                f"{self.text.context_length} tokens, prompt and answer together",
                hint="shorten the prompt",
            )
        return ids

    def generate(self, prompt: str | Sequence[int],
                 params: SamplingParams | None = None) -> Completion:
        """The whole answer to ``prompt``."""
        ids = self.prompt_ids(prompt)
        pieces: list[str] = []
        tokens: list[int] = []
        reason: FinishReason = "length"
        for chunk in self._stream_ids(ids, params or SamplingParams()):
            pieces.append(chunk.text)
            tokens.extend(chunk.token_ids)
            if chunk.finish_reason is not None:
                reason = chunk.finish_reason
        return Completion("".join(pieces), tuple(tokens), reason, len(ids))

    def stream(self, prompt: str | Sequence[int],
               params: SamplingParams | None = None) -> Iterator[CompletionChunk]:
        """The answer to ``prompt`` piece by piece; the last chunk has ``finish_reason``.

        The prompt is checked before this returns, so a bad request fails here rather than on
        the first ``next()``.
        """
        return self._stream_ids(self.prompt_ids(prompt), params or SamplingParams())

    def _stream_ids(self, ids: list[int], params: SamplingParams) -> Iterator[CompletionChunk]:
        sampler = TokenSampler(params, self.defaults)
        budget = min(sampler.max_tokens, self.text.context_length - len(ids))
        decoder = IncrementalDecoder(self.tokenizer)
        stopper = _StopMatcher(params.stop)
        if self.source is not None:
            tokens = _guarded(self.source.tokens(ids, sampler, budget), self.name)
        else:
            tokens = self._own_tokens(ids, sampler, budget)
        with self._count:
            self._streams += 1
        try:
            for count, token in enumerate(tokens, start=1):
                if token in self._eos:
                    yield CompletionChunk(stopper.flush() + decoder.flush(), (), "stop")
                    return
                text, stopped = stopper.feed(decoder.push(token))
                if stopped:
                    yield CompletionChunk(text, (token,), "stop")
                    return
                if count >= budget:
                    tail = stopper.feed(decoder.flush())[0] + stopper.flush()
                    yield CompletionChunk(text + tail, (token,), "length")
                    return
                yield CompletionChunk(text, (token,))
            # The engine ended before the budget (its own length limit): say so.
            yield CompletionChunk(stopper.flush() + decoder.flush(), (), "length")
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()
            with self._count:
                self._streams -= 1

    def _own_tokens(self, ids: list[int], sampler: TokenSampler,
                    budget: int) -> Iterator[int]:
        """interlock's own loop: prefill, then one decode step per token (TXT-020)."""
        logits, past = self._step(ids, self._empty_cache(), 0)
        length = len(ids)
        for count in range(1, budget + 1):
            token = sampler.choose(logits)
            yield token
            if count == budget:
                return
            logits, past = self._decode(token, past, length)
            length += 1

    def _decode(self, token: int, past: list[tuple[np.ndarray, np.ndarray]],
                length: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        if self._batcher is not None and self._streams > 1:
            return self._batcher.step(token, past, length)
        return self._step([token], past, length)

    def _empty_cache(self) -> list[tuple[np.ndarray, np.ndarray]]:
        shape = (1, self._kv.num_kv_heads, 0, self._kv.head_dim)
        empty = np.zeros(shape, self._cache_dtype)
        return [(empty, empty)] * self._kv.num_layers

    def _step(self, ids: list[int], past: list[tuple[np.ndarray, np.ndarray]],
              past_length: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        tensors = self.text.tensors
        total = past_length + len(ids)
        feeds: dict[str, np.ndarray] = {
            tensors.input_ids: np.asarray([ids], dtype=np.int64),
            tensors.attention_mask: np.ones((1, total), dtype=np.int64),
        }
        if tensors.position_ids:
            feeds[tensors.position_ids] = np.arange(past_length, total, dtype=np.int64)[None]
        for (key, value), (past_key, past_value) in zip(self._past, past):
            feeds[key] = past_key
            feeds[value] = past_value
        assert self.predictor is not None
        outputs = self.predictor.infer(feeds)
        assert self.text.logits is not None
        logits = outputs[self.text.logits][0, -1]
        present = [(outputs[key], outputs[value]) for key, value in self._present]
        return logits, present


def _guarded(tokens: Iterator[int], name: str) -> Iterator[int]:
    """An engine's tokens, its failures as PluginError naming it (interlock's stay as they
    are); closing this closes the engine's iterator."""
    from interlock.errors import InterlockError, PluginError

    try:
        yield from tokens
    except InterlockError:
        raise
    except Exception as exc:
        raise PluginError(f"the text engine failed generating for {name}: "
                          f"{type(exc).__name__}: {exc}") from exc


def _load_source(engine: str, artifact: Artifact, device: str,
                 options: dict[str, Any]) -> TokenSource:
    """The TokenSource of the text engine called ``engine`` for ``artifact``."""
    from interlock.plugins import get_registry, plugin_boundary
    from interlock.runtimes import parse_device

    component = get_registry().get("text_engine", engine)
    kind, _ = parse_device(device)
    if kind not in component.devices:
        from interlock.errors import DeviceUnavailableError

        raise DeviceUnavailableError(
            f"text engine {engine!r} does not run on device {device!r}",
            hint=f"use one of its devices: {', '.join(component.devices)}")
    with plugin_boundary(component, f"loading {artifact.ref} on device {device!r}"):
        source = component.load(artifact, device, options)
    if not isinstance(source, TokenSource):
        from interlock.errors import SpecViolation

        raise SpecViolation(f"text engine {engine!r} returned {type(source).__name__}, not a "
                            "TokenSource", component=engine, requirement="TXT-070")
    return source


def _token_text(tokenizer: TextTokenizer, token_id: int | None) -> str:
    if token_id is None:
        return ""
    return tokenizer.id_to_token(token_id) or ""
