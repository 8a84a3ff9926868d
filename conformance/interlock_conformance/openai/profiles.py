"""The profiles of ``specs/v1/openai.md``: which requirements restate the OpenAI API reference
(``openai-core``) and which are interlock's stricter promise (``interlock-text``), read from the
table between ``<!-- profiles -->`` and ``<!-- end profiles -->``; and how a report is judged
per profile (each requirement by the checks of its own profile only, as for serving.md:
:class:`interlock_conformance.profile_tables.ProfileTable`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from interlock_conformance.openai.target import CORE, INTERLOCK
from interlock_conformance.profile_tables import ProfileEntry, ProfileTable
from interlock_conformance.report import CaseResult, ProfileResult, RequirementResult
from interlock_conformance.requirements import Requirement

__all__ = ["OPENAI_SPEC", "PROFILES", "ProfileEntry", "broken_rule", "judge_by_profile",
           "load_profiles", "parse_profiles", "profile_of", "profile_results"]

#: The spec file of this profile.
OPENAI_SPEC = "openai.md"
PROFILES = (CORE, INTERLOCK)

TABLE = ProfileTable(OPENAI_SPEC, "OAI", PROFILES, INTERLOCK, {
    "not claimed": "the server does not offer what its checks need",
    "not tested": "no check reached it (no model of the kind, or nothing to send it)",
})


def parse_profiles(text: str) -> dict[str, ProfileEntry]:
    """The profile table of openai.md's ``text`` (see :meth:`ProfileTable.parse`)."""
    return TABLE.parse(text)


def load_profiles() -> dict[str, ProfileEntry]:
    """openai.md's profile table, by requirement ID."""
    return TABLE.entries


def profile_of(ident: str) -> str:
    """The profile of an openai.md requirement (``interlock-text`` for one not listed)."""
    return TABLE.profile_of(ident)


def broken_rule(cause: str | None, cited: Sequence[str]) -> str:
    """The requirement a failure breaks, its profile and the start of its sentence."""
    return TABLE.broken_rule(cause, cited)


def judge_by_profile(requirements: Mapping[str, Requirement],
                     cases: Sequence[CaseResult]) -> list[RequirementResult]:
    """One result per requirement, judged by the cases of checks of its own profile."""
    return TABLE.judge(requirements, cases)


def profile_results(results: Iterable[RequirementResult],
                    required: Iterable[str]) -> list[ProfileResult]:
    """Each profile's counts and status; ``role`` says whether it decides the verdict (an
    OpenAI-compatible server declares no extensions)."""
    return TABLE.results(results, (), required)
