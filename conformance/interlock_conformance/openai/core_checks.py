"""The checks of ``openai-core``: what the OpenAI API reference says a server answers, for any
server (``specs/v1/openai.md`` OAI-001..OAI-013). Where the reference lets a server choose, or
promises a best effort only, a check records what the server did as an observation."""

from __future__ import annotations

import urllib.parse
from typing import Any

from interlock_conformance.oip.checks import CheckFailure, NotApplicable
from interlock_conformance.openai.messages import (
    CHAT_PATH,
    error_object,
    expect_refusal,
    finishes,
    generate,
    json_body,
    read_answer,
    read_stream,
    texts,
)
from interlock_conformance.openai.target import OpenAITarget, openai_check
from interlock_conformance.openai.wire import Answer

__all__ = ["NO_SUCH_MODEL", "greedy", "model_path", "pick_stop", "read_embeddings"]

NO_SUCH_MODEL = "interlock-check-no-such-model"
_BOTH = (True, False)


def model_path(model: str) -> str:
    """``/v1/models/{model}``, the id percent-encoded as one path segment."""
    return "/v1/models/" + urllib.parse.quote(model, safe=":@")


def _modes(target: OpenAITarget) -> list[bool]:
    """Chat, and completions where the server has them."""
    return [chat for chat in _BOTH if chat or "completions" in target.claims]


def greedy(target: OpenAITarget, chat: bool, max_tokens: int = 8) -> dict[str, Any]:
    """The answer to a greedy (temperature 0, seed 7) request, asked once per run."""
    key = f"greedy-{chat}-{max_tokens}"
    if key not in target.cache:
        answer = generate(target, chat, max_tokens=max_tokens, temperature=0, seed=7)
        target.cache[key] = read_answer(answer, chat, max_tokens=max_tokens)
    document: dict[str, Any] = target.cache[key]
    return document


def pick_stop(text: str) -> str | None:
    """A stop sequence that cuts ``text`` short: its first character after the first that is
    printable and not the replacement character; None when it has none."""
    for index, char in enumerate(text):
        if index and char.isprintable() and not char.isspace() and char != "\ufffd":
            return char
    return None


@openai_check("OAI-001", capabilities=(), needs="none")
def check_models_list(target: OpenAITarget) -> None:
    """GET /v1/models answers a list of model objects naming every model checked."""
    answer = target.call("GET", "/v1/models")
    if answer.status != 200:
        raise CheckFailure(f"{answer.what} answered {answer.status} with {answer.excerpt()}")
    document = json_body(answer, "OAI-001")
    data = document.get("data")
    if document.get("object") != "list" or not isinstance(data, list):
        raise CheckFailure(f"{answer.what} answered {answer.excerpt()}, not "
                           '{"object": "list", "data": [...]}')
    for entry in data:
        if not isinstance(entry, dict):
            raise CheckFailure(f"{answer.what}: a model is {entry!r}, not an object")
        for key, kind in (("id", str), ("object", str), ("created", int), ("owned_by", str)):
            value = entry.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise CheckFailure(f"{answer.what}: model {entry.get('id')!r} has '{key}' "
                                   f"{value!r}, not a{'n integer' if kind is int else ' string'}")
        if entry["object"] != "model":
            raise CheckFailure(f"{answer.what}: model {entry['id']!r} has 'object' "
                               f"{entry['object']!r}, not 'model'")
        extra = sorted(set(entry) - {"id", "object", "created", "owned_by"})
        if extra:
            target.observe("OAI-001", f"model objects carry fields the reference does not "
                           f"name: {extra}")
    listed = {e["id"] for e in data}
    for model in (target.model, target.embedding_model):
        if model is not None and model not in listed:
            raise CheckFailure(f"{answer.what} does not list {model!r} (it lists "
                               f"{sorted(listed)[:8]})")


