"""Text generation: interlock's ``TextGenerator`` against a raw onnxruntime greedy loop and
``transformers`` ``generate``, on the same weights, in one run.

Two random Llama-style models are built here (nothing is downloaded): **tiny** (2 layers,
hidden 32, 4 heads / 2 key-value heads, vocabulary 320; about 40 thousand parameters) and
**mid** (8 layers, hidden 512, 8 heads / 4 key-value heads, MLP 1408, vocabulary 8192; about
32 million parameters), with a byte-level BPE tokenizer trained on the spot. Each is exported
with ``interlock.export`` (no end token, so every answer runs to the token limit), and a fixed
prompt is answered greedily with ``--tokens`` new tokens by:

* **onnxruntime loop (raw)**: a hand-written greedy loop over the artifact's ``model.onnx`` in
  one ``InferenceSession`` (default session options, as interlock's), feeding the key/value
  cache back: the floor interlock's overhead is measured against;
* **interlock**: ``TextGenerator.load(artifact).stream(prompt, SamplingParams(temperature=0))``
  in process;
* **interlock HTTP**: ``interlock serve`` in a process of its own and a streaming
  ``/v1/completions`` request with httpx (one kept-alive client per stream), so time to first
  token is what a client sees;
* **transformers**: ``model.generate(do_sample=False)`` in PyTorch, one request per thread;
  and, at concurrency 8, **transformers batch**: one ``generate`` of the 8 prompts at once.

Concurrency 8 is 8 threads sharing one session / generator / model / server, released
together. Time to first token (TTFT) is from the request to the first new token; tokens/s per
stream is new tokens over the whole stream's time (request to last token); aggregate tokens/s
is every stream's tokens over the wall-clock time of the cell. Cells are interleaved (the order
of sides rotates each repetition); TTFT median and p90 are over every stream of every
repetition, tokens/s are medians. Before timing, every side's greedy tokens are checked to be
the raw loop's (the HTTP side: the same text); a disagreement stops the run.

    python benchmarks/bench_text.py [--quick] [--reps 3] [--tokens 64] [--no-doc]

``--quick``: the tiny model only, 8 new tokens, 1 repetition, docs untouched (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "performance.md"
BEGIN, END = "<!-- bench_text:begin -->", "<!-- bench_text:end -->"
PROMPT = "the quick brown fox jumps over the lazy dog and interlock makes the pieces fit"
CONCURRENCY = (1, 8)
INTERLOCK, HTTP, RAW, TORCH, TORCH_BATCH = (
    "interlock", "interlock HTTP", "onnxruntime loop (raw)", "transformers",
    "transformers batch")


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


@dataclass
class Bench:
    """One model, its prompt, the greedy answer every side must give, and the sides."""

    spec: ModelSpec
    ref: str
    parameters: int
    prompt_ids: list[int]
    expected: list[int]
    expected_text: str
    sides: dict[str, Side]


class ServerProcess:
    """``interlock serve STORE --server rest=PORT`` in a process of its own (so that the
    client threads do not share its interpreter), stopped with SIGINT."""

    def __init__(self, store: str, log: Path, refs: list[str]) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        command = [str(Path(sys.executable).parent / "interlock"), "serve", store,
                   "--server", f"rest={port}"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        for ref in refs:
            ready = f"{self.url}/v2/models/{ref.split('@')[0]}/ready"
            while not self._ready(ready):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"interlock serve did not get ready; its log:\n"
                                     f"{log.read_text()[-3000:]}")
                time.sleep(0.1)

    @staticmethod
    def _ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prepare(spec: ModelSpec, store: str, tokens: int) -> Bench:
    """Build, export and load ``spec``; check the greedy answer of the raw loop and interlock."""
    import interlock
    from interlock.text import SamplingParams, TextGenerator
    from transformers import PreTrainedTokenizerFast

    tokenizer = build_tokenizer(spec.vocab)
    vocab = tokenizer.get_vocab_size()
    prompt_ids = tokenizer.encode(PROMPT).ids
    model = build_model(spec, vocab, context=len(prompt_ids) + tokens + 64)
    artifact = interlock.export(model, PreTrainedTokenizerFast(tokenizer_object=tokenizer),
                                name=f"bench-{spec.name}", store=store)
    generator = TextGenerator.load(artifact)
    head_dim = spec.hidden // spec.heads
    raw = raw_side(str(artifact.local_dir() / "model.onnx"), spec.layers, spec.kv_heads,
                   head_dim)
    expected = list(raw(prompt_ids, tokens)[0][0])
    answer = generator.generate(prompt_ids, SamplingParams(max_tokens=tokens, temperature=0))
    sides = {RAW: raw, INTERLOCK: interlock_side(generator), TORCH: torch_side(model),
             TORCH_BATCH: torch_side(model, batch=max(CONCURRENCY))}
    return Bench(spec, artifact.ref, sum(p.numel() for p in model.parameters()), prompt_ids,
                 expected, answer.text, sides)


def check(bench: Bench, side: str, streams: list[Stream]) -> None:
    """Stop the run unless every stream of ``side`` is the greedy answer."""
    want: Sequence[int] | str = bench.expected_text if side == HTTP else bench.expected
    for got, _, _ in streams:
        if (got if isinstance(got, str) else list(got)) != want:
            raise SystemExit(
                f"FAIL: {side} on the {bench.spec.name} model does not give the raw loop's "
                f"greedy answer:\n  got      {got!r}\n  expected {want!r}")


def run_cell(bench: Bench, side: str, concurrency: int, tokens: int) -> tuple[list[Stream], float]:
    """One cell: ``concurrency`` streams of ``side`` at once; the streams and the wall time."""
    action = bench.sides[side]
    started = time.perf_counter()
    if side == TORCH_BATCH:
        streams = action(bench.prompt_ids, tokens)
    else:
        streams = together(concurrency, lambda: action(bench.prompt_ids, tokens)[0])
    wall = time.perf_counter() - started
    check(bench, side, streams)
    return streams, wall


def cell_sides(bench: Bench, concurrency: int) -> list[str]:
    order = [RAW, INTERLOCK, HTTP, TORCH, TORCH_BATCH]
    return [s for s in order if s in bench.sides and (s != TORCH_BATCH or concurrency > 1)]


Samples = dict[tuple[str, int, str], list[tuple[list[Stream], float]]]


def measure(benches: list[Bench], reps: int, tokens: int) -> Samples:
    """Every cell ``reps`` times, interleaved, the order of sides rotating each repetition."""
    samples: Samples = {}
    for rep in range(reps):
        for bench in benches:
            for concurrency in CONCURRENCY:
                sides = cell_sides(bench, concurrency)
                shift = rep % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    result = run_cell(bench, side, concurrency, tokens)
                    key = (bench.spec.name, concurrency, side)
                    samples.setdefault(key, []).append(result)
        print(f"repetition {rep + 1}/{reps} done", flush=True)
    return samples


def warm_up_and_check(benches: list[Bench], tokens: int) -> None:
    """Run every side once at each concurrency (untimed); all must agree with the raw loop."""
    for bench in benches:
        for concurrency in CONCURRENCY:
            for side in cell_sides(bench, concurrency):
                run_cell(bench, side, concurrency, tokens)
        names = ", ".join(cell_sides(bench, max(CONCURRENCY)))
        print(f"greedy check, {bench.spec.name} model: {names} all give the same "
              f"{tokens} tokens (first {bench.expected[:8]}), at concurrency "
              f"{' and '.join(map(str, CONCURRENCY))}", flush=True)


@dataclass(frozen=True)
class Row:
    model: str
    concurrency: int
    side: str
    per_stream: float  # tokens/s
    aggregate: float  # tokens/s
    ttft_p50: float  # ms
    ttft_p90: float  # ms


def summarise(samples: Samples, tokens: int) -> list[Row]:
    rows = []
    for (model, concurrency, side), results in samples.items():
        streams = [s for result, _ in results for s in result]
        firsts = [first * 1000 for _, first, _ in streams]
        rows.append(Row(
            model, concurrency, side,
            statistics.median(tokens / total for _, _, total in streams),
            statistics.median(len(result) * tokens / wall for result, wall in results),
            float(np.percentile(firsts, 50)), float(np.percentile(firsts, 90))))
    return rows


def table(rows: list[Row]) -> list[str]:
    """The markdown table; interlock's rows carry their ratios to raw and to transformers."""
    by_key = {(r.model, r.concurrency, r.side): r for r in rows}
    lines = ["| model | conc. | side | tok/s per stream | tok/s aggregate | TTFT p50 ms | "
             "TTFT p90 ms | tok/s vs raw | tok/s vs transformers | TTFT vs raw | "
             "TTFT vs transformers |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [row.model, str(row.concurrency), row.side, f"{row.per_stream:,.0f}",
                 f"{row.aggregate:,.0f}", f"{row.ttft_p50:.2f}", f"{row.ttft_p90:.2f}"]
        raw = by_key.get((row.model, row.concurrency, RAW))
        peer = by_key.get((row.model, row.concurrency, TORCH))
        if row.side in (INTERLOCK, HTTP) and raw and peer:
            cells += [f"{row.aggregate / raw.aggregate:.2f}x",
                      f"{row.aggregate / peer.aggregate:.2f}x",
                      f"{row.ttft_p50 / raw.ttft_p50:.2f}x",
                      f"{row.ttft_p50 / peer.ttft_p50:.2f}x"]
        else:
            cells += [" "] * 4
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def versions() -> str:
    import onnxruntime
    import torch
    import transformers

    import interlock

    return (f"interlock {interlock.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"torch {torch.__version__}, transformers {transformers.__version__}, "
            f"Python {platform.python_version()}")


