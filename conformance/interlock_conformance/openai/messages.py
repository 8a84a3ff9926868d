"""The requests the checker sends and how it reads the answers, from the API reference alone:
the objects of chat completions, completions and their chunks, ``usage``, ``finish_reason``,
error objects and event streams (``specs/v1/openai.md``). Each reader raises a
:class:`CheckFailure` naming the requirement the answer breaks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from interlock_conformance.oip.checks import CheckFailure
from interlock_conformance.openai.target import OpenAITarget
from interlock_conformance.openai.wire import Answer, parse_event_stream

__all__ = ["CHAT_PATH", "COMPLETIONS_PATH", "Stream", "generate", "json_body",
           "error_object", "expect_refusal", "read_answer", "read_stream", "texts"]

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
PROMPT = "the quick brown fox"
CHAT_FINISH = ("stop", "length", "tool_calls", "content_filter", "function_call")
COMPLETION_FINISH = ("stop", "length", "content_filter")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_body(answer: Answer, requirement: str) -> dict[str, Any]:
    """The answer's body as a JSON object, else a failure of ``requirement``."""
    try:
        value = json.loads(answer.body)
    except ValueError:
        raise CheckFailure(f"{answer.what} answered {answer.status} with {answer.excerpt()}, "
                           "not JSON", requirement=requirement) from None
    if not isinstance(value, dict):
        raise CheckFailure(f"{answer.what} answered {answer.excerpt()}, not a JSON object",
                           requirement=requirement)
    return value


def request_body(target: OpenAITarget, chat: bool, **fields: Any) -> dict[str, Any]:
    """A chat request with one user message, or a completions request with a prompt, for the
    generation model; ``fields`` added (a field set to None is left out)."""
    body: dict[str, Any] = {"model": target.model}
    if chat:
        body["messages"] = [{"role": "user", "content": PROMPT}]
    else:
        body["prompt"] = PROMPT
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def generate(target: OpenAITarget, chat: bool, **fields: Any) -> Answer:
    """POST a chat or completions request built by :func:`request_body`."""
    return target.call("POST", CHAT_PATH if chat else COMPLETIONS_PATH,
                       request_body(target, chat, **fields))


def error_object(answer: Answer) -> dict[str, Any]:
    """The ``error`` member of an error answer, checked to be the OpenAPI ``Error`` object
    (OAI-012)."""
    document = json_body(answer, "OAI-012")
    error = document.get("error")
    if not isinstance(error, dict):
        raise CheckFailure(f"{answer.what} answered {answer.status} with {answer.excerpt()}, "
                           'not {"error": {"message", "type", "param", "code"}}',
                           requirement="OAI-012")
    for key, nullable in (("message", False), ("type", False), ("param", True),
                          ("code", True)):
        if key not in error:
            raise CheckFailure(f"{answer.what}: the error object {answer.excerpt()} lacks "
                               f"'{key}' (all four members are required)", requirement="OAI-012")
        value = error[key]
        if not (isinstance(value, str) or (nullable and value is None)
                or (key == "code" and _is_int(value))):
            raise CheckFailure(f"{answer.what}: the error object's '{key}' is {value!r}, not a "
                               "string" + (" or null" if nullable else ""), requirement="OAI-012")
    return error


def expect_refusal(target: OpenAITarget, answer: Answer, why: str) -> dict[str, Any]:
    """An answer to a request that cannot succeed: an error status and an error object (the
    status chosen is observed)."""
    if answer.status < 400:
        raise CheckFailure(f"{answer.what} ({why}) answered {answer.status} with "
                           f"{answer.excerpt()}, not an error", requirement="OAI-012")
    error = error_object(answer)
    target.observe("OAI-012", f"{why}: {answer.status} type {error.get('type')!r}")
    return error


def _check_usage(what: str, usage: object, n: int, max_tokens: int | None) -> dict[str, int]:
    if not isinstance(usage, dict):
        raise CheckFailure(f"{what}: 'usage' is {usage!r}, not an object", requirement="OAI-005")
    counts: dict[str, int] = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckFailure(f"{what}: usage '{key}' is {value!r}, not a non-negative integer",
                               requirement="OAI-005")
        counts[key] = value
    if counts["total_tokens"] != counts["prompt_tokens"] + counts["completion_tokens"]:
        raise CheckFailure(f"{what}: usage {counts}: total_tokens is not prompt_tokens + "
                           "completion_tokens", requirement="OAI-005")
    if max_tokens is not None and counts["completion_tokens"] > n * max_tokens:
        raise CheckFailure(f"{what}: usage counts {counts['completion_tokens']} completion "
                           f"tokens for n={n} and max_tokens={max_tokens}",
                           requirement="OAI-005")
    return counts


