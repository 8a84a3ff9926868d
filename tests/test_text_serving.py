"""`interlock serve` answers the OpenAI-compatible endpoints and the OIP generate extension,
tested with the official ``openai`` client, LiteLLM and raw HTTP against a real server on
127.0.0.1 serving tiny models built here (tests/text_models.py)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import openai
import pytest

import interlock
from interlock.text import SamplingParams, TextEmbedder, TextGenerator
from interlock_conformance import requirement
from text_models import fast_tokenizer, tiny_bert, tiny_llama, tiny_tokenizer

TOKEN = "text-serving-token"
# LiteLLM otherwise fetches its model price list from the network on import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("served-text"))
    tokenizer = tiny_tokenizer()
    vocab = tokenizer.get_vocab_size()
    interlock.export(tiny_llama(vocab), fast_tokenizer(tokenizer), name="tiny-llama", store=root)
    interlock.export(tiny_bert(vocab), tokenizer, name="tiny-bert", store=root)
    return root


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[interlock.RunningServer]:
    running = interlock.serve([store], servers={"rest": 0}, token=TOKEN, block=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: interlock.RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url("rest") + "/v1", api_key=TOKEN, max_retries=0)


@pytest.fixture(scope="module")
def generator(store: str) -> TextGenerator:
    return TextGenerator.load("tiny-llama:1", store=store)


def _post(server: interlock.RunningServer, path: str, body: Any,
          token: str | None = TOKEN) -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(server.url("rest"))
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    connection.request("POST", path, json.dumps(body).encode(), headers)
    reply = connection.getresponse()
    data = reply.read()
    connection.close()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data


def _events(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n\n"), data[-40:]
    events = data.split(b"\n\n")[:-1]
    assert all(e.startswith(b"data: ") for e in events), events
    return [e[len(b"data: "):] for e in events]


@requirement("TXT-050", "TXT-051")
def test_the_openai_client_lists_models_and_completes(
    client: openai.OpenAI, generator: TextGenerator
) -> None:
    assert sorted(m.id for m in client.models.list()) == ["tiny-bert", "tiny-llama"]
    assert client.models.retrieve("tiny-llama").id == "tiny-llama"
    reply = client.completions.create(model="tiny-llama", prompt="the quick", max_tokens=8,
                                      temperature=0)
    expected = generator.generate("the quick", SamplingParams(max_tokens=8, temperature=0))
    assert reply.object == "text_completion" and reply.choices[0].text == expected.text
    assert reply.choices[0].finish_reason == expected.finish_reason
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        expected.prompt_tokens, expected.completion_tokens)
    assert reply.usage.total_tokens == expected.prompt_tokens + expected.completion_tokens
    default = client.completions.create(model="tiny-llama", prompt="the quick")
    assert default.usage is not None and default.usage.completion_tokens <= 16  # API default


@requirement("TXT-051", "TXT-052")
def test_chat_streamed_and_whole_agree_for_a_seeded_request(
    client: openai.OpenAI, generator: TextGenerator
) -> None:
    messages: Any = [{"role": "user", "content": "hello"}]
    kwargs: Any = {"model": "tiny-llama", "messages": messages, "max_tokens": 12,
                   "temperature": 0.8, "seed": 11}
    whole = client.chat.completions.create(**kwargs)
    prompt = generator.chat_prompt(messages)
    expected = generator.generate(prompt, SamplingParams(max_tokens=12, temperature=0.8, seed=11))
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content == expected.text
    stream = client.chat.completions.create(**kwargs, stream=True,
                                            stream_options={"include_usage": True})
    pieces, reasons, usage = [], [], None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk" and chunk.id.startswith("chatcmpl-")
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            reasons.append(chunk.choices[0].finish_reason)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == expected.text
    assert reasons[-1] == expected.finish_reason and set(reasons[:-1]) == {None}
    assert usage is not None and usage.completion_tokens == expected.completion_tokens
    assert whole.usage is not None and usage.prompt_tokens == whole.usage.prompt_tokens


@requirement("TXT-051")
def test_n_choices_and_stop_strings(client: openai.OpenAI, generator: TextGenerator) -> None:
    reply = client.completions.create(model="tiny-llama", prompt="hello", max_tokens=10,
                                      temperature=1.0, seed=5, n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    texts = [c.text for c in reply.choices]
    assert len(set(texts)) > 1  # each choice has its own seed
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == len(generator.tokenizer.encode("hello"))
    whole = generator.generate("hello", SamplingParams(max_tokens=20)).text
    stop = whole[4:6]
    cut = client.completions.create(model="tiny-llama", prompt="hello", max_tokens=20,
                                    stop=[stop])
    assert cut.choices[0].text == whole[: whole.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


@requirement("TXT-053")
def test_embeddings_as_floats_and_base64(client: openai.OpenAI, store: str) -> None:
    texts = ["hello world", "東京 🙂"]
    expected = TextEmbedder.load("tiny-bert:1", store=store).embed(texts)
    reply = client.embeddings.create(model="tiny-bert", input=texts)  # the client asks base64
    got = np.array([d.embedding for d in reply.data], np.float32)
    assert np.allclose(got, expected, atol=1e-6)
    assert reply.usage.prompt_tokens == reply.usage.total_tokens > 0
    floats = client.embeddings.create(model="tiny-bert", input="hello world",
                                      encoding_format="float")
    assert np.allclose(floats.data[0].embedding, expected[0], atol=1e-6)


@requirement("TXT-054")
def test_errors_are_openai_error_objects(client: openai.OpenAI,
                                         server: interlock.RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llama", prompt="x", temperature=-1)
    body: Any = caught.value.body
    assert body["param"] == "temperature" and body["type"] == "invalid_request_error"
    assert "temperature must be a number from 0 to 100" in body["message"]
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="x")
    with pytest.raises(openai.BadRequestError, match="not a text-generation model"):
        client.chat.completions.create(model="tiny-bert", messages=[{"role": "user",
                                                                      "content": "x"}])
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llama", prompt="x", logprobs=2)
    assert caught.value.body["param"] == "logprobs"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="tiny-llama", prompt="x", n=9)
    assert caught.value.body["param"] == "n"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="tiny-llama", messages=[{"role": "robot"}])
    denied = openai.OpenAI(base_url=server.url("rest") + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        denied.models.list()
    status, _, data = _post(server, "/v1/completions", [1, 2])
    assert status == 400 and json.loads(data)["error"]["message"].startswith(
        "the request body must be a JSON object")
    status, headers, data = _post(server, "/v1/nothing", {})
    assert status == 404 and "POST /v1/chat/completions" in json.loads(data)["error"]["message"]
    address = urlsplit(server.url("rest"))
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("GET", "/v1/chat/completions", headers={"authorization": f"Bearer {TOKEN}"})
    reply = connection.getresponse()
    error = json.loads(reply.read())["error"]
    connection.close()
    assert reply.status == 405 and reply.getheader("allow") == "POST", reply.getheaders()
    assert "takes POST" in error["message"] and error["type"] == "invalid_request_error"


@requirement("TXT-052")
def test_the_event_stream_is_framed_and_the_connection_lives_on(
    server: interlock.RunningServer,
) -> None:
    address = urlsplit(server.url("rest"))
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    body = {"model": "tiny-llama", "prompt": "hi", "max_tokens": 5, "stream": True}
    for _ in range(2):  # the same connection answers again after a stream
        connection.request("POST", "/v1/completions", json.dumps(body).encode(), headers)
        reply = connection.getresponse()
        assert reply.status == 200
        assert reply.getheader("content-type") == "text/event-stream; charset=utf-8"
        assert reply.getheader("transfer-encoding") == "chunked"
        events = _events(reply.read())
        assert events[-1] == b"[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
        assert all(c["object"] == "text_completion" for c in chunks)
    connection.close()


@requirement("TXT-055")
def test_the_oip_generate_extension(server: interlock.RunningServer,
                                    generator: TextGenerator) -> None:
    request = {"text_input": "hello", "parameters": {"max_tokens": 6, "temperature": 0}}
    expected = generator.generate("hello", SamplingParams(max_tokens=6, temperature=0))
    status, headers, data = _post(server, "/v2/models/tiny-llama/generate", request)
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(data)
    assert answer == {"model_name": "tiny-llama", "model_version": "1",
                      "text_output": expected.text, "finish_reason": "length"}
    status, headers, data = _post(server, "/v2/models/tiny-llama/versions/1/generate_stream",
                                  request)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [json.loads(e) for e in _events(data)]
    assert "".join(e["text_output"] for e in events) == expected.text
    assert events[-1]["finish_reason"] == "length"
    status, _, data = _post(server, "/v2/models/tiny-llama/generate", {"text_input": 3})
    assert status == 400 and "text_input must be a string" in json.loads(data)["error"]
    status, _, data = _post(server, "/v2/models/tiny-bert/generate", request)
    assert status == 400 and "not a text-generation model" in json.loads(data)["error"]
    status, _, _ = _post(server, "/v2/models/tiny-llama/generate", request, token=None)
    assert status == 401


@requirement("TXT-038", "TXT-052")
def test_concurrent_streams_and_a_client_that_leaves(
    client: openai.OpenAI, server: interlock.RunningServer, generator: TextGenerator
) -> None:
    address = urlsplit(server.url("rest"))
    body = json.dumps({"model": "tiny-llama", "prompt": "hello", "max_tokens": 100,
                       "stream": True}).encode()
    gone = socket.create_connection((address.hostname, address.port))
    gone.sendall(b"POST /v1/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer "
                 + TOKEN.encode() + b"\r\ncontent-type: application/json\r\ncontent-length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert gone.recv(4096).startswith(b"HTTP/1.1 200")
    gone.close()  # mid-stream: the others are not disturbed
    results: dict[int, str] = {}

    def ask(seed: int) -> None:
        stream = client.completions.create(model="tiny-llama", prompt="hello", max_tokens=10,
                                           temperature=0.9, seed=seed, stream=True)
        results[seed] = "".join(c.choices[0].text for c in stream if c.choices)

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for seed in range(8):
        expected = generator.generate("hello", SamplingParams(max_tokens=10, temperature=0.9,
                                                              seed=seed))
        assert results[seed] == expected.text, seed


@requirement("TXT-051")
def test_litellm_talks_to_it_unchanged(server: interlock.RunningServer,
                                       generator: TextGenerator) -> None:
    import litellm

    base = server.url("rest") + "/v1"
    messages = [{"role": "user", "content": "hi"}]
    expected = generator.generate(generator.chat_prompt(messages),
                                  SamplingParams(max_tokens=5, temperature=0)).text
    whole = litellm.completion(model="openai/tiny-llama", api_base=base, api_key=TOKEN,
                               messages=messages, max_tokens=5, temperature=0)
    assert whole.choices[0].message.content == expected
    stream = litellm.completion(model="openai/tiny-llama", api_base=base, api_key=TOKEN,
                                messages=messages, max_tokens=5, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == expected
