"""The profiles of ``specs/v1/serving.md``: which requirements restate the Open Inference
Protocol (``oip-core``), which an extension of it (``binary-data``), and which are interlock's
stricter serving profile (``interlock-serving``), read from the table between
``<!-- profiles -->`` and ``<!-- end profiles -->`` in serving.md; and how a server report is
judged per profile (:class:`interlock_conformance.profile_tables.ProfileTable`).

A requirement is judged by the checks of its own profile only: the core checks read every
answer the protocol allows, interlock's checks hold a server to interlock's stricter rules, and
one cannot make the other's requirement "blocked" or "passed".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from interlock_conformance.profile_tables import ProfileEntry, ProfileTable
from interlock_conformance.report import CaseResult, ProfileResult, RequirementResult
from interlock_conformance.requirements import Requirement

__all__ = [
    "CORE",
    "EXTENSIONS",
    "INTERLOCK",
    "PROFILES",
    "ProfileEntry",
    "broken_rule",
    "cite",
    "judge_by_profile",
    "load_profiles",
    "profile_results",
]

CORE: Literal["oip-core"] = "oip-core"
INTERLOCK: Literal["interlock-serving"] = "interlock-serving"
#: Extension profiles, by the name a server lists in ``GET /v2`` ``extensions``.
EXTENSIONS: dict[str, str] = {"binary_tensor_data": "binary-data"}
PROFILES = (CORE, *EXTENSIONS.values(), INTERLOCK)

TABLE = ProfileTable("serving.md", "SRV", PROFILES, INTERLOCK, {
    "not claimed": "the server does not declare or claim what its checks need",
    "not tested": "no check reached it by address (only a plugin certification can)",
})


def parse_profiles(text: str) -> dict[str, ProfileEntry]:
    """The profile table of serving.md's ``text`` (see :meth:`ProfileTable.parse`)."""
    return TABLE.parse(text)


def load_profiles() -> dict[str, ProfileEntry]:
    """serving.md's profile table, by requirement ID."""
    return TABLE.entries


def profile_of(ident: str) -> str:
    """The profile of a serving.md requirement (``interlock-serving`` for one not listed)."""
    return TABLE.profile_of(ident)


def cite(ident: str) -> str:
    """``SRV-205, REST "Inference Response JSON Object"``: a requirement and where the rule
    comes from, for failure messages."""
    return TABLE.cite(ident)


def broken_rule(cause: str | None, cited: Sequence[str]) -> str:
    """Which rule a failure breaks, for its message."""
    return TABLE.broken_rule(cause, cited)


def judge_by_profile(requirements: Mapping[str, Requirement],
                     cases: Sequence[CaseResult]) -> list[RequirementResult]:
    """One result per requirement, each judged by the cases of checks of its own profile."""
    return TABLE.judge(requirements, cases)


def profile_results(results: Iterable[RequirementResult], declared: Iterable[str],
                    required: Iterable[str]) -> list[ProfileResult]:
    """Each profile's counts and status; ``role`` says whether it decides the verdict."""
    return TABLE.results(results, declared, required)
