"""The text endpoints under the server's operations (text.md TXT-056): request metrics,
merged decode steps with dynamic batching, admission beyond the generations the server runs
at once, and a graceful stop that lets a begun stream finish; a real server on 127.0.0.1 and
raw HTTP clients."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

import interlock
from interlock.text import SamplingParams, TextGenerator
from interlock_conformance import requirement
from text_models import fast_tokenizer, tiny_llama, tiny_tokenizer

MODEL = "tiny-llama"
PROMPTS = ["a", "the fox", "hello there", "x y z", "interlock", "bb", "one two three", "q"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("served-text-ops"))
    tokenizer = tiny_tokenizer()
    # No end token: every answer runs to max_tokens, so the lengths below are exact.
    model = tiny_llama(tokenizer.get_vocab_size())
    model.generation_config.eos_token_id = None
    model.config.eos_token_id = None
    interlock.export(model, fast_tokenizer(tokenizer), name=MODEL, store=root)
    return root


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[interlock.RunningServer]:
    running = interlock.serve([store], servers={"rest": 0}, max_batch_size=8, block=False)
    yield running
    running.stop()


def _connect(running: interlock.RunningServer) -> http.client.HTTPConnection:
    address = urlsplit(running.url("rest"))
    return http.client.HTTPConnection(address.hostname, address.port, timeout=60)


def _completion(running: interlock.RunningServer, **body: Any) -> tuple[int, Any]:
    connection = _connect(running)
    try:
        connection.request("POST", "/v1/completions", json.dumps({"model": MODEL, **body}),
                           {"content-type": "application/json"})
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def _counted(running: interlock.RunningServer, endpoint: str, status: str) -> float:
    connection = _connect(running)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    pattern = (r'^interlock_requests_total\{(?=[^}]*protocol="rest")(?=[^}]*endpoint="'
               + endpoint + r'")(?=[^}]*status="' + status + r'")[^}]*\} (\S+)$')
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.MULTILINE))


@requirement("TXT-056")
def test_text_requests_are_counted_under_their_endpoint_and_status(
    server: interlock.RunningServer,
) -> None:
    ok, refused = _counted(server, "completions", "200"), _counted(server, "completions", "400")
    assert _completion(server, prompt="a", max_tokens=2)[0] == 200
    assert _completion(server, prompt="a", max_tokens=2)[0] == 200
    assert _completion(server, prompt="a", max_tokens=-1)[0] == 400
    assert _counted(server, "completions", "200") == ok + 2
    assert _counted(server, "completions", "400") == refused + 1


@requirement("TXT-056", "TXT-039")
def test_dynamic_batching_merges_decode_steps_and_each_gets_its_own_answer(
    server: interlock.RunningServer, store: str
) -> None:
    alone = TextGenerator.load(f"{MODEL}:1", store=store)
    expected = [alone.generate(p, SamplingParams(max_tokens=24, temperature=0)).text
                for p in PROMPTS]
    generator = server.repository.get(MODEL).generator
    assert generator is not None
    stats = generator._batcher  # the server made its generator with batch_steps=8
    assert stats is not None
    calls, rows = stats.calls, stats.rows
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        answers = list(pool.map(
            lambda p: _completion(server, prompt=p, max_tokens=24, temperature=0), PROMPTS))
    assert [status for status, _ in answers] == [200] * len(PROMPTS)
    assert [body["choices"][0]["text"] for _, body in answers] == expected
    assert stats.rows - rows > stats.calls - calls, "no decode steps were merged"


def _open_stream(running: interlock.RunningServer, max_tokens: int,
                 n: int = 1) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = _connect(running)
    body = {"model": MODEL, "prompt": "the fox", "max_tokens": max_tokens, "n": n,
            "temperature": 0, "stream": True}
    connection.request("POST", "/v1/completions", json.dumps(body),
                       {"content-type": "application/json"})
    return connection, connection.getresponse()


@requirement("TXT-056", "TXT-054")
def test_beyond_the_generations_at_once_a_request_gets_503_and_slots_come_back(
    server: interlock.RunningServer,
) -> None:
    from interlock_rest.openai import MAX_GENERATIONS

    # Streams that have begun hold their slot until they end; their clients read nothing yet.
    streams = [_open_stream(server, 100) for _ in range(MAX_GENERATIONS)]
    try:
        assert [reply.status for _, reply in streams] == [200] * MAX_GENERATIONS
        connection = _connect(server)
        connection.request("POST", "/v1/chat/completions", json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}),
            {"content-type": "application/json"})
        refused = connection.getresponse()
        error = json.loads(refused.read())["error"]
        connection.close()
        assert refused.status == 503 and int(refused.getheader("retry-after") or 0) >= 1
        assert f"generating {MAX_GENERATIONS} answers" in error["message"], error
    finally:
        for connection, reply in streams:
            assert reply.read().endswith(b"data: [DONE]\n\n")
            connection.close()
    deadline = time.monotonic() + 30
    while (status := _completion(server, prompt="a", max_tokens=1)[0]) == 503:
        assert time.monotonic() < deadline, "the ended streams' slots never came back"
        time.sleep(0.05)
    assert status == 200


@requirement("TXT-056")
def test_a_graceful_stop_lets_a_begun_stream_finish(store: str) -> None:
    running = interlock.serve([store], servers={"rest": 0}, block=False)
    try:
        connection, reply = _open_stream(running, 100, n=4)
        assert reply.status == 200
        first = reply.readline()
        assert first.startswith(b"data: "), first
        stopper = threading.Thread(target=running.stop, kwargs={"grace_seconds": 30})
        stopper.start()
        stopping = time.monotonic()
        rest = reply.read()
        ended = time.monotonic()
        stopper.join(60)
        connection.close()
    finally:
        running.stop()
    events = [json.loads(line[6:]) for line in (first + rest).split(b"\n")
              if line.startswith(b"data: {")]
    assert rest.endswith(b"data: [DONE]\n\n")
    finished = [c for e in events for c in e["choices"] if c.get("finish_reason")]
    assert sorted(c["index"] for c in finished) == [0, 1, 2, 3]
    assert {c["finish_reason"] for c in finished} == {"length"}
    # Most of the stream came after the stop began (not from buffers filled before it), and
    # the stop waited for it.
    assert ended - stopping > 0.02 and not stopper.is_alive(), ended - stopping
    with pytest.raises(OSError):
        _connect(running).request("GET", "/v2/health/live")
