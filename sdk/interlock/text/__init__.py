"""Text and generative models: tokenizers, chat templates, generation and embeddings.

Everything here runs on top of :meth:`interlock.Predictor.infer`, so it works with any runtime
that loads the artifact (onnxruntime, openvino, the reference evaluator). The rules are in
spec text.md; the guide is docs/text.md. Names are imported on first use; the tokenizer
library (``tokenizers``) and ``jinja2`` are imported only when a tokenizer or template is
loaded (extra ``text``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "ChatTemplate": "_tokenizer",
    "TextTokenizer": "_tokenizer",
    "IncrementalDecoder": "_tokenizer",
    "SamplingParams": "_sampling",
    "TokenSampler": "_sampling",
    "Completion": "_generate",
    "CompletionChunk": "_generate",
    "TextGenerator": "_generate",
    "TextEmbedder": "_embed",
    "TextBatchPredictor": "_batch",
    "TextEngine": "_engine",
    "TokenSource": "_engine",
    "TextJobOptions": "_batch",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.text._batch import (
        TextBatchPredictor as TextBatchPredictor,
        TextJobOptions as TextJobOptions,
    )
    from interlock.text._embed import TextEmbedder as TextEmbedder
    from interlock.text._engine import (
        TextEngine as TextEngine,
        TokenSource as TokenSource,
    )
    from interlock.text._generate import (
        Completion as Completion,
        CompletionChunk as CompletionChunk,
        TextGenerator as TextGenerator,
    )
    from interlock.text._sampling import (
        SamplingParams as SamplingParams,
        TokenSampler as TokenSampler,
    )
    from interlock.text._tokenizer import (
        ChatTemplate as ChatTemplate,
        IncrementalDecoder as IncrementalDecoder,
        TextTokenizer as TextTokenizer,
    )
