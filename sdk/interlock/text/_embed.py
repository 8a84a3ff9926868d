"""Text embeddings over any predictor of an embedding artifact (spec: text.md TXT-040...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from interlock.errors import GenerationError
from interlock.text._tokenizer import TextTokenizer, _text_info

if TYPE_CHECKING:
    from interlock.artifacts import Artifact, TextInfo
    from interlock.runtimes import Predictor

__all__ = ["TextEmbedder"]

#: Texts embedded in one graph call; a longer list runs in several.
EMBED_BATCH: Final = 32


class TextEmbedder:
    """One vector per text, pooled and normalised as the artifact's ``text.embedding`` says."""

    def __init__(self, predictor: Predictor, text: TextInfo, tokenizer: TextTokenizer,
                 *, name: str = "") -> None:
        if text.embedding is None:
            raise GenerationError(
                f"{name or 'the model'} is a {text.task!r} model, not an embedding one",
                hint="use interlock.TextGenerator for text-generation models",
            )
        self.predictor = predictor
        self.text = text
        self.tokenizer = tokenizer
        self.name = name or predictor.model
        self.info = text.embedding
        self.dimensions = text.embedding.dimensions

    @classmethod
    def load(cls, artifact: Artifact | str, runtime: str = "onnxruntime", device: str = "cpu",
             *, store: str | None = None, **options: Any) -> TextEmbedder:
        """Load an embedding artifact with ``runtime`` (see :func:`load_predictor`)."""
        from interlock.artifacts import load_artifact
        from interlock.runtimes import load_predictor

        loaded = artifact if not isinstance(artifact, str) else load_artifact(artifact, store)
        _text_info(loaded)
        return cls.from_artifact(loaded, load_predictor(loaded, runtime, device, **options))

    @classmethod
    def from_artifact(cls, artifact: Artifact, predictor: Predictor) -> TextEmbedder:
        """The embedder of ``artifact`` over a predictor already loaded from it."""
        text = _text_info(artifact)
        return cls(predictor, text, TextTokenizer.from_artifact(artifact), name=artifact.ref)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text is read as (what ``usage`` counts)."""
        return [len(self._ids(t, i)) for i, t in enumerate(texts)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array [len(texts), dimensions]."""
        if isinstance(texts, str):
            texts = [texts]
        rows = [self._ids(t, i) for i, t in enumerate(texts)]
        parts = [self._embed_ids(rows[i:i + EMBED_BATCH])
                 for i in range(0, len(rows), EMBED_BATCH)]
        if not parts:
            return np.zeros((0, self.dimensions), np.float32)
        return np.concatenate(parts)

    def _ids(self, text: object, index: int) -> list[int]:
        if not isinstance(text, str):
            raise GenerationError(f"input[{index}] is {type(text).__name__}, not a string",
                                  hint="send the texts to embed as strings")
        ids = self.tokenizer.encode(text)
        if not ids:
            raise GenerationError(f"input[{index}] is empty (0 tokens)",
                                  hint="send non-empty texts")
        if len(ids) > self.text.context_length:
            raise GenerationError(
                f"input[{index}] is {len(ids)} tokens; {self.name} reads at most "
                f"{self.text.context_length}",
                hint="shorten or split the text",
            )
        return ids

    def _embed_ids(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        tensors = self.text.tensors
        feeds = {tensors.input_ids: ids, tensors.attention_mask: mask}
        if tensors.position_ids:
            feeds[tensors.position_ids] = np.broadcast_to(
                np.arange(width, dtype=np.int64), (len(rows), width)).copy()
        hidden = self.predictor.infer(feeds)[self.info.output].astype(np.float32)
        if self.info.pooling == "cls":
            vectors = hidden[:, 0]
        elif self.info.pooling == "last":
            vectors = hidden[np.arange(len(rows)), mask.sum(axis=1) - 1]
        else:
            weights = mask[:, :, None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        if self.info.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return np.ascontiguousarray(vectors, dtype=np.float32)
