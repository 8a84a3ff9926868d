"""A text engine that forgets its key/value cache: every step runs the last token alone, with
an empty cache, so each token is chosen as if the history were that one token.

Breaks TXT-071 (greedy decoding through an engine gives the tokens of interlock's own loop). Its
ids are valid, it honours the token limit and closing, refuses sampling as an engine without
``sampling`` must, and leaves the artifact alone, so nothing else fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from interlock import Artifact, GenerationError, hookimpl, load_predictor
from interlock.text import TextEngine, TokenSource

if TYPE_CHECKING:
    from interlock.text import TokenSampler


class ForgetfulSource(TokenSource):
    def __init__(self, artifact: Artifact) -> None:
        text = artifact.manifest.text
        assert text is not None and text.kv_cache is not None and text.logits is not None
        self.kv, self.logits, self.tensors = text.kv_cache, text.logits, text.tensors
        self.predictor = load_predictor(artifact, "onnxruntime")

    def tokens(self, prompt: list[int], sampler: TokenSampler,
               max_tokens: int) -> Iterator[int]:
        import numpy as np

        if not sampler.greedy:
            raise GenerationError("this engine decodes greedily only",
                                  hint="send temperature 0")
        step = list(prompt)
        for _ in range(max_tokens):
            empty = np.zeros((1, self.kv.num_kv_heads, 0, self.kv.head_dim), np.float32)
            feeds = {self.tensors.input_ids: np.asarray([step], np.int64),
                     self.tensors.attention_mask: np.ones((1, len(step)), np.int64)}
            for past_key, past_value in self.kv.past_names():
                feeds[past_key] = feeds[past_value] = empty  # broken: the cache is dropped
            token = int(np.argmax(self.predictor.infer(feeds)[self.logits][0, -1]))
            yield token
            step = [token]


class ForgetfulEngine(TextEngine):
    name = "forgetful"
    description = "a text engine that drops its cache every step (deliberately broken)"
    capabilities = frozenset()
    devices = ("cpu",)

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> TokenSource:
        self.parse_options(options)
        return ForgetfulSource(artifact)


@hookimpl
def interlock_text_engines() -> list[TextEngine]:
    return [ForgetfulEngine()]
