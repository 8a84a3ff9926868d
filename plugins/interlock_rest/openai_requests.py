"""Reading OpenAI-style request bodies: every field checked, every refusal naming its ``param``.

Fields this server does not implement are refused when they ask for something
(``logprobs: true``, ``tools``, a ``response_format`` other than text, penalties), rather than
ignored, so that a client never gets an answer to a different question than it asked. Fields
that do not change the answer (``user``, ``metadata``, ``store``, ...) are accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson
from interlock.errors import GenerationError, InterlockError
from interlock.serving.oip.errors import ProtocolError
from interlock.text import SamplingParams

if TYPE_CHECKING:
    from interlock.artifacts import GenerationDefaults
    from interlock.text import TextEmbedder, TextGenerator

__all__ = ["MAX_CHOICES", "MAX_INPUTS", "chat_prompt", "completion_prompts",
           "embedding_inputs", "json_object", "sampling_params"]

#: Most choices (``n``) per request, and most prompts or texts per request.
MAX_CHOICES: Final = 8
MAX_INPUTS: Final = 64
#: What a completions request without max_tokens gets (the OpenAI API reference's default).
COMPLETIONS_MAX_TOKENS: Final = 16
#: Fields that ask for what this server does not do, with the value that asks for nothing.
_UNSUPPORTED: Final[dict[str, tuple[Any, ...]]] = {
    "logprobs": (None, False, 0), "top_logprobs": (None, 0), "echo": (None, False),
    "best_of": (None, 1), "suffix": (None, ""), "tools": (None, []), "functions": (None, []),
    "tool_choice": (None, "none", "auto"), "logit_bias": (None, {}),
    "presence_penalty": (None, 0, 0.0), "frequency_penalty": (None, 0, 0.0),
    "audio": (None,), "modalities": (None, ["text"]), "prediction": (None,),
}


def _fail(message: str, param: str, hint: str, cls: type[InterlockError] = GenerationError
          ) -> InterlockError:
    exc = cls(message, hint=hint)
    exc.param = param  # type: ignore[attr-defined]  # the OpenAI error object's "param"
    return exc


def json_object(body: bytes, *, protocol: str = "openai") -> dict[str, Any]:
    """The request body as a JSON object."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"the request body is not valid JSON: {exc}",
                            hint="send a JSON object") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"the request body must be a JSON object, not {type(value).__name__}",
                            hint="send a JSON object")
    return value


def sampling_params(body: dict[str, Any], *, chat: bool,
                    defaults: GenerationDefaults) -> SamplingParams:
    """The generation parameters of a completions, chat or generate request."""
    for name, harmless in _UNSUPPORTED.items():
        value = body.get(name)
        if not any(value == h and type(value) is type(h) for h in harmless):
            raise _fail(f"{name} is not supported by this server", name,
                        f"leave {name} out (this server does not implement it)")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise _fail("response_format other than text is not supported", "response_format",
                    'leave response_format out, or send {"type": "text"}')
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _fail(f"stream is {stream!r}", "stream", "stream must be true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _fail("stream_options must be an object", "stream_options",
                    'send {"include_usage": true}')
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_CHOICES):
        raise _fail(f"n is {n!r}", "n", f"n must be an integer from 1 to {MAX_CHOICES}")
    body["n"] = n
    max_tokens = body.get("max_completion_tokens") if chat else None
    max_name = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, max_name = body.get("max_tokens"), "max_tokens"
    if max_tokens is None and not chat:
        max_tokens = COMPLETIONS_MAX_TOKENS
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    fields: dict[str, Any] = {"max_tokens": max_tokens, "temperature": body.get("temperature"),
              "top_p": body.get("top_p"), "top_k": body.get("top_k"),
              "seed": body.get("seed"), "stop": stop if stop is not None else ()}
    try:
        return SamplingParams(**fields)
    except GenerationError as exc:
        name = str(exc).split(" ", 1)[0]
        exc.param = max_name if name == "max_tokens" else name  # type: ignore[attr-defined]
        raise


def completion_prompts(body: dict[str, Any]) -> list[str | list[int]]:
    """``prompt``: a string, a list of strings, a list of token ids, or a list of those."""
    prompt = body.get("prompt")
    hint = "send prompt as a string, a list of strings, or token ids"
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(_is_id(t) for t in prompt):
            return [list(prompt)]
        if len(prompt) > MAX_INPUTS:
            raise _fail(f"prompt holds {len(prompt)} prompts", "prompt",
                        f"send at most {MAX_INPUTS} prompts per request")
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, list) and p and all(_is_id(t) for t in p) for p in prompt):
            return [list(p) for p in prompt]
    raise _fail("prompt is missing or not a prompt", "prompt", hint)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def chat_prompt(generator: TextGenerator, body: dict[str, Any]) -> str:
    """The prompt text of a chat request's ``messages``."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _fail("messages is missing or not a list", "messages",
                    'send messages as [{"role": "user", "content": "..."}]')
    try:
        return generator.chat_prompt(messages)
    except GenerationError as exc:
        exc.param = "messages"  # type: ignore[attr-defined]
        raise


def embedding_inputs(body: dict[str, Any], embedder: TextEmbedder) -> tuple[list[str], str]:
    """The texts of an embeddings request and its ``encoding_format``."""
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
        raise _fail("input must be a string or a non-empty list of strings", "input",
                    "send the texts to embed (token-id input is not supported)")
    if len(texts) > MAX_INPUTS:
        raise _fail(f"input holds {len(texts)} texts", "input",
                    f"send at most {MAX_INPUTS} texts per request")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise _fail(f"encoding_format is {encoding!r}", "encoding_format",
                    "encoding_format is 'float' or 'base64'")
    dimensions = body.get("dimensions")
    if dimensions is not None and dimensions != embedder.dimensions:
        raise _fail(f"dimensions is {dimensions!r}; this model's embeddings have "
                    f"{embedder.dimensions}", "dimensions", "leave dimensions out")
    return texts, encoding
