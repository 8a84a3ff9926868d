"""The profiles of ``specs/v1/serving.md``: which requirements restate the Open Inference
Protocol (``oip-core``), which an extension of it (``binary-data``), and which are interlock's
stricter serving profile (``interlock-serving``), read from the table between
``<!-- profiles -->`` and ``<!-- end profiles -->`` in serving.md; and how a server report is
judged per profile.

A requirement is judged by the checks of its own profile only: the core checks read every
answer the protocol allows, interlock's checks hold a server to interlock's stricter rules, and
one cannot make the other's requirement "blocked" or "passed".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from interlock import InterlockError

from interlock_conformance.report import (
    CaseResult,
    ProfileResult,
    RequirementResult,
    judge_requirements,
)
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

_ROW = re.compile(r"^\|\s*(SRV-\d{3})\s*\|\s*([a-z-]+)\s*\|\s*(.*?)\s*\|\s*$")


@dataclass(frozen=True)
class ProfileEntry:
    """One row of serving.md's profile table."""

    requirement: str
    profile: str
    source: str


def parse_profiles(text: str) -> dict[str, ProfileEntry]:
    """The profile table of serving.md's ``text``; :class:`InterlockError` for a table that is
    missing, names an unknown profile or lists a requirement twice."""
    start, end = text.find("<!-- profiles -->"), text.find("<!-- end profiles -->")
    if start < 0 or end < start:
        raise InterlockError("serving.md has no profile table",
                             hint="add the table between <!-- profiles --> and "
                             "<!-- end profiles -->")
    entries: dict[str, ProfileEntry] = {}
    for line in text[start:end].splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        ident, profile, source = match.groups()
        if profile not in PROFILES or ident in entries or not source:
            raise InterlockError(f"serving.md's profile table: the row {line.strip()!r} is "
                                 "not 'ID | profile | source' with a known profile, once",
                                 hint=f"profiles: {', '.join(PROFILES)}")
        entries[ident] = ProfileEntry(ident, profile, source)
    return entries


@lru_cache(maxsize=1)
def load_profiles() -> dict[str, ProfileEntry]:
    """serving.md's profile table, by requirement ID."""
    from interlock_conformance.locations import specs_dir

    return parse_profiles((specs_dir() / "serving.md").read_text(encoding="utf-8"))


def profile_of(ident: str) -> str:
    """The profile of a serving.md requirement (``interlock-serving`` for one not listed)."""
    entry = load_profiles().get(ident)
    return entry.profile if entry is not None else INTERLOCK


def cite(ident: str) -> str:
    """``SRV-205, REST "Inference Response JSON Object"``: a requirement and where the rule
    comes from, for failure messages."""
    entry = load_profiles().get(ident)
    return f"{ident}, {entry.source}" if entry is not None else ident


@lru_cache(maxsize=1)
def _texts() -> dict[str, str]:
    from interlock_conformance.requirements import load_requirements

    return {i: r.text for i, r in load_requirements().items() if r.file == "serving.md"}


def broken_rule(cause: str | None, cited: Sequence[str]) -> str:
    """Which rule a failure breaks, for its message: the requirement (the root cause, or the
    one the check cites), its profile and the start of its sentence."""
    idents = [cause] if cause else list(cited)
    first = idents[0] if idents else ""
    sentence = " ".join(_texts().get(first, "").split())
    if len(sentence) > 110:
        sentence = sentence[:107].rsplit(" ", 1)[0] + "..."
    others = f" (with {', '.join(idents[1:])})" if len(idents) > 1 else ""
    return f"{first}{others}, {profile_of(first)}: \"{sentence}\""


def judge_by_profile(requirements: Mapping[str, Requirement],
                     cases: Sequence[CaseResult]) -> list[RequirementResult]:
    """One result per requirement, each judged by the cases of checks of its own profile (a
    root cause of another profile still blocks, CONF-025)."""
    by_id: dict[str, RequirementResult] = {}
    for profile in PROFILES:
        mine = [c for c in cases if (c.profile or INTERLOCK) == profile]
        for result in judge_requirements(requirements, mine):
            if profile_of(result.id) == profile:
                by_id[result.id] = result
    return [by_id[ident] for ident in requirements]


_WHY = {
    "not claimed": "the server does not declare or claim what its checks need",
    "not tested": "no check reached it by address (only a plugin certification can)",
}


def profile_results(results: Iterable[RequirementResult], declared: Iterable[str],
                    required: Iterable[str]) -> list[ProfileResult]:
    """Each profile's counts and status: ``failed`` when a requirement failed, ``not tested``
    when none passed, ``passed`` otherwise; ``role`` says whether it decides the verdict."""
    results = list(results)
    declared, required = set(declared), set(required)
    summaries = []
    for profile in PROFILES:
        mine = [r for r in results if profile_of(r.id) == profile]
        counts = {s: sum(1 for r in mine if r.status == s)
                  for s in ("passed", "failed", "blocked", "not claimed", "not tested")}
        untested = {why: [r.id for r in mine if r.status == status]
                    for status, why in _WHY.items()}
        blocked = [f"{r.id} (blocked by {', '.join(r.blocked_by) or 'another failure'})"
                   for r in mine if r.status == "blocked"]
        status: Literal["passed", "failed", "not tested"] = (
            "failed" if counts["failed"] else "passed" if counts["passed"] else "not tested")
        summaries.append(ProfileResult(
            name=profile, role="verdict" if profile in required else "advice",
            declared=profile in declared, status=status,
            tested=counts["passed"] + counts["failed"], passed=counts["passed"],
            failed=counts["failed"], blocked=blocked,
            not_tested={why: ids for why, ids in untested.items() if ids},
            failed_requirements=[r.id for r in mine if r.status == "failed"],
        ))
    return summaries
