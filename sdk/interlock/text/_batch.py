"""A string column in, completions or embeddings out: text artifacts in batch jobs.

:func:`interlock.predict_dataset` (and so every executor) runs a text artifact through
:class:`TextBatchPredictor`, which has the ``predict(batch)`` of any predictor: it reads one
string column and returns the output columns (spec text.md TXT-060...). Each row is answered
as a request of its own with the job's parameters, so an answer does not depend on the batch
size, the shards or the executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock.errors import GenerationError, SignatureMismatch
from interlock.text._sampling import SamplingParams

if TYPE_CHECKING:
    import pyarrow as pa

    from interlock.artifacts import Artifact, TextInfo
    from interlock.runtimes import Predictor
    from interlock.text._embed import TextEmbedder
    from interlock.text._generate import TextGenerator

__all__ = ["TextBatchPredictor", "TextJobOptions"]

_SAMPLING = ("max_tokens", "temperature", "top_p", "top_k", "seed", "stop")


@dataclass(frozen=True)
class TextJobOptions:
    """How a batch job reads and writes text (``predict_dataset(text_options={...})``).

    ``input_column`` (default ``prompt``, for embeddings ``text``) holds the strings;
    ``output_column`` (default ``completion``, for embeddings ``embedding``) receives the
    answers; ``chat`` reads each string as one user message through the chat template;
    ``max_tokens``, ``temperature``, ``top_p``, ``top_k``, ``seed`` and ``stop`` are the
    generation parameters of every row.
    """

    input_column: str
    output_column: str
    chat: bool = False
    sampling: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, options: Mapping[str, Any] | None, text: TextInfo) -> TextJobOptions:
        """The options of a job over an artifact with this text section, checked."""
        given = dict(options or {})
        embedding = text.task == "embedding"
        known = {"input_column", "output_column", "chat", *([] if embedding else _SAMPLING)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise GenerationError(
                f"text_options has unknown key(s) {unknown}",
                hint=f"text_options takes {', '.join(sorted(known))}",
            )
        chat = given.pop("chat", False)
        if not isinstance(chat, bool) or (chat and embedding):
            raise GenerationError(f"text_options chat is {chat!r}",
                                  hint="chat is true or false, and only for text generation")
        names = [given.pop("input_column", "text" if embedding else "prompt"),
                 given.pop("output_column", "embedding" if embedding else "completion")]
        for name in names:
            if not isinstance(name, str) or not name:
                raise GenerationError(f"text_options column name {name!r} is not a name",
                                      hint="name columns with non-empty strings")
        SamplingParams(**given)  # a bad parameter fails now, before any work
        return cls(names[0], names[1], chat, given)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as a shard task carries it."""
        return {"input_column": self.input_column, "output_column": self.output_column,
                "chat": self.chat, **self.sampling}

    def output_columns(self, text: TextInfo) -> list[str]:
        """The columns a job writes."""
        if text.task == "embedding":
            return [self.output_column]
        return [self.output_column, f"{self.output_column}_finish_reason"]


class TextBatchPredictor:
    """``predict(batch)`` for a text artifact: strings in, answers out, one row at a time."""

    def __init__(self, engine: TextGenerator | TextEmbedder, options: TextJobOptions) -> None:
        self.engine = engine
        self.options = options
        self.params = SamplingParams(**options.sampling)

    @classmethod
    def from_artifact(cls, artifact: Artifact, predictor: Predictor,
                      options: Mapping[str, Any] | None) -> TextBatchPredictor:
        """The batch predictor of a text artifact over its loaded predictor."""
        from interlock.text._embed import TextEmbedder
        from interlock.text._generate import TextGenerator
        from interlock.text._tokenizer import _text_info

        text = _text_info(artifact)
        parsed = TextJobOptions.parse(options, text)
        if text.task == "embedding":
            return cls(TextEmbedder.from_artifact(artifact, predictor), parsed)
        return cls(TextGenerator.from_artifact(artifact, predictor), parsed)

    def predict(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
        """The output columns for the rows of ``batch`` (a null string gives null answers)."""
        import pyarrow as pa

        from interlock.text._embed import TextEmbedder

        column = self.options.input_column
        if column not in batch.schema.names:
            raise SignatureMismatch(f"the batch has no column {column!r} to read texts from",
                                    hint="name the text column with text_options input_column")
        values = batch.column(column)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                or pa.types.is_string_view(values.type)):
            raise SignatureMismatch(
                f"column {column!r} is {values.type}, not a string column",
                hint=f"cast it to strings first (interlock predict --cast {column}=string)")
        texts = values.to_pylist()
        out = self.options.output_column
        if isinstance(self.engine, TextEmbedder):
            return self._embed(texts, out)
        answers = [None if t is None else self.engine.generate(self._prompt(t), self.params)
                   for t in texts]
        return pa.RecordBatch.from_arrays(
            [pa.array([a and a.text for a in answers], pa.string()),
             pa.array([a and a.finish_reason for a in answers], pa.string())],
            names=[out, f"{out}_finish_reason"])

    def _prompt(self, text: str) -> str:
        if not self.options.chat:
            return text
        from interlock.text._generate import TextGenerator

        assert isinstance(self.engine, TextGenerator)
        return self.engine.chat_prompt([{"role": "user", "content": text}])

    def _embed(self, texts: list[str | None], out: str) -> pa.RecordBatch:
        import numpy as np
        import pyarrow as pa

        from interlock.text._embed import TextEmbedder

        assert isinstance(self.engine, TextEmbedder)
        size = self.engine.dimensions
        present = [t for t in texts if t is not None]
        vectors = self.engine.embed(present) if present else np.zeros((0, size), np.float32)
        flat = np.zeros((len(texts), size), np.float32)
        mask = np.array([t is None for t in texts])
        flat[~mask] = vectors
        values = pa.array(flat.reshape(-1), pa.float32())
        array = pa.FixedSizeListArray.from_arrays(values, size,
                                                  mask=pa.array(mask) if mask.any() else None)
        return pa.RecordBatch.from_arrays([array], names=[out])