def write_doc(lines: list[str]) -> None:
    """Replace the benchmark's section of docs/performance.md (between its markers)."""
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} section to replace; "
                         "add the two markers where the figures belong, or pass --no-doc")
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + rest.split(END, 1)[1])
    print(f"wrote {DOC}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny model only, 8 tokens, 1 repetition, docs untouched")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of every cell")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per answer")
    parser.add_argument("--models", default="tiny,mid", help="comma-separated: tiny, mid")
    parser.add_argument("--no-http", action="store_true", help="leave out interlock HTTP")
    parser.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    args = parser.parse_args()
    if args.quick:
        args.models, args.tokens, args.reps, args.no_doc = "tiny", 8, 1, True
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown or args.reps < 1 or args.tokens < 1:
        parser.error(f"--models takes {', '.join(MODELS)} (got {args.models!r}); --reps and "
                     "--tokens take an integer of at least 1")
    return args


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="interlock-bench-text-"))
    load_before = os.getloadavg()
    server = None
    try:
        store = str(work / "store")
        benches = [prepare(MODELS[name], store, args.tokens) for name in args.models.split(",")]
        if not args.no_http:
            server = ServerProcess(store, work / "serve.log", [b.ref for b in benches])
            for bench in benches:
                bench.sides[HTTP] = http_side(server.url, f"bench-{bench.spec.name}", PROMPT)
        for bench in benches:
            print(f"{bench.spec.name}: {bench.spec}, {bench.parameters:,} parameters, "
                  f"prompt {len(bench.prompt_ids)} tokens ({bench.ref})")
        warm_up_and_check(benches, args.tokens)
        rows = summarise(measure(benches, args.reps, args.tokens), args.tokens)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    header = (f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}"
              f", {os.cpu_count()} cores, Linux {platform.release()}; load average "
              f"{' / '.join(f'{v:.2f}' for v in load_before)} before, "
              f"{' / '.join(f'{v:.2f}' for v in load_after)} after (1, 5, 15 min). {versions()}. "
              f"Greedy, {args.tokens} new tokens after the same prompt ("
              f"{', '.join(f'{b.spec.name}: {len(b.prompt_ids)} tokens' for b in benches)}); "
              f"medians of {args.reps} interleaved repetitions.")
    lines = [header, "", *table(rows)]
    print("\n" + "\n".join(lines))
    if not args.no_doc:
        write_doc(lines)


if __name__ == "__main__":
    main()
