"""Tiny text models built on the spot for the text tests: a byte-level BPE tokenizer trained
on a few sentences and randomly initialised Llama, GPT-2 and BERT models. Nothing is
downloaded; every weight comes from a fixed seed."""

from __future__ import annotations

from typing import Any

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "interlock makes the pieces of the AI stack fit together",
    "a tokenizer turns text into token ids and back again",
    "hello world, hello interlock; café naïve 東京 🙂",
    "<|user|> what is two plus two? <|assistant|> four <|end|>",
]
SPECIAL = ["<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }}"
    "{% if not loop.last %} {% endif %}{% endfor %}"
    "{% if add_generation_prompt %} <|assistant|>{% endif %}"
)


def tiny_tokenizer(vocab_size: int = 320) -> Any:
    """A byte-level BPE tokenizer (tokenizers.Tokenizer) trained on CORPUS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    return tokenizer


def fast_tokenizer(tokenizer: Any, *, chat_template: str | None = CHAT_TEMPLATE) -> Any:
    """The transformers wrapper of ``tokenizer`` with a chat template."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|end|>")
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def tiny_llama(vocab_size: int, *, layers: int = 2, hidden: int = 32, seed: int = 0) -> Any:
    """A random Llama-style causal LM (grouped-query attention: 4 heads, 2 kv heads)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, bos_token_id=None, eos_token_id=0, pad_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def tiny_gpt2(vocab_size: int, *, seed: int = 0) -> Any:
    """A random GPT-2 causal LM (dropout on in its config, as real ones are)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=96,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def tiny_bert(vocab_size: int, *, seed: int = 0) -> Any:
    """A random BERT encoder for embeddings."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=64)
    return BertModel(config).eval()


PROMPTS = ["the quick brown fox", None, "hello interlock", "東京 🙂", "a tokenizer turns"]


def text_batch_setup(root: Any) -> dict[str, str]:
    """A store with a tiny Llama and a tiny BERT, and a Parquet dataset of prompts (one null)
    with an ``id`` column: what the text batch tests run on any executor."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    import interlock

    root = Path(root)
    store = str(root / "store")
    tokenizer = tiny_tokenizer()
    vocab = tokenizer.get_vocab_size()
    interlock.export(tiny_llama(vocab), fast_tokenizer(tokenizer), name="lm", store=store)
    interlock.export(tiny_bert(vocab), tokenizer, name="enc", store=store)
    data = root / "prompts.parquet"
    table = pa.table({"id": pa.array(range(len(PROMPTS)), pa.int64()),
                      "prompt": pa.array(PROMPTS, pa.string())})
    pq.write_table(table, data)
    return {"store": store, "data": str(data)}


def expected_text_outputs(setup: dict[str, str], max_tokens: int = 6) -> dict[str, Any]:
    """What each prompt's row must hold: completions, finish reasons and embeddings."""
    import numpy as np

    from interlock.text import SamplingParams, TextEmbedder, TextGenerator

    generator = TextGenerator.load("lm:1", store=setup["store"])
    embedder = TextEmbedder.load("enc:1", store=setup["store"])
    params = SamplingParams(max_tokens=max_tokens, temperature=0.7, seed=4)
    answers = [None if p is None else generator.generate(p, params) for p in PROMPTS]
    vectors = [None if p is None else embedder.embed([p])[0] for p in PROMPTS]
    return {"completion": [a and a.text for a in answers],
            "finish_reason": [a and a.finish_reason for a in answers],
            "embedding": [None if v is None else np.asarray(v) for v in vectors]}
