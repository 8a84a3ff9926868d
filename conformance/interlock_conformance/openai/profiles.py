"""The profiles of ``specs/v1/openai.md``: which requirements restate the OpenAI API reference
(``openai-core``) and which are interlock's stricter promise (``interlock-text``), read from the
table between ``<!-- profiles -->`` and ``<!-- end profiles -->``; and how a report is judged
per profile (each requirement by the checks of its own profile only, as for serving.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from interlock import InterlockError

from interlock_conformance.openai.target import CORE, INTERLOCK
from interlock_conformance.report import (
    CaseResult,
    ProfileResult,
    RequirementResult,
    judge_requirements,
)
from interlock_conformance.requirements import Requirement

__all__ = ["OPENAI_SPEC", "PROFILES", "ProfileEntry", "broken_rule", "judge_by_profile",
           "load_profiles", "parse_profiles", "profile_of", "profile_results"]

#: The spec file of this profile.
OPENAI_SPEC = "openai.md"
PROFILES = (CORE, INTERLOCK)
_ROW = re.compile(r"^\|\s*(OAI-\d{3})\s*\|\s*([a-z-]+)\s*\|\s*(.*?)\s*\|\s*$")


@dataclass(frozen=True)
class ProfileEntry:
    """One row of openai.md's profile table."""

    requirement: str
    profile: str
    source: str


def parse_profiles(text: str) -> dict[str, ProfileEntry]:
    """The profile table of openai.md's ``text``; :class:`InterlockError` for a table that is
    missing, names an unknown profile or lists a requirement twice."""
    start, end = text.find("<!-- profiles -->"), text.find("<!-- end profiles -->")
    if start < 0 or end < start:
        raise InterlockError(f"{OPENAI_SPEC} has no profile table",
                             hint="add the table between <!-- profiles --> and "
                             "<!-- end profiles -->")
    entries: dict[str, ProfileEntry] = {}
    for line in text[start:end].splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        ident, profile, source = match.groups()
        if profile not in PROFILES or ident in entries or not source:
            raise InterlockError(f"{OPENAI_SPEC}'s profile table: the row {line.strip()!r} is "
                                 "not 'ID | profile | source' with a known profile, once",
                                 hint=f"profiles: {', '.join(PROFILES)}")
        entries[ident] = ProfileEntry(ident, profile, source)
    return entries


@lru_cache(maxsize=1)
def load_profiles() -> dict[str, ProfileEntry]:
    """openai.md's profile table, by requirement ID."""
    from interlock_conformance.locations import specs_dir

    return parse_profiles((specs_dir() / OPENAI_SPEC).read_text(encoding="utf-8"))


def profile_of(ident: str) -> str:
    """The profile of an openai.md requirement (``interlock-text`` for one not listed)."""
    entry = load_profiles().get(ident)
    return entry.profile if entry is not None else INTERLOCK


@lru_cache(maxsize=1)
def _texts() -> dict[str, str]:
    from interlock_conformance.requirements import load_requirements

    return {i: r.text for i, r in load_requirements().items() if r.file == OPENAI_SPEC}


def broken_rule(cause: str | None, cited: Sequence[str]) -> str:
    """The requirement a failure breaks, its profile and the start of its sentence."""
    idents = [cause] if cause else list(cited)
    first = idents[0] if idents else ""
    sentence = " ".join(_texts().get(first, "").split())
    if len(sentence) > 110:
        sentence = sentence[:107].rsplit(" ", 1)[0] + "..."
    return f"{first}, {profile_of(first)}: \"{sentence}\""


def judge_by_profile(requirements: Mapping[str, Requirement],
                     cases: Sequence[CaseResult]) -> list[RequirementResult]:
    """One result per requirement, judged by the cases of checks of its own profile."""
    by_id: dict[str, RequirementResult] = {}
    for profile in PROFILES:
        mine = [c for c in cases if (c.profile or INTERLOCK) == profile]
        for result in judge_requirements(requirements, mine):
            if profile_of(result.id) == profile:
                by_id[result.id] = result
    return [by_id[ident] for ident in requirements]


_WHY = {"not claimed": "the server does not offer what its checks need",
        "not tested": "no check reached it (no model of the kind, or nothing to send it)"}


def profile_results(results: Iterable[RequirementResult],
                    required: Iterable[str]) -> list[ProfileResult]:
    """Each profile's counts and status (``failed`` when a requirement failed, ``not tested``
    when none passed); ``role`` says whether it decides the verdict."""
    results, required = list(results), set(required)
    summaries = []
    for profile in PROFILES:
        mine = [r for r in results if profile_of(r.id) == profile]
        passed = sum(1 for r in mine if r.status == "passed")
        failed = [r.id for r in mine if r.status == "failed"]
        status: Literal["passed", "failed", "not tested"] = (
            "failed" if failed else "passed" if passed else "not tested")
        untested = {why: [r.id for r in mine if r.status == state] for state, why in _WHY.items()}
        summaries.append(ProfileResult(
            name=profile, role="verdict" if profile in required else "advice", declared=False,
            status=status, tested=passed + len(failed), passed=passed, failed=len(failed),
            blocked=[f"{r.id} (blocked by {', '.join(r.blocked_by) or 'another failure'})"
                     for r in mine if r.status == "blocked"],
            not_tested={why: ids for why, ids in untested.items() if ids},
            failed_requirements=failed,
        ))
    return summaries
