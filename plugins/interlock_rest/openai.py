"""The OpenAI-compatible endpoints and the OIP generate extension, over text artifacts.

``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/completions``,
``POST /v1/chat/completions`` and ``POST /v1/embeddings`` answer as the OpenAI API reference
describes them (objects ``list``, ``model``, ``text_completion``, ``chat.completion``,
``chat.completion.chunk`` and ``embedding``; errors as ``{"error": {"message", "type",
"param", "code"}}``); ``POST /v2/models/{name}/generate`` and ``generate_stream`` answer as
Triton's generate extension does. Streams are server-sent events (``data: ...`` lines)
ending in ``data: [DONE]`` for the OpenAI endpoints. Generation runs on a thread pool, one
step at a time for streams, so the event loop never waits for the model; at most
:data:`MAX_GENERATIONS` requests generate at once and the next ones get 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson
from interlock.errors import GenerationError, InterlockError, OverloadedError
from interlock.serving.oip.errors import MethodNotAllowed, NotFound, ProtocolError, http_status
from interlock.text import Completion, CompletionChunk, SamplingParams

from interlock_rest._http_messages import Answer, Request, Response, StreamedResponse
from interlock_rest.openai_requests import (
    chat_prompt,
    completion_prompts,
    embedding_inputs,
    json_object,
    sampling_params,
)

if TYPE_CHECKING:
    from interlock.servers import Model, Repository
    from interlock.text import TextEmbedder, TextGenerator

__all__ = ["MAX_GENERATIONS", "TextRoutes", "openai_error"]

#: Requests generating at once, server-wide; more get 503 with Retry-After.
MAX_GENERATIONS: Final = 64
_JSON = b"application/json"
_SSE = b"text/event-stream; charset=utf-8"
_SSE_HEADERS = ((b"cache-control", b"no-cache"),)
_DONE = b"data: [DONE]\n\n"
_END = object()
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                404: "invalid_request_error", 405: "invalid_request_error",
                413: "invalid_request_error", 503: "server_error"}


def openai_error(exc: InterlockError) -> Response:
    """An error as the OpenAI API shapes it, with the status of its kind."""
    status = http_status(exc)
    code = {401: "invalid_api_key", 404: "not_found", 503: "overloaded"}.get(status)
    body = {"error": {"message": str(exc), "type": _ERROR_TYPES.get(status, "server_error"),
                      "param": getattr(exc, "param", None), "code": code}}
    headers: tuple[tuple[bytes, bytes], ...] = ()
    if isinstance(exc, OverloadedError):
        headers = ((b"retry-after", str(max(1, round(exc.retry_after))).encode()),)
    elif isinstance(exc, MethodNotAllowed):  # RFC 9110 section 15.5.6: a 405 names what is allowed
        headers = ((b"allow", exc.allow.encode()),)
    return status, orjson.dumps(body), _JSON, headers


def _event(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class TextRoutes:
    """The text endpoints of one REST server."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self._pool = ThreadPoolExecutor(MAX_GENERATIONS, thread_name_prefix="interlock-text")
        self._active = 0

    # -- models ------------------------------------------------------------------------------

    def _text_models(self) -> list[Model]:
        return [m for m in self.repository.models()
                if getattr(m, "generator", None) or getattr(m, "embedder", None)]

    def _model(self, ident: object, *, kind: str) -> Any:
        if not isinstance(ident, str) or not ident:
            raise _param(ProtocolError("model is missing", hint="name a model of GET /v1/models"),
                         "model")
        name, _, version = ident.partition(":")
        model = self.repository.get(name, version or None)
        engine = getattr(model, kind, None)
        if engine is None:
            other = "embedding" if kind == "generator" else "text-generation"
            raise _param(GenerationError(
                f"model {ident!r} cannot answer this endpoint: it is not a "
                f"{'text-generation' if kind == 'generator' else 'embedding'} model",
                hint=f"use a {kind} model of GET /v1/models (this one is "
                f"{other if getattr(model, 'generator', None) or getattr(model, 'embedder', None) else 'not a text model'})",
            ), "model")
        return model, engine

    def list_models(self) -> Response:
        """``GET /v1/models``: the text models, newest version of each name."""
        seen: dict[str, Model] = {}
        for model in self._text_models():
            seen[model.name] = model
        data = [self._model_object(m) for m in seen.values()]
        return 200, orjson.dumps({"object": "list", "data": data}), _JSON, ()

    def get_model(self, ident: str) -> Response:
        """``GET /v1/models/{id}``."""
        name, _, version = ident.partition(":")
        model = self.repository.get(name, version or None)
        if not (getattr(model, "generator", None) or getattr(model, "embedder", None)):
            raise NotFound(f"model {ident!r} is not a text model",
                           hint="GET /v1/models lists the text models")
        return 200, orjson.dumps(self._model_object(model)), _JSON, ()

    @staticmethod
    def _model_object(model: Model) -> dict[str, Any]:
        return {"id": model.name, "object": "model", "created": 0, "owned_by": "interlock"}

    # -- admission ---------------------------------------------------------------------------

    def _admit(self) -> None:
        if self._active >= MAX_GENERATIONS:
            raise OverloadedError(f"the server is generating {MAX_GENERATIONS} answers",
                                  retry_after=1.0, hint="retry shortly")
        self._active += 1

    def _done(self) -> None:
        self._active -= 1

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def _pieces(self, start: Callable[[], Iterator[CompletionChunk]]
                      ) -> AsyncIterator[CompletionChunk]:
        """The chunks of a stream, each computed on the pool (the prompt is checked first)."""
        iterator = await self._call(start)
        while True:
            chunk = await self._call(next, iterator, _END)
            if chunk is _END:
                return
            yield chunk

    # -- completions -------------------------------------------------------------------------

    async def completions(self, request: Request, chat: bool) -> Answer:
        """``POST /v1/completions`` and ``POST /v1/chat/completions``."""
        body = json_object(request.body)
        model, generator = self._model(body.get("model"), kind="generator")
        params = sampling_params(body, chat=chat, defaults=generator.defaults)
        n = body.get("n", 1)
        if chat:
            prompts: list[str | list[int]] = [chat_prompt(generator, body)]
        else:
            prompts = completion_prompts(body)
        ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        head = {"id": ident, "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": model.name}
        for prompt in prompts:  # a bad prompt is refused before anything runs
            generator.prompt_ids(prompt)
        self._admit()
        if body.get("stream") is True:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamedResponse(
                self._stream(generator, prompts, params, n, head, chat, include_usage),
                content_type=_SSE, headers=_SSE_HEADERS)
        try:
            answers = [await self._call(generator.generate, prompt, _choice(params, i))
                       for prompt in prompts for i in range(n)]
        finally:
            self._done()
        return 200, orjson.dumps(_whole(head, answers, chat, n)), _JSON, ()

    async def _stream(self, generator: TextGenerator, prompts: list[str | list[int]],
                      params: SamplingParams, n: int, head: dict[str, Any], chat: bool,
                      include_usage: bool) -> AsyncIterator[bytes]:
        chunk_head = dict(head, object="chat.completion.chunk" if chat else "text_completion")
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        try:
            for p_index, prompt in enumerate(prompts):
                usage["prompt_tokens"] += len(generator.prompt_ids(prompt))
                for i in range(n):
                    index = p_index * n + i
                    if chat:
                        yield _event(_chunk(chunk_head, index, {"role": "assistant",
                                                                "content": ""}, None, chat))
                    start = _starter(generator, prompt, _choice(params, i))
                    async for piece in self._pieces(start):
                        usage["completion_tokens"] += len(piece.token_ids)
                        if piece.text or piece.finish_reason:
                            delta: Any = {"content": piece.text} if piece.text else {}
                            yield _event(_chunk(chunk_head, index, delta if chat else piece.text,
                                                piece.finish_reason, chat, include_usage))
            if include_usage:
                total = usage["prompt_tokens"] + usage["completion_tokens"]
                yield _event(dict(chunk_head, choices=[], usage=dict(usage, total_tokens=total)))
        except InterlockError as exc:  # the status was sent already: an error event
            yield b"data: " + openai_error(exc)[1] + b"\n\n"
        finally:
            self._done()
        yield _DONE

    # -- embeddings --------------------------------------------------------------------------

    async def embeddings(self, request: Request) -> Answer:
        """``POST /v1/embeddings``."""
        body = json_object(request.body)
        model, embedder = self._model(body.get("model"), kind="embedder")
        texts, encoding = embedding_inputs(body, embedder)
        self._admit()
        try:
            counts = embedder.token_counts(texts)
            vectors = await self._call(embedder.embed, texts)
        finally:
            self._done()
        data = [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)}
                for i, v in enumerate(vectors)]
        usage = {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}
        reply = {"object": "list", "data": data, "model": model.name, "usage": usage}
        return 200, orjson.dumps(reply, option=orjson.OPT_SERIALIZE_NUMPY), _JSON, ()

    # -- the OIP generate extension ----------------------------------------------------------

    async def generate(self, request: Request, name: str, version: str | None,
                       stream: bool) -> Answer:
        """``POST /v2/models/{name}[/versions/{v}]/generate`` and ``generate_stream``."""
        body = json_object(request.body, protocol="oip")
        model = self.repository.get(name, version)
        generator: TextGenerator | None = getattr(model, "generator", None)
        if generator is None:
            raise GenerationError(f"model '{model.name}' is not a text-generation model",
                                  hint="generate takes a model exported with a text section")
        prompt = body.get("text_input")
        if not isinstance(prompt, str):
            raise ProtocolError("text_input must be a string",
                                hint='send {"text_input": "...", "parameters": {...}}')
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ProtocolError("parameters must be an object")
        params = sampling_params(parameters, chat=True, defaults=generator.defaults)
        generator.prompt_ids(prompt)
        head = {"model_name": model.name, "model_version": model.version}
        self._admit()
        if stream:
            return StreamedResponse(self._generate_stream(generator, prompt, params, head),
                                    content_type=_SSE, headers=_SSE_HEADERS)
        try:
            answer: Completion = await self._call(generator.generate, prompt, params)
        finally:
            self._done()
        reply = dict(head, text_output=answer.text, finish_reason=answer.finish_reason)
        return 200, orjson.dumps(reply), _JSON, ()

    async def _generate_stream(self, generator: TextGenerator, prompt: str,
                               params: SamplingParams, head: dict[str, Any]
                               ) -> AsyncIterator[bytes]:
        try:
            async for piece in self._pieces(_starter(generator, prompt, params)):
                if piece.text or piece.finish_reason:
                    event = dict(head, text_output=piece.text)
                    if piece.finish_reason:
                        event["finish_reason"] = piece.finish_reason
                    yield _event(event)
        except InterlockError as exc:
            yield _event({"error": str(exc)})
        finally:
            self._done()


