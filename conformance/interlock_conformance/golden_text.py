"""A golden text-generation artifact for the text engine cases, built on the spot without a
deep-learning framework: a byte-level BPE tokenizer trained on a fixed corpus and a one-layer
decoder graph written with ``onnx.helper`` in the layout of text.md TXT-020 (``input_ids``,
``attention_mask``, one layer of key/value cache in and out, ``logits``).

The graph embeds the new tokens, appends them to the cache, and scores the next token from the
new tokens' embeddings plus the mean of every cached key, so each answer depends on the whole
history through the cache: an engine that mishandles the cache gives other tokens. It has no
end token, so every answer runs to its token limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

    import interlock

__all__ = ["CONTEXT", "PROMPTS", "golden_text_artifact"]

CONTEXT = 96
HEAD_DIM = 8
PROMPTS = ["the quick brown fox", "interlock snaps the pieces together", "東京 café 🙂"]
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "interlock snaps the pieces of the stack together like bricks",
    "a decoder reads its cache and writes the next token",
    "東京 café 🙂 naïve façade",
]


def _tokenizer_json() -> tuple[bytes, int]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(_CORPUS * 4, trainer)
    return tokenizer.to_str().encode("utf-8"), tokenizer.get_vocab_size()


def _decoder(vocab: int) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    embedding = rng.normal(0, 1, (vocab, HEAD_DIM)).astype(np.float32)
    head = rng.normal(0, 1, (HEAD_DIM, vocab)).astype(np.float32)
    cache: list[str | int | None] = ["batch", 1, "past_sequence", HEAD_DIM]
    total: list[str | int | None] = ["batch", 1, "total_sequence", HEAD_DIM]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                      ["batch", "total_sequence"]),
        helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, cache),
        helper.make_tensor_value_info("past_key_values.0.value", TensorProto.FLOAT, cache),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", vocab]),
        helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT, total),
        helper.make_tensor_value_info("present.0.value", TensorProto.FLOAT, total),
    ]
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["x"]),
        helper.make_node("Unsqueeze", ["x", "one"], ["new"]),
        helper.make_node("Concat", ["past_key_values.0.key", "new"], ["present.0.key"], axis=2),
        helper.make_node("Concat", ["past_key_values.0.value", "new"], ["present.0.value"],
                         axis=2),
        helper.make_node("ReduceMean", ["present.0.key"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "one"], ["history"]),
        helper.make_node("Add", ["x", "history"], ["hidden"]),
        helper.make_node("Tanh", ["hidden"], ["state"]),
        helper.make_node("MatMul", ["state", "head"], ["logits"]),
    ]
    initializers = [numpy_helper.from_array(embedding, "embedding"),
                    numpy_helper.from_array(head, "head"),
                    numpy_helper.from_array(np.array([1], np.int64), "one")]
    graph = helper.make_graph(nodes, "golden_decoder", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             producer_name="interlock-conformance")


def golden_text_artifact(store: str) -> interlock.Artifact:
    """Save the golden decoder with its tokenizer as ``golden-text:1`` in ``store``."""
    import interlock
    from interlock.artifacts import GenerationDefaults, KVCache, TextInfo, TextTensors

    tokenizer, vocab = _tokenizer_json()
    text = TextInfo(
        task="text-generation", context_length=CONTEXT, logits="logits",
        tensors=TextTensors(position_ids=None),
        kv_cache=KVCache(num_layers=1, num_kv_heads=1, head_dim=HEAD_DIM),
        generation=GenerationDefaults(max_new_tokens=16, do_sample=False, eos_token_ids=[]),
    )
    return interlock.save_artifact(_decoder(vocab), store, name="golden-text", version="1",
                                   extra_files={"tokenizer.json": tokenizer}, text=text)