@openai_check("OAI-002", capabilities=(), needs="none")
def check_model_retrieve(target: OpenAITarget) -> None:
    """GET /v1/models/{model} answers the model object of a listed model."""
    models = [m for m in (target.model, target.embedding_model) if m is not None]
    if not models:
        raise NotApplicable("no model")
    for model in models:
        answer = target.call("GET", model_path(model))
        if answer.status != 200:
            raise CheckFailure(f"{answer.what} answered {answer.status} with "
                               f"{answer.excerpt()}, expected 200 with the model object")
        document = json_body(answer, "OAI-002")
        if document.get("id") != model or document.get("object") != "model":
            raise CheckFailure(f"{answer.what} answered {answer.excerpt()}, not the model "
                               f'object {{"id": "{model}", "object": "model", ...}}')


@openai_check("OAI-003", "OAI-004", "OAI-005")
def check_chat_completion(target: OpenAITarget) -> None:
    """POST /v1/chat/completions answers a chat.completion object with its usage."""
    read_answer(generate(target, True, max_tokens=4), True, max_tokens=4)
    read_answer(generate(target, True, max_tokens=1), True, max_tokens=1)


@openai_check("OAI-008", "OAI-004", "OAI-005", capabilities=("completions",))
def check_completion(target: OpenAITarget) -> None:
    """POST /v1/completions answers a text_completion object with its usage."""
    read_answer(generate(target, False, max_tokens=4), False, max_tokens=4)
    read_answer(generate(target, False, max_tokens=1), False, max_tokens=1)


@openai_check("OAI-009", capabilities=("completions",))
def check_completion_default_max_tokens(target: OpenAITarget) -> None:
    """A completions request without max_tokens generates at most 16 tokens."""
    document = read_answer(generate(target, False), False)
    tokens = document["usage"]["completion_tokens"]
    if tokens > 16:
        raise CheckFailure(f"POST /v1/completions without max_tokens generated {tokens} "
                           "tokens; the reference's default is 16")


@openai_check("OAI-006")
def check_n_choices(target: OpenAITarget) -> None:
    """A request with n: 2 answers two choices, indexes 0 and 1 (or is refused)."""
    for chat in _modes(target):
        answer = generate(target, chat, max_tokens=3, n=2, temperature=1, seed=11)
        if answer.status >= 400:
            error = error_object(answer)
            target.observe("OAI-006", f"{answer.what} refuses n: 2 ({answer.status}, "
                           f"{error.get('message')!r})")
            continue
        read_answer(answer, chat, n=2, max_tokens=3)


@openai_check("OAI-007")
def check_stop_sequence(target: OpenAITarget) -> None:
    """With stop, no choice's text holds the stop sequence; a text cut short ends 'stop'."""
    ran = False
    for chat in _modes(target):
        plain = texts(greedy(target, chat), chat)[0]
        stop = pick_stop(plain)
        if stop is None:
            continue
        ran = True
        answer = generate(target, chat, max_tokens=8, temperature=0, seed=7, stop=[stop])
        document = read_answer(answer, chat, max_tokens=8)
        text, finish = texts(document, chat)[0], finishes(document)[0]
        if stop in text:
            raise CheckFailure(f"{answer.what} with stop [{stop!r}] answered {text!r}, which "
                               "holds the stop sequence")
        if plain.startswith(text) and len(text) < len(plain) and finish != "stop":
            raise CheckFailure(f"{answer.what} with stop [{stop!r}] cut {plain!r} to {text!r} "
                               f"but ends with finish_reason {finish!r}, not 'stop'")
    if not ran:
        raise NotApplicable("the greedy answers hold no character to stop at")


@openai_check("OAI-010", "OAI-011")
def check_streams(target: OpenAITarget) -> None:
    """stream: true answers data-only server-sent events of chunks ending in data: [DONE]."""
    for chat in _modes(target):
        whole = greedy(target, chat)
        answer = generate(target, chat, max_tokens=8, temperature=0, seed=7, stream=True)
        stream = read_stream(target, answer, chat)
        usage = [c for c in stream.chunks if isinstance(c.get("usage"), dict)]
        if usage:
            target.observe("OAI-010", f"{answer.what} sends usage in {len(usage)} chunk(s) "
                           "without stream_options")
        same = stream.texts.get(0) == texts(whole, chat)[0]
        target.observe("OAI-010", f"{answer.what}: a greedy stream "
                       + ("equals" if same else "differs from") + " the same request unstreamed")


