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
* **interlock batch_steps=8** (concurrency 8 only): the same with ``TextGenerator.load(...,
  batch_steps=8)``, the decode steps of concurrent requests merged into one graph call;
* **onnxruntime-genai loop (raw)**: onnxruntime-genai's own greedy ``Generator`` loop over
  the artifact (the folder interlock's ``onnxruntime-genai`` text engine writes), and
  **interlock on onnxruntime-genai**: ``TextGenerator.load(artifact,
  engine="onnxruntime-genai")``, interlock's requests, stop strings and streaming around it;
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
the raw loop's (the HTTP side: the same text); a disagreement stops the run. Each interlock
row's "vs raw" ratios are to the raw loop of the engine under it (onnxruntime's, or
onnxruntime-genai's for the engine row).

    python benchmarks/bench_text.py [--quick] [--reps 3] [--tokens 64] [--no-doc]

``--quick``: the tiny model only, 8 new tokens, 1 repetition, docs untouched (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
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

sys.path.insert(0, str(HERE / "text"))
from sides import (  # noqa: E402
    BATCHED, CONCURRENCY, GENAI, GENAI_RAW, HTTP, INTERLOCK, MODELS, PROMPT, RAW, TORCH,
    TORCH_BATCH, ModelSpec, Stream, build_model, build_tokenizer, http_side, timed_cell,
    worker_main,
)

#: The raw loop each interlock side is compared with.
RAW_OF = {INTERLOCK: RAW, BATCHED: RAW, HTTP: RAW, GENAI: GENAI_RAW}


class Process:
    """A child process (a worker, or ``interlock serve``), its log, and how to stop it."""

    def __init__(self, name: str, command: list[str], log: Path, **popen: Any) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stderr=out, **popen)

    def failed(self, what: str) -> SystemExit:
        self.stop()
        return SystemExit(f"{self.name} {what}; its log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Worker(Process):
    """``bench_text.py --worker``: one engine of one model in a process of its own, so that
    one side's thread pools (onnxruntime's, PyTorch's) do not spin on the cores of another's."""

    def __init__(self, job: dict[str, Any], log: Path) -> None:
        super().__init__(f"the {job['engine']} worker", [
            sys.executable, __file__, "--worker", json.dumps(job)], log,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise self.failed("did not start")

    def cell(self, side: str, concurrency: int, tokens: int) -> tuple[list[Stream], float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"side": side, "concurrency": concurrency,
                                             "tokens": tokens}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise self.failed(f"stopped during {side}")
        answer = json.loads(line)
        return [tuple(s) for s in answer["streams"]], answer["wall"]  # type: ignore[misc]


class Server(Process):
    """``interlock serve STORE --server rest=PORT`` (so that the client threads do not share
    its interpreter)."""

    def __init__(self, store: str, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        super().__init__("interlock serve", [str(Path(sys.executable).parent / "interlock"),
                                             "serve", store, "--server", f"rest={port}"], log,
                         stdout=subprocess.DEVNULL)

    def wait_ready(self, models: list[str]) -> None:
        deadline = time.monotonic() + 120
        for model in models:
            while not self._ready(f"{self.url}/v2/models/{model}/ready"):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise self.failed("did not get ready")
                time.sleep(0.1)

    @staticmethod
    def _ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False


Cell = Callable[[int, int], tuple[list[Stream], float]]


@dataclass
class Bench:
    """One model, its prompt, the greedy answer every side must give, and the sides."""

    spec: ModelSpec
    job: dict[str, Any]
    parameters: int
    expected_text: str
    sides: dict[str, Cell]
    expected: list[int] | None = None

    @property
    def prompt_ids(self) -> list[int]:
        return list(self.job["prompt_ids"])


def prepare(spec: ModelSpec, work: Path, tokens: int) -> Bench:
    """Build and export ``spec``, save its PyTorch weights; interlock's answer as text."""
    import interlock
    from interlock.text import SamplingParams, TextGenerator
    from transformers import PreTrainedTokenizerFast

    tokenizer = build_tokenizer(spec.vocab)
    prompt_ids = tokenizer.encode(PROMPT).ids
    model = build_model(spec, tokenizer.get_vocab_size(),
                        context=len(prompt_ids) + tokens + 64)
    store, torch_dir = work / "store", work / f"torch-{spec.name}"
    artifact = interlock.export(model, PreTrainedTokenizerFast(tokenizer_object=tokenizer),
                                name=f"bench-{spec.name}", store=str(store))
    model.save_pretrained(torch_dir)
    answer = TextGenerator.load(artifact).generate(
        prompt_ids, SamplingParams(max_tokens=tokens, temperature=0))
    job = {"store": str(store), "ref": artifact.ref, "torch_dir": str(torch_dir),
           "model_path": str(artifact.local_dir() / "model.onnx"), "prompt_ids": prompt_ids,
           "shape": [spec.layers, spec.kv_heads, spec.hidden // spec.heads]}
    return Bench(spec, job, sum(p.numel() for p in model.parameters()), answer.text, {})


def start_workers(bench: Bench, work: Path) -> list[Worker]:
    workers = []
    for engine, sides in (("raw", [RAW]), ("interlock", [INTERLOCK, BATCHED]),
                          ("genai", [GENAI_RAW, GENAI]), ("torch", [TORCH, TORCH_BATCH])):
        worker = Worker({**bench.job, "engine": engine},
                        work / f"{bench.spec.name}-{engine}.log")
        workers.append(worker)
        for side in sides:
            bench.sides[side] = lambda c, n, w=worker, s=side: w.cell(s, c, n)
    return workers


def check(bench: Bench, side: str, streams: list[Stream]) -> None:
    """Stop the run unless every stream of ``side`` is the raw loop's greedy answer."""
    want: Sequence[int] | str | None = bench.expected_text if side == HTTP else bench.expected
    for got, _, _ in streams:
        if (got if isinstance(got, str) else list(got)) != want:
            raise SystemExit(
                f"FAIL: {side} on the {bench.spec.name} model does not give the raw loop's "
                f"greedy answer:\n  got      {got!r}\n  expected {want!r}")


def run_cell(bench: Bench, side: str, concurrency: int, tokens: int) -> tuple[list[Stream], float]:
    result = bench.sides[side](concurrency, tokens)
    check(bench, side, result[0])
    return result


def cell_sides(bench: Bench, concurrency: int) -> list[str]:
    order = [RAW, INTERLOCK, BATCHED, HTTP, GENAI_RAW, GENAI, TORCH, TORCH_BATCH]
    return [s for s in order if s in bench.sides
            and (s not in (TORCH_BATCH, BATCHED) or concurrency > 1)]


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
        bench.expected = list(bench.sides[RAW](1, tokens)[0][0][0])
        for concurrency in CONCURRENCY:
            for side in cell_sides(bench, concurrency):
                run_cell(bench, side, concurrency, tokens)
        names = ", ".join(cell_sides(bench, max(CONCURRENCY)))
        print(f"greedy check, {bench.spec.name} model: {names} all give the same "
              f"{tokens} tokens (first {(bench.expected or [])[:8]}), at concurrency "
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
    """The markdown table; interlock's rows carry their ratios to the raw loop of the same
    engine and to transformers."""
    by_key = {(r.model, r.concurrency, r.side): r for r in rows}
    lines = ["| model | conc. | side | tok/s per stream | tok/s aggregate | TTFT p50 ms | "
             "TTFT p90 ms | tok/s vs raw | tok/s vs transformers | TTFT vs raw | "
             "TTFT vs transformers |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [row.model, str(row.concurrency), row.side, f"{row.per_stream:,.0f}",
                 f"{row.aggregate:,.0f}", f"{row.ttft_p50:.2f}", f"{row.ttft_p90:.2f}"]
        raw = by_key.get((row.model, row.concurrency, RAW_OF.get(row.side, "")))
        peer = by_key.get((row.model, row.concurrency, TORCH))
        if raw and peer:
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
    import onnxruntime_genai
    import torch
    import transformers

    import interlock

    return (f"interlock {interlock.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"onnxruntime-genai {onnxruntime_genai.__version__}, "
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
    if sys.argv[1:2] == ["--worker"]:
        return worker_main(json.loads(sys.argv[2]))
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="interlock-bench-text-"))
    load_before = os.getloadavg()
    processes: list[Process] = []
    try:
        benches = [prepare(MODELS[name], work, args.tokens) for name in args.models.split(",")]
        workers = [w for bench in benches for w in start_workers(bench, work)]
        processes += workers
        server = None if args.no_http else Server(benches[0].job["store"], work / "serve.log")
        if server is not None:
            processes.append(server)
            server.wait_ready([f"bench-{b.spec.name}" for b in benches])
            for bench in benches:
                action = http_side(server.url, f"bench-{bench.spec.name}", PROMPT)
                bench.sides[HTTP] = (lambda c, n, a=action, ids=bench.prompt_ids:
                                     timed_cell(a, HTTP, ids, c, n))
        for worker in workers:
            worker.wait_ready()
        for bench in benches:
            print(f"{bench.spec.name}: {bench.spec}, {bench.parameters:,} parameters, "
                  f"prompt {len(bench.prompt_ids)} tokens ({bench.job['ref']})")
        warm_up_and_check(benches, args.tokens)
        rows = summarise(measure(benches, args.reps, args.tokens), args.tokens)
    finally:
        for process in processes:
            process.stop()
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
