"""An OpenAI-compatible server's support table: each requirement of ``openai-core`` and the
features around it, supported or not, with the evidence (``support.md``; the side-by-side table
of several servers is :func:`interlock_conformance.oip.support.side_by_side`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from interlock_conformance.openai.profiles import profile_of
from interlock_conformance.openai.target import CORE
from interlock_conformance.report import (
    CaseResult,
    Observation,
    RequirementResult,
    SupportRow,
)

__all__ = ["LABELS", "support_rows"]

#: Short names of the requirements, for the tables.
LABELS = {
    "OAI-001": "`GET /v1/models` model list",
    "OAI-002": "`GET /v1/models/{model}`",
    "OAI-003": "chat completion object",
    "OAI-004": "`finish_reason` values",
    "OAI-005": "`usage` arithmetic",
    "OAI-006": "`n` choices",
    "OAI-007": "`stop` sequences",
    "OAI-008": "completion object (legacy completions)",
    "OAI-009": "completions `max_tokens` defaults to 16",
    "OAI-010": "SSE framing, `data: [DONE]`",
    "OAI-011": "stream chunk objects",
    "OAI-012": "error objects `{\"error\": {message, type, param, code}}`",
    "OAI-013": "embeddings",
    "OAI-100": "exact error statuses and `param`",
    "OAI-101": "unsupported parameters refused",
    "OAI-102": "`include_usage` chunk",
    "OAI-103": "seeded requests repeat",
    "OAI-104": "stream equals the whole answer",
    "OAI-105": "`stop` cuts the greedy answer; `n` usage",
    "OAI-106": "base64 embeddings",
}


def _supported(status: str) -> str:
    return {"passed": "yes", "failed": "no", "not claimed": "not tested"}.get(status,
                                                                             "not tested")


def _evidence(result: RequirementResult, cases: Sequence[CaseResult],
              observations: Sequence[Observation]) -> str:
    if result.failures:
        return result.failures[0].message
    if result.status == "blocked":
        return f"blocked by {', '.join(result.blocked_by)}"
    if result.status == "not claimed":
        return "not offered by the server (its checks were not run)"
    ran = [c for c in cases if result.id in c.requirements and c.outcome == "passed"]
    seen = [o.message for o in observations if o.requirement == result.id]
    if not ran:
        return "no check ran (no model of the kind, or nothing to send it)"
    return f"{len(ran)} check(s) passed" + (f"; observed: {'; '.join(seen[:3])}" if seen else "")


def support_rows(results: Iterable[RequirementResult], cases: Sequence[CaseResult],
                 observations: Sequence[Observation], claims: Iterable[str],
                 discovery: str) -> list[SupportRow]:
    """The rows of a server's support table: every requirement, then what the server
    offers."""
    rows = [SupportRow(feature=f"{r.id} {LABELS.get(r.id, '')}".strip(),
                       profile=profile_of(r.id),
                       supported=_supported(r.status),  # type: ignore[arg-type]
                       evidence=_evidence(r, cases, observations))
            for r in results]
    offered = set(claims)
    for name, what in (("completions", "`POST /v1/completions` answers"),
                       ("embeddings", "a model answers `POST /v1/embeddings`")):
        rows.append(SupportRow(feature=f"offers {name}", profile=CORE,
                               supported="yes" if name in offered else "no",
                               evidence=f"{what}: {'yes' if name in offered else 'no'}"))
    found = "not tested" if discovery.startswith("given") else (
        "yes" if "generation model None" not in discovery else "no")
    rows.append(SupportRow(feature="model discovery (`GET /v1/models`)", profile=CORE,
                           supported=found,  # type: ignore[arg-type]
                           evidence=discovery))
    return rows