@openai_check("OAI-012")
def check_refusals(target: OpenAITarget) -> None:
    """Requests that cannot succeed are answered with an error status and an error object."""
    expect_refusal(target, target.call("POST", CHAT_PATH, raw=b'{"model": '),
                   "a body that is not JSON")
    expect_refusal(target, target.call("POST", CHAT_PATH, {"model": target.model,
                                                           "max_tokens": 1}),
                   "a chat request without messages")
    body = {"model": NO_SUCH_MODEL, "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 1}
    expect_refusal(target, target.call("POST", CHAT_PATH, body), "an unknown model")


@openai_check("OAI-012", capabilities=("chat", "auth"))
def check_key_required(target: OpenAITarget) -> None:
    """A server that needs a key answers a request without one 401 with an error object."""
    body = {"model": target.model, "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 1}
    answer = target.call("POST", CHAT_PATH, body, auth=False)
    if answer.status != 401:
        raise CheckFailure(f"{answer.what} without a key answered {answer.status} with "
                           f"{answer.excerpt()}, expected 401")
    error_object(answer)


@openai_check("OAI-013", capabilities=("embeddings",), needs="embeddings")
def check_embeddings(target: OpenAITarget) -> None:
    """POST /v1/embeddings answers one embedding object per input, in order."""
    inputs = ["the quick brown fox", "hello world"]
    answer = target.call("POST", "/v1/embeddings", {"model": target.embedding_model,
                                                    "input": inputs})
    read_embeddings(answer, len(inputs))
    read_embeddings(target.call("POST", "/v1/embeddings", {"model": target.embedding_model,
                                                           "input": inputs[0]}), 1)


def read_embeddings(answer: Answer, count: int, *, floats: bool = True) -> list[Any]:
    """The embeddings of an embeddings answer for ``count`` inputs (OAI-013)."""
    if answer.status != 200:
        raise CheckFailure(f"{answer.what} answered {answer.status} with {answer.excerpt()}",
                           requirement="OAI-013")
    document = json_body(answer, "OAI-013")
    data = document.get("data")
    if document.get("object") != "list" or not isinstance(data, list) or len(data) != count:
        raise CheckFailure(f"{answer.what} answered {answer.excerpt()}, not "
                           f'{{"object": "list", "data": [...]}} with {count} embedding(s)',
                           requirement="OAI-013")
    usage = document.get("usage")
    if not isinstance(usage, dict) or not all(
            isinstance(usage.get(k), int) for k in ("prompt_tokens", "total_tokens")):
        raise CheckFailure(f"{answer.what}: 'usage' is {usage!r}, not {{prompt_tokens, "
                           "total_tokens}", requirement="OAI-013")
    vectors = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or entry.get("object") != "embedding" or (
                entry.get("index") != index):
            raise CheckFailure(f"{answer.what}: entry {index} is {str(entry)[:100]}, not "
                               f'{{"object": "embedding", "index": {index}, ...}}',
                               requirement="OAI-013")
        vectors.append(entry.get("embedding"))
    if floats:
        lengths = set()
        for index, vector in enumerate(vectors):
            if not isinstance(vector, list) or not vector or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector):
                raise CheckFailure(f"{answer.what}: embedding {index} is {str(vector)[:80]}, "
                                   "not a list of numbers", requirement="OAI-013")
            lengths.add(len(vector))
        if len(lengths) > 1:
            raise CheckFailure(f"{answer.what}: the embeddings have the lengths "
                               f"{sorted(lengths)}, not one", requirement="OAI-013")
    return vectors