def _check_finish(what: str, finish: object, chat: bool, tokens: int | None,
                  max_tokens: int | None) -> None:
    allowed = CHAT_FINISH if chat else COMPLETION_FINISH
    if finish not in allowed:
        raise CheckFailure(f"{what}: finish_reason is {finish!r}, not one of {', '.join(allowed)}",
                           requirement="OAI-004")
    if tokens is None or max_tokens is None:
        return
    if finish == "length" and tokens != max_tokens:
        raise CheckFailure(f"{what}: finish_reason 'length' after {tokens} completion tokens, "
                           f"but max_tokens was {max_tokens}", requirement="OAI-004")


def read_answer(answer: Answer, chat: bool, *, n: int = 1,
                max_tokens: int | None = None) -> dict[str, Any]:
    """A chat completion (OAI-003) or completion (OAI-008) object with ``n`` choices, its
    ``finish_reason`` (OAI-004) and ``usage`` (OAI-005) judged."""
    shape = "OAI-003" if chat else "OAI-008"
    if answer.status != 200:
        raise CheckFailure(f"{answer.what} answered {answer.status} with {answer.excerpt()}, "
                           "expected 200", requirement=shape)
    document = json_body(answer, shape)
    kind = "chat.completion" if chat else "text_completion"
    what = answer.what
    if document.get("object") != kind:
        raise CheckFailure(f"{what}: 'object' is {document.get('object')!r}, not {kind!r}",
                           requirement=shape)
    for key, test in (("id", str), ("model", str), ("created", int)):
        value = document.get(key)
        if not isinstance(value, test) or isinstance(value, bool):
            raise CheckFailure(f"{what}: '{key}' is {value!r}, not a"
                               f"{'n integer' if test is int else ' string'}", requirement=shape)
    choices = document.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise CheckFailure(f"{what}: 'choices' is {str(choices)[:100]}, not a list of objects",
                           requirement=shape)
    indexes = sorted(c.get("index") for c in choices if _is_int(c.get("index")))
    if indexes != list(range(n)) or len(choices) != n:
        raise CheckFailure(f"{what}: {len(choices)} choice(s) with index {indexes} for n={n}",
                           requirement="OAI-006" if n > 1 else shape)
    for choice in choices:
        _check_choice_text(what, choice, chat, shape)
    usage = _check_usage(what, document.get("usage"), n, max_tokens)
    for choice in choices:
        tokens = usage["completion_tokens"] if n == 1 else None
        _check_finish(f"{what} choice {choice['index']}", choice.get("finish_reason"), chat,
                      tokens, max_tokens)
    return document


def _check_choice_text(what: str, choice: dict[str, Any], chat: bool, shape: str) -> None:
    if chat:
        message = choice.get("message")
        if not isinstance(message, dict) or message.get("role") != "assistant":
            raise CheckFailure(f"{what}: choice {choice.get('index')} 'message' is "
                               f"{str(message)[:100]}, not {{'role': 'assistant', ...}}",
                               requirement=shape)
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise CheckFailure(f"{what}: message 'content' is {content!r}, not a string or null",
                               requirement=shape)
    elif not isinstance(choice.get("text"), str):
        raise CheckFailure(f"{what}: choice {choice.get('index')} 'text' is "
                           f"{choice.get('text')!r}, not a string", requirement=shape)


def texts(document: dict[str, Any], chat: bool) -> list[str]:
    """The text of each choice, by index."""
    ordered = sorted(document["choices"], key=lambda c: c["index"])
    if chat:
        return [c["message"].get("content") or "" for c in ordered]
    return [c["text"] for c in ordered]


def finishes(document: dict[str, Any]) -> list[str]:
    """The finish_reason of each choice, by index."""
    return [c["finish_reason"] for c in sorted(document["choices"], key=lambda c: c["index"])]


@dataclass
class Stream:
    """What a stream carried: the text and finish_reason of each choice, the chunks in order,
    and the last chunk whose ``choices`` is empty (the usage chunk), if any."""

    texts: dict[int, str] = field(default_factory=dict)
    finishes: dict[int, str] = field(default_factory=dict)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    usage_chunk: dict[str, Any] | None = None