def _param(exc: InterlockError, name: str) -> InterlockError:
    exc.param = name  # type: ignore[attr-defined]  # the OpenAI error object's "param"
    return exc


def _choice(params: SamplingParams, index: int) -> SamplingParams:
    """Choice ``index`` of ``n``: its own seed, so that seeded choices differ but repeat."""
    if index == 0 or params.seed is None:
        return params
    return SamplingParams(max_tokens=params.max_tokens, temperature=params.temperature,
                          top_p=params.top_p, top_k=params.top_k,
                          seed=(params.seed + index) % 2**63, stop=params.stop)


def _starter(generator: TextGenerator, prompt: str | list[int],
             params: SamplingParams) -> Callable[[], Iterator[CompletionChunk]]:
    return lambda: generator.stream(prompt, params)


def _chunk(head: dict[str, Any], index: int, content: Any, finish: str | None, chat: bool,
           include_usage: bool = False) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, "logprobs": None, "finish_reason": finish}
    choice["delta" if chat else "text"] = content
    event = dict(head, choices=[choice])
    if include_usage:
        event["usage"] = None
    return event


def _whole(head: dict[str, Any], answers: list[Completion], chat: bool,
           n: int) -> dict[str, Any]:
    choices = []
    for index, answer in enumerate(answers):
        choice: dict[str, Any] = {"index": index, "logprobs": None,
                                  "finish_reason": answer.finish_reason}
        if chat:
            choice["message"] = {"role": "assistant", "content": answer.text}
        else:
            choice["text"] = answer.text
        choices.append(choice)
    # Answers come prompt by prompt, n each: a prompt's tokens count once, not once per choice.
    prompt_tokens = sum(a.prompt_tokens for a in answers[::n])
    completion = sum(a.completion_tokens for a in answers)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
             "total_tokens": prompt_tokens + completion}
    return dict(head, choices=choices, usage=usage)


def _encode(vector: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(np.float32)
