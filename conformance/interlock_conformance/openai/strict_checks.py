"""The checks of ``interlock-text``: interlock's stricter promise for its OpenAI-compatible
endpoints (``specs/v1/openai.md`` OAI-100..OAI-106), which ``interlock certify --openai``
reports as advice unless asked for it."""

from __future__ import annotations

import base64
import struct
from typing import Any

from interlock_conformance.oip.checks import CheckFailure, NotApplicable
from interlock_conformance.openai.core_checks import (
    NO_SUCH_MODEL,
    greedy,
    model_path,
    pick_stop,
    read_embeddings,
)
from interlock_conformance.openai.messages import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    error_object,
    finishes,
    generate,
    read_answer,
    read_stream,
    request_body,
    texts,
)
from interlock_conformance.openai.target import INTERLOCK, OpenAITarget, openai_check
from interlock_conformance.openai.wire import Answer

__all__: list[str] = []


def _modes(target: OpenAITarget) -> list[bool]:
    return [True, False] if "completions" in target.claims else [True]


def _expect(answer: Answer, status: int, why: str, param: str | None = None) -> None:
    if answer.status != status:
        raise CheckFailure(f"{answer.what} ({why}) answered {answer.status} with "
                           f"{answer.excerpt()}, expected {status}")
    error = error_object(answer)
    if param is not None and error.get("param") != param:
        raise CheckFailure(f"{answer.what} ({why}): the error's param is "
                           f"{error.get('param')!r}, expected {param!r}")


@openai_check("OAI-100", profile=INTERLOCK)
def check_exact_errors(target: OpenAITarget) -> None:
    """Errors have exact statuses: 400 naming the param, 404 for unknown models and paths,
    405 with Allow."""
    _expect(target.call("POST", CHAT_PATH, raw=b"{not json"), 400, "a body that is not JSON")
    _expect(target.call("POST", CHAT_PATH, {"model": target.model, "max_tokens": 1}), 400,
            "no messages", "messages")
    for field, value in (("n", 0), ("max_tokens", -1)):
        _expect(generate(target, True, **{"max_tokens": 1, field: value}), 400,
                f"{field}: {value}", field)
    for chat in _modes(target):
        body = {**request_body(target, chat, max_tokens=1), "model": NO_SUCH_MODEL}
        _expect(target.call("POST", CHAT_PATH if chat else COMPLETIONS_PATH, body), 404,
                "an unknown model")
    _expect(target.call("GET", model_path(NO_SUCH_MODEL)), 404, "an unknown model")
    _expect(target.call("GET", "/v1/interlock-check-no-such-endpoint"), 404, "no such path")
    answer = target.call("GET", CHAT_PATH)
    _expect(answer, 405, "a method the endpoint does not take")
    allow = [m.strip().upper() for m in (answer.header("allow") or "").split(",")]
    if "POST" not in allow:
        raise CheckFailure(f"{answer.what} answered 405 with Allow {answer.header('allow')!r}, "
                           "not listing POST (RFC 9110 section 15.5.6: a 405 MUST carry Allow)")


