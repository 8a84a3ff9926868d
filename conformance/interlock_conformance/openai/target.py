"""What a check of an OpenAI-compatible server runs against, and how checks are declared.

A check is one property of the server, tied to the ``specs/v1/openai.md`` requirement IDs it
verifies and to the profile they belong to. It returns (passed) or raises the server checker's
:class:`~interlock_conformance.oip.checks.CheckFailure` (naming one requirement when the failure
is about that one only), :class:`~interlock_conformance.oip.checks.Blocked` or
:class:`~interlock_conformance.oip.checks.NotApplicable`, as the OIP checks do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from interlock_conformance.openai.wire import Answer, HttpClient

__all__ = ["CORE", "INTERLOCK", "OpenAICheck", "OpenAITarget", "defined_checks", "openai_check"]

CORE: Literal["openai-core"] = "openai-core"
INTERLOCK: Literal["interlock-text"] = "interlock-text"

#: The model a check needs: a generation model, an embedding model, or none.
Needs = Literal["generation", "embeddings", "none"]


@dataclass
class OpenAITarget:
    """One server under test: its address, key, the models found to check, and what it was
    found to offer (``chat``, ``completions``, ``embeddings``, ``auth``)."""

    url: str
    token: str | None = None
    model: str | None = None
    embedding_model: str | None = None
    claims: frozenset[str] = frozenset()
    timeout_s: float = 30.0
    #: Answers reused by several checks (the greedy answer of a request, ...).
    cache: dict[str, Any] = field(default_factory=dict)
    #: (case, requirement, message) of behaviours the API reference allows among others.
    observations: list[tuple[str, str, str]] = field(default_factory=list)
    case: str = ""
    _client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        """The HTTP client (one connection per request)."""
        if self._client is None:
            self._client = HttpClient(self.url, self.token, self.timeout_s)
        return self._client

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True,
             raw: bytes | None = None) -> Answer:
        """One request; see :meth:`HttpClient.request`."""
        return self.client.request(method, path, body, auth=auth, raw=raw)

    def observe(self, requirement: str, message: str) -> None:
        """Record what the server chose where the API reference allows it (never a failure)."""
        entry = (self.case, requirement, message)
        if entry not in self.observations:
            self.observations.append(entry)


CheckFunction = Callable[[OpenAITarget], None]


@dataclass(frozen=True)
class OpenAICheck:
    """One property of an OpenAI-compatible server, with the requirements it verifies."""

    name: str
    requirements: tuple[str, ...]
    capabilities: tuple[str, ...]
    profile: str
    needs: Needs
    function: CheckFunction

    @property
    def id(self) -> str:
        """``openai::chat_completion``: the case ID in reports."""
        return f"openai::{self.name}"

    @property
    def summary(self) -> str:
        """The first line of the check's docstring."""
        doc = (self.function.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.name

    def applies_to(self, target: OpenAITarget) -> bool:
        """Whether the target has the model the check needs."""
        return {"generation": target.model is not None,
                "embeddings": target.embedding_model is not None, "none": True}[self.needs]

    def missing(self, claims: Iterable[str]) -> list[str]:
        """The capabilities the check needs that ``claims`` lacks."""
        claimed = set(claims)
        return [c for c in self.capabilities if c not in claimed]


_CHECKS: list[OpenAICheck] = []


def openai_check(*requirements: str, profile: str = CORE, capabilities: Iterable[str] = ("chat",),
                 needs: Needs = "generation") -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as a check of ``requirements`` (openai.md IDs, all of
    ``profile``)."""
    if not requirements:
        raise TypeError("a check cites at least one requirement ID")

    def register(function: CheckFunction) -> CheckFunction:
        _CHECKS.append(OpenAICheck(function.__name__.removeprefix("check_"), tuple(requirements),
                                   tuple(capabilities), profile, needs, function))
        return function

    return register


def defined_checks() -> list[OpenAICheck]:
    """The checks defined by the modules imported so far, in definition order."""
    return list(_CHECKS)
