"""The generation loops ``bench_text.py`` times, one per side, and the worker process that
runs one engine's sides (see ``bench_text.py`` for what each side is and how it is timed)."""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PROMPT = "the quick brown fox jumps over the lazy dog and interlock makes the pieces fit"
CONCURRENCY = (1, 8)
INTERLOCK, HTTP, RAW, TORCH, TORCH_BATCH = (
    "interlock", "interlock HTTP", "onnxruntime loop (raw)", "transformers",
    "transformers batch")
BATCHED = f"interlock batch_steps={max(CONCURRENCY)}"
GENAI_RAW, GENAI = "onnxruntime-genai loop (raw)", "interlock on onnxruntime-genai"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    vocab: int
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    mlp: int


MODELS = {
    "tiny": ModelSpec("tiny", 320, 2, 32, 4, 2, 64),
    "mid": ModelSpec("mid", 8192, 8, 512, 8, 4, 1408),
}

# One stream's outcome: its new token ids (or text, over HTTP), seconds to the first new
# token, seconds to the last.
Stream = tuple[Sequence[int] | str, float, float]
Side = Callable[[list[int], int], list[Stream]]


def build_tokenizer(vocab: int) -> Any:
    """A byte-level BPE tokenizer trained on the prompt and seeded random words."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    rng = random.Random(0)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(vocab * 4)]
    corpus = [PROMPT] * 8 + [" ".join(words[i:i + 16]) for i in range(0, len(words), 16)]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer)
    return tokenizer


def build_model(spec: ModelSpec, vocab: int, context: int) -> Any:
    """A random Llama causal LM (seed 0) without an end token."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=spec.hidden, intermediate_size=spec.mlp,
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads, max_position_embeddings=context,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def together(count: int, action: Callable[[], Stream]) -> list[Stream]:
    """Run ``action`` in ``count`` threads released at once; their streams in order."""
    if count == 1:
        return [action()]
    results: list[Stream | BaseException | None] = [None] * count
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if r is not None and not isinstance(r, BaseException)]