_UNSUPPORTED: list[tuple[bool, str, Any]] = [
    (True, "logprobs", True), (True, "logit_bias", {"1": 5}), (True, "presence_penalty", 1),
    (True, "tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    (False, "echo", True), (False, "best_of", 2),
]


@openai_check("OAI-101", profile=INTERLOCK)
def check_unsupported_parameters(target: OpenAITarget) -> None:
    """Parameters the server does not implement are refused with 400 naming them."""
    for chat, name, value in _UNSUPPORTED:
        if chat or "completions" in target.claims:
            _expect(generate(target, chat, max_tokens=2, **{name: value}), 400,
                    f"{name}: {value!r}", name)


@openai_check("OAI-102", profile=INTERLOCK)
def check_usage_chunk(target: OpenAITarget) -> None:
    """stream_options.include_usage ends the stream with a usage chunk of empty choices."""
    for chat in _modes(target):
        whole = greedy(target, chat)
        answer = generate(target, chat, max_tokens=8, temperature=0, seed=7, stream=True,
                          stream_options={"include_usage": True})
        stream = read_stream(target, answer, chat)
        last = stream.chunks[-1] if stream.chunks else {}
        if last.get("choices") != [] or last.get("usage") != whole["usage"]:
            raise CheckFailure(f"{answer.what} with include_usage ends with the chunk "
                               f"{str(last)[:160]}, not one with \"choices\": [] and the usage "
                               f"of the same request unstreamed, {whole['usage']}")


@openai_check("OAI-103", profile=INTERLOCK)
def check_seeded_determinism(target: OpenAITarget) -> None:
    """A seeded request answers the same twice; choice 0 of n: 2 is the n: 1 answer."""
    for chat in _modes(target):
        asked = {"max_tokens": 6, "temperature": 1, "seed": 1234}
        first = texts(read_answer(generate(target, chat, **asked), chat, max_tokens=6), chat)
        again = texts(read_answer(generate(target, chat, **asked), chat, max_tokens=6), chat)
        if first != again:
            raise CheckFailure(f"{'chat' if chat else 'completions'}: the same seeded request "
                               f"answered {first!r}, then {again!r}")
        two = read_answer(generate(target, chat, n=2, **asked), chat, n=2, max_tokens=6)
        if texts(two, chat)[0] != first[0]:
            raise CheckFailure(f"{'chat' if chat else 'completions'}: choice 0 of n: 2 is "
                               f"{texts(two, chat)[0]!r}, the n: 1 answer {first[0]!r}")


@openai_check("OAI-104", profile=INTERLOCK)
def check_stream_equals_whole(target: OpenAITarget) -> None:
    """A greedy and a seeded stream carry the answer of the same request unstreamed."""
    for chat in _modes(target):
        for asked in ({"temperature": 0, "seed": 7}, {"temperature": 1, "seed": 99, "n": 2}):
            n = int(asked.get("n", 1))
            whole = read_answer(generate(target, chat, max_tokens=8, **asked), chat, n=n,
                                max_tokens=8)
            answer = generate(target, chat, max_tokens=8, stream=True, **asked)
            stream = read_stream(target, answer, chat)
            pieces = [stream.texts.get(i) for i in range(n)]
            ends = [stream.finishes.get(i) for i in range(n)]
            if pieces != texts(whole, chat) or ends != finishes(whole):
                raise CheckFailure(f"{answer.what} {asked}: the stream carries {pieces!r} "
                                   f"({ends}), the whole answer {texts(whole, chat)!r} "
                                   f"({finishes(whole)})")


@openai_check("OAI-105", profile=INTERLOCK)
def check_stop_and_counts(target: OpenAITarget) -> None:
    """A greedy answer with stop is the one without, cut before the stop; n choices that
    end by length count n * max_tokens tokens, the prompt once."""
    for chat in _modes(target):
        plain = texts(greedy(target, chat), chat)[0]
        stop = pick_stop(plain)
        if stop is not None:
            document = read_answer(generate(target, chat, max_tokens=8, temperature=0, seed=7,
                                            stop=stop), chat, max_tokens=8)
            expected = plain.split(stop)[0]
            got = (texts(document, chat)[0], finishes(document)[0])
            if got != (expected, "stop"):
                raise CheckFailure(f"stop {stop!r} answered {got}, expected {(expected, 'stop')} "
                                   f"(the answer without stop is {plain!r})")
        one = read_answer(generate(target, chat, max_tokens=3, temperature=1, seed=5), chat,
                          max_tokens=3)
        two = read_answer(generate(target, chat, max_tokens=3, temperature=1, seed=5, n=2), chat,
                          n=2, max_tokens=3)
        if two["usage"]["prompt_tokens"] != one["usage"]["prompt_tokens"]:
            raise CheckFailure(f"n: 2 counts {two['usage']['prompt_tokens']} prompt tokens, n: 1 "
                               f"{one['usage']['prompt_tokens']}: the prompt is counted once")
        if finishes(two) == ["length", "length"] and two["usage"]["completion_tokens"] != 6:
            raise CheckFailure(f"n: 2 with max_tokens 3, both ending by length, counts "
                               f"{two['usage']['completion_tokens']} completion tokens, not 6")


@openai_check("OAI-106", profile=INTERLOCK, capabilities=("embeddings",), needs="embeddings")
def check_embeddings_base64(target: OpenAITarget) -> None:
    """encoding_format base64 answers little-endian float32, equal to the float answer."""
    body = {"model": target.embedding_model, "input": ["the quick brown fox", "hello world"]}
    floats = read_embeddings(target.call("POST", "/v1/embeddings", body), 2)
    answer = target.call("POST", "/v1/embeddings", {**body, "encoding_format": "base64"})
    for index, (encoded, vector) in enumerate(zip(read_embeddings(answer, 2, floats=False),
                                                  floats)):
        try:
            raw = base64.b64decode(encoded, validate=True)
            values = struct.unpack(f"<{len(raw) // 4}f", raw)
        except (TypeError, ValueError, struct.error):
            raise CheckFailure(f"{answer.what}: embedding {index} is {str(encoded)[:60]!r}, "
                               "not base64 of float32 values") from None
        expected = struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector))
        if len(raw) % 4 or values != expected:
            raise CheckFailure(f"{answer.what}: embedding {index} decodes to {len(values)} "
                               f"values {values[:3]}..., the float answer {vector[:3]}...")
    if not floats:
        raise NotApplicable("no embeddings")