def _framing(target: OpenAITarget, answer: Answer) -> list[str]:
    """The data of each event of a streamed answer, [DONE] last (OAI-010)."""
    if answer.status != 200:
        raise CheckFailure(f"{answer.what} (stream: true) answered {answer.status} with "
                           f"{answer.excerpt()}, expected 200", requirement="OAI-010")
    media = (answer.header("content-type") or "").split(";")[0].strip().lower()
    if media != "text/event-stream":
        raise CheckFailure(f"{answer.what} (stream: true) answered Content-Type "
                           f"{answer.header('content-type')!r}, not text/event-stream",
                           requirement="OAI-010")
    events, unfinished = parse_event_stream(answer.body)
    for event in events:
        if event.fields:
            target.observe("OAI-010", f"events carry fields besides data: {sorted(event.fields)}")
    data = [e.data for e in events]
    if unfinished:
        raise CheckFailure(f"{answer.what}: the stream ends inside an event "
                           f"({unfinished[:80]!r}: no blank line after it, so it is never "
                           "dispatched)", requirement="OAI-010")
    if "[DONE]" not in data:
        raise CheckFailure(f"{answer.what}: the stream of {len(data)} event(s) does not end with "
                           "data: [DONE]", requirement="OAI-010")
    if data.index("[DONE]") != len(data) - 1:
        raise CheckFailure(f"{answer.what}: {len(data) - 1 - data.index('[DONE]')} event(s) "
                           "after data: [DONE]", requirement="OAI-010")
    return data[:-1]


def read_stream(target: OpenAITarget, answer: Answer, chat: bool) -> Stream:
    """A streamed answer: framing (OAI-010) and chunks (OAI-011) judged."""
    stream = Stream()
    ids = set()
    kind = "chat.completion.chunk" if chat else "text_completion"
    for data in _framing(target, answer):
        try:
            chunk = json.loads(data)
        except ValueError:
            raise CheckFailure(f"{answer.what}: the event {data[:80]!r} is not JSON",
                               requirement="OAI-010") from None
        if not isinstance(chunk, dict) or chunk.get("object") != kind:
            raise CheckFailure(f"{answer.what}: a chunk is {data[:100]!r}, not an object "
                               f"{kind!r}", requirement="OAI-011")
        ids.add(chunk.get("id"))
        stream.chunks.append(chunk)
        _read_chunk(answer.what, chunk, chat, stream)
    if len(ids) > 1 or not all(isinstance(i, str) for i in ids):
        raise CheckFailure(f"{answer.what}: the chunks carry the ids {sorted(map(str, ids))}, "
                           "not one string", requirement="OAI-011")
    unfinished = sorted(set(stream.texts) - set(stream.finishes))
    if unfinished or not stream.texts:
        raise CheckFailure(f"{answer.what}: choice(s) {unfinished or [0]} end without a chunk "
                           "giving their finish_reason", requirement="OAI-011")
    return stream


def _read_chunk(what: str, chunk: dict[str, Any], chat: bool, stream: Stream) -> None:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise CheckFailure(f"{what}: a chunk's 'choices' is {choices!r}, not a list",
                           requirement="OAI-011")
    if not choices:
        stream.usage_chunk = chunk
        return
    for choice in choices:
        index = choice.get("index") if isinstance(choice, dict) else None
        if not _is_int(index):
            raise CheckFailure(f"{what}: a chunk's choice {str(choice)[:80]} has no integer "
                               "index", requirement="OAI-011")
        assert isinstance(choice, dict) and isinstance(index, int)
        if chat:
            delta = choice.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else 0
            if not isinstance(delta, dict) or not isinstance(piece, (str, type(None))):
                raise CheckFailure(f"{what}: a chunk's delta is {str(delta)[:80]}, not an object "
                                   "whose content is a string or null", requirement="OAI-011")
        else:
            piece = choice.get("text")
            if not isinstance(piece, str):
                raise CheckFailure(f"{what}: a chunk's text is {piece!r}, not a string",
                                   requirement="OAI-011")
        stream.texts[index] = stream.texts.get(index, "") + (piece or "")
        finish = choice.get("finish_reason")
        if finish is not None:
            _check_finish(f"{what} (streamed)", finish, chat, None, None)
            stream.finishes[index] = finish