def raw_side(model_path: str, layers: int, kv_heads: int, head_dim: int) -> Side:
    """The hand-written greedy loop over one shared onnxruntime session."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    past_names = [f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    present_names = [f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    outputs = ["logits", *present_names]

    def one(ids: list[int], new: int) -> Stream:
        started = time.perf_counter()
        past = [np.zeros((1, kv_heads, 0, head_dim), np.float32)] * len(past_names)
        step, length, tokens, first = ids, 0, [], 0.0
        for _ in range(new):
            total = length + len(step)
            feeds = {"input_ids": np.asarray([step], np.int64),
                     "attention_mask": np.ones((1, total), np.int64),
                     "position_ids": np.arange(length, total, dtype=np.int64)[None]}
            feeds.update(zip(past_names, past))
            logits, *past = session.run(outputs, feeds)
            tokens.append(int(np.argmax(logits[0, -1])))
            first = first or time.perf_counter() - started
            step, length = tokens[-1:], total
        return tokens, first, time.perf_counter() - started

    return lambda ids, new: [one(ids, new)]


def genai_raw_side(source: Any) -> Side:
    """onnxruntime-genai's own greedy loop over the folder the interlock engine wrote (one
    shared ``og.Model``, a ``Generator`` per stream), without interlock around it."""
    import onnxruntime_genai as og

    model = og.Model(source.folder)

    def one(ids: list[int], new: int) -> Stream:
        started = time.perf_counter()
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=len(ids) + new)
        generator = og.Generator(model, params)
        generator.append_tokens(np.asarray(ids, dtype=np.int32))
        tokens, first = [], 0.0
        while len(tokens) < new and not generator.is_done():
            generator.generate_next_token()
            tokens.append(int(generator.get_next_tokens()[0]))
            first = first or time.perf_counter() - started
        return tokens, first, time.perf_counter() - started

    return lambda ids, new: [one(ids, new)]


def interlock_side(generator: Any) -> Side:
    from interlock.text import SamplingParams

    def one(ids: list[int], new: int) -> Stream:
        started = time.perf_counter()
        tokens: list[int] = []
        first = 0.0
        for chunk in generator.stream(ids, SamplingParams(max_tokens=new, temperature=0)):
            first = first or time.perf_counter() - started
            tokens.extend(chunk.token_ids)
        return tokens, first, time.perf_counter() - started

    return lambda ids, new: [one(ids, new)]


def http_side(url: str, model: str, prompt: str) -> Side:
    """Streaming ``/v1/completions``; one kept-alive httpx client per concurrent stream."""
    import httpx

    clients: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    for _ in range(max(CONCURRENCY)):
        clients.put(httpx.Client(base_url=url, timeout=120))

    def one(_ids: list[int], new: int) -> Stream:
        body = {"model": model, "prompt": prompt, "max_tokens": new, "temperature": 0,
                "stream": True}
        client = clients.get()
        try:
            started = time.perf_counter()
            pieces, first = [], 0.0
            with client.stream("POST", "/v1/completions", json=body) as reply:
                if reply.status_code != 200:
                    raise SystemExit(f"HTTP {reply.status_code}: {reply.read()[:300]!r}")
                for line in reply.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    first = first or time.perf_counter() - started
                    pieces.extend(c["text"] for c in json.loads(line[6:])["choices"])
            return "".join(pieces), first, time.perf_counter() - started
        finally:
            clients.put(client)

    return lambda ids, new: [one(ids, new)]


class _FirstToken:
    """A transformers streamer that notes when the first new token comes (put #2)."""

    def __init__(self, started: float) -> None:
        self.started, self.calls, self.first = started, 0, 0.0

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter() - self.started

    def end(self) -> None:
        pass


def torch_side(model: Any, batch: int = 1) -> Side:
    """``model.generate`` greedily; ``batch`` > 1: one call for that many copies of the prompt."""
    import torch

    def call(ids: list[int], new: int) -> list[Stream]:
        with torch.inference_mode():
            started = time.perf_counter()
            streamer = _FirstToken(started)  # a batch's first tokens come all at once
            out = model.generate(torch.tensor([ids] * batch), max_new_tokens=new,
                                 min_new_tokens=new, do_sample=False, eos_token_id=None,
                                 pad_token_id=0, streamer=streamer)
            ended = time.perf_counter() - started
        return [([int(t) for t in row[len(ids):]], streamer.first, ended) for row in out]

    return call


def timed_cell(action: Side, side: str, ids: list[int], concurrency: int,
               tokens: int) -> tuple[list[Stream], float]:
    """One cell: ``concurrency`` streams of ``side`` at once; the streams and the wall time."""
    started = time.perf_counter()
    if side == TORCH_BATCH:
        streams = action(ids, tokens)
    else:
        streams = together(concurrency, lambda: action(ids, tokens)[0])
    return streams, time.perf_counter() - started


def worker_main(job: dict[str, Any]) -> None:
    """``--worker``: load one engine's sides, then run the cells asked on stdin (JSON lines)."""
    if job["engine"] == "raw":
        sides = {RAW: raw_side(job["model_path"], *job["shape"])}
    elif job["engine"] == "interlock":
        from interlock.text import TextGenerator

        sides = {INTERLOCK: interlock_side(TextGenerator.load(job["ref"], store=job["store"])),
                 BATCHED: interlock_side(TextGenerator.load(
                     job["ref"], store=job["store"], batch_steps=max(CONCURRENCY)))}
    elif job["engine"] == "genai":
        import interlock
        from interlock.text import TextGenerator

        engine = "onnxruntime-genai"
        generator = TextGenerator.load(job["ref"], store=job["store"], engine=engine)
        source = interlock.get_registry().get("text_engine", engine).load(
            interlock.load_artifact(job["ref"], store=job["store"]), "cpu", {})
        sides = {GENAI_RAW: genai_raw_side(source), GENAI: interlock_side(generator)}
    else:
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM.from_pretrained(job["torch_dir"]).eval()
        sides = {TORCH: torch_side(model), TORCH_BATCH: torch_side(model, max(CONCURRENCY))}
    print("ready", flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        streams, wall = timed_cell(sides[ask["side"]], ask["side"], job["prompt_ids"],
                                   ask["concurrency"], ask["tokens"])
        print(json.dumps({"streams": streams, "wall": wall}), flush=True)
