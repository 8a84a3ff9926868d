"""Tokenizers from ``tokenizer.json`` and chat templates rendered in a Jinja sandbox.

A tokenizer is only ever read from the JSON file of the Hugging Face ``tokenizers`` library
(text.md TXT-010): there is no code path that unpickles one. A chat template is Jinja source
rendered by ``jinja2.sandbox.ImmutableSandboxedEnvironment`` (TXT-012), so a template can read
the messages but cannot call into Python or change what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from interlock.errors import ArtifactIntegrityError, GenerationError, MissingDependencyError

if TYPE_CHECKING:
    from interlock.artifacts import Artifact

__all__ = ["ChatTemplate", "IncrementalDecoder", "TextTokenizer"]

#: Largest tokenizer.json / chat template read (a real tokenizer.json is a few MB).
MAX_TOKENIZER_BYTES: Final = 64 * 1024 * 1024
MAX_TEMPLATE_BYTES: Final = 1024 * 1024
_ROLES: Final = frozenset({"system", "user", "assistant", "tool", "developer"})


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise MissingDependencyError(
            "tokenizers", "text", purpose="reading a text model's tokenizer.json"
        ) from None
    return tokenizers


class TextTokenizer:
    """A Hugging Face ``tokenizer.json``: text to token ids and back."""

    def __init__(self, data: bytes, *, where: str = "tokenizer.json") -> None:
        if len(data) > MAX_TOKENIZER_BYTES:
            raise ArtifactIntegrityError(
                f"{where} is {len(data)} bytes; interlock reads tokenizers up to "
                f"{MAX_TOKENIZER_BYTES} bytes",
                hint="a tokenizer.json this large is not a tokenizer; check the artifact",
            )
        tokenizers = _import_tokenizers()
        try:
            self._tokenizer = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
        except (UnicodeDecodeError, Exception) as exc:
            raise ArtifactIntegrityError(
                f"{where} is not a tokenizer the tokenizers library can read: {exc}",
                hint="save the tokenizer with tokenizer.save('tokenizer.json') "
                "(the Hugging Face tokenizers JSON format)",
            ) from None
        self.where = where

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> TextTokenizer:
        """The tokenizer of a text artifact (its ``text.tokenizer`` file, verified)."""
        text = _text_info(artifact)
        return cls(artifact.read_bytes(text.tokenizer), where=f"{artifact.ref}/{text.tokenizer}")

    @property
    def vocab_size(self) -> int:
        """Number of ids, added tokens included."""
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``."""
        return list(self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Text of ``ids``."""
        return str(self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def token_to_id(self, token: str) -> int | None:
        """The id of one token string, or None."""
        value = self._tokenizer.token_to_id(token)
        return None if value is None else int(value)

    def id_to_token(self, token_id: int) -> str | None:
        """The token string of one id, or None."""
        value = self._tokenizer.id_to_token(token_id)
        return None if value is None else str(value)


class IncrementalDecoder:
    """Turns a growing list of token ids into text pieces, never splitting a character.

    Each :meth:`push` returns the text the new token completes; a token that ends inside a
    multi-byte character (the decoder shows U+FFFD for it) returns ``""`` until the character
    is whole. The pieces joined equal ``tokenizer.decode(all_ids)``.
    """

    def __init__(self, tokenizer: TextTokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._emitted = ""

    def push(self, token_id: int) -> str:
        """Add one token; return the new text."""
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids)
        if text.endswith("\ufffd") or not text.startswith(self._emitted):
            return ""
        piece = text[len(self._emitted):]
        self._emitted = text
        return piece

    def flush(self) -> str:
        """What is left when the sequence ends (an incomplete character, as U+FFFD)."""
        text = self._tokenizer.decode(self._ids)
        piece = text[len(self._emitted):] if text.startswith(self._emitted) else ""
        self._emitted = text
        return piece


def _text_info(artifact: Artifact) -> Any:
    text = artifact.manifest.text
    if text is None:
        raise GenerationError(
            f"{artifact.ref} is not a text model: its manifest has no 'text' section",
            hint="export the language model with interlock's transformers exporter "
            "(docs/text.md), which writes the tokenizer and the text section",
        )
    return text


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _raise(message: str) -> None:
    raise GenerationError(f"the chat template refused the messages: {message}")


class ChatTemplate:
    """A chat template: Jinja source rendered in an immutable sandbox (text.md TXT-012).

    The template sees ``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token``
    and any extra variables given to :meth:`render`, plus ``raise_exception(message)`` and the
    ``tojson`` filter, as Hugging Face chat templates expect.
    """

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "",
                 where: str = "chat template") -> None:
        if len(source.encode("utf-8")) > MAX_TEMPLATE_BYTES:
            raise ArtifactIntegrityError(
                f"{where} is larger than {MAX_TEMPLATE_BYTES} bytes",
                hint="a chat template is a short Jinja file; check the artifact",
            )
        try:
            from jinja2 import TemplateSyntaxError
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError:
            raise MissingDependencyError(
                "jinja2", "text", purpose="rendering a chat template"
            ) from None
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise
        try:
            self._template = env.from_string(source)
        except TemplateSyntaxError as exc:
            raise ArtifactIntegrityError(
                f"{where} is not a valid Jinja template: {exc.message} (line {exc.lineno})",
                hint="fix the template and export the model again",
            ) from None
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.where = where

    def render(self, messages: Sequence[Mapping[str, Any]], *,
               add_generation_prompt: bool = True, **variables: Any) -> str:
        """The prompt text for ``messages`` (each ``{"role": ..., "content": ...}``)."""
        checked = [_check_message(i, m) for i, m in enumerate(messages)]
        if not checked:
            raise GenerationError("messages is empty", hint="send at least one message")
        from jinja2 import TemplateError

        try:
            return str(self._template.render(
                messages=checked, add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token, eos_token=self.eos_token, **variables,
            ))
        except GenerationError:
            raise
        except (TemplateError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise GenerationError(
                f"{self.where} failed on these messages: {type(exc).__name__}: {exc}",
                hint="check the messages' roles and order against what the model expects",
            ) from None


def _check_message(index: int, message: object) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        raise GenerationError(
            f"messages[{index}] is {type(message).__name__}, not an object",
            hint='write each message as {"role": "user", "content": "..."}',
        )
    role = message.get("role")
    if role not in _ROLES:
        raise GenerationError(
            f"messages[{index}].role is {role!r}",
            hint=f"use one of {', '.join(sorted(_ROLES))}",
        )
    content = message.get("content")
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        parts = []
        for part in content:
            if not (isinstance(part, Mapping) and part.get("type") == "text"
                    and isinstance(part.get("text"), str)):
                raise GenerationError(
                    f"messages[{index}].content holds a part that is not text",
                    hint="this model reads text only; send content as a string or text parts",
                )
            parts.append(part["text"])
        content = "".join(parts)
    if content is not None and not isinstance(content, str):
        raise GenerationError(
            f"messages[{index}].content is {type(content).__name__}, not a string",
            hint="send the message text as a string",
        )
    return {**message, "role": role, "content": content or ""}
