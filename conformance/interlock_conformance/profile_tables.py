"""Profile tables of spec pages that certify servers by address (serving.md, openai.md): the
table between ``<!-- profiles -->`` and ``<!-- end profiles -->`` gives each requirement its
profile and the source it restates, and a report is judged per profile, each requirement by
the checks of its own profile only (one profile's checks cannot make another's requirement
"blocked" or "passed")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from interlock import InterlockError

from interlock_conformance.report import (
    CaseResult,
    ProfileResult,
    RequirementResult,
    judge_requirements,
)
from interlock_conformance.requirements import Requirement

__all__ = ["ProfileEntry", "ProfileTable"]


@dataclass(frozen=True)
class ProfileEntry:
    """One row of a profile table."""

    requirement: str
    profile: str
    source: str


class ProfileTable:
    """The profiles of the requirements ``PREFIX-NNN`` of the spec page ``spec``; one not
    listed is of ``default``. ``why`` says, per untested status, why checks did not reach it."""

    def __init__(self, spec: str, prefix: str, profiles: Sequence[str], default: str,
                 why: Mapping[str, str]) -> None:
        self.spec, self.profiles, self.default, self.why = spec, tuple(profiles), default, why
        self._row = re.compile(rf"^\|\s*({prefix}-\d{{3}})\s*\|\s*([a-z-]+)\s*\|\s*(.*?)\s*\|\s*$")

    def parse(self, text: str) -> dict[str, ProfileEntry]:
        """The table of the page's ``text``; :class:`InterlockError` for a table that is
        missing, names an unknown profile or lists a requirement twice."""
        start, end = text.find("<!-- profiles -->"), text.find("<!-- end profiles -->")
        if start < 0 or end < start:
            raise InterlockError(f"{self.spec} has no profile table",
                                 hint="add the table between <!-- profiles --> and "
                                 "<!-- end profiles -->")
        entries: dict[str, ProfileEntry] = {}
        for line in text[start:end].splitlines():
            match = self._row.match(line)
            if match is None:
                continue
            ident, profile, source = match.groups()
            if profile not in self.profiles or ident in entries or not source:
                raise InterlockError(f"{self.spec}'s profile table: the row {line.strip()!r} "
                                     "is not 'ID | profile | source' with a known profile, once",
                                     hint=f"profiles: {', '.join(self.profiles)}")
            entries[ident] = ProfileEntry(ident, profile, source)
        return entries

    @cached_property
    def entries(self) -> dict[str, ProfileEntry]:
        """The page's table, by requirement ID."""
        from interlock_conformance.locations import specs_dir

        return self.parse((specs_dir() / self.spec).read_text(encoding="utf-8"))

    def profile_of(self, ident: str) -> str:
        entry = self.entries.get(ident)
        return entry.profile if entry is not None else self.default

    def cite(self, ident: str) -> str:
        """``ID, source``: a requirement and where its rule comes from, for messages."""
        entry = self.entries.get(ident)
        return f"{ident}, {entry.source}" if entry is not None else ident

    @cached_property
    def _texts(self) -> dict[str, str]:
        from interlock_conformance.requirements import load_requirements

        return {i: r.text for i, r in load_requirements().items() if r.file == self.spec}

    def broken_rule(self, cause: str | None, cited: Sequence[str]) -> str:
        """Which rule a failure breaks: the requirement (the root cause, or the one the check
        cites), its profile and the start of its sentence."""
        idents = [cause] if cause else list(cited)
        first = idents[0] if idents else ""
        sentence = " ".join(self._texts.get(first, "").split())
        if len(sentence) > 110:
            sentence = sentence[:107].rsplit(" ", 1)[0] + "..."
        others = f" (with {', '.join(idents[1:])})" if len(idents) > 1 else ""
        return f"{first}{others}, {self.profile_of(first)}: \"{sentence}\""

    def judge(self, requirements: Mapping[str, Requirement],
              cases: Sequence[CaseResult]) -> list[RequirementResult]:
        """One result per requirement, judged by the cases of checks of its own profile (a
        root cause of another profile still blocks, CONF-025)."""
        by_id: dict[str, RequirementResult] = {}
        for profile in self.profiles:
            mine = [c for c in cases if (c.profile or self.default) == profile]
            for result in judge_requirements(requirements, mine):
                if self.profile_of(result.id) == profile:
                    by_id[result.id] = result
        return [by_id[ident] for ident in requirements]

    def results(self, results: Iterable[RequirementResult], declared: Iterable[str],
                required: Iterable[str]) -> list[ProfileResult]:
        """Each profile's counts and status: ``failed`` when a requirement failed, ``not
        tested`` when none passed, ``passed`` otherwise; ``role`` says whether it decides the
        verdict."""
        results, declared, required = list(results), set(declared), set(required)
        summaries = []
        for profile in self.profiles:
            mine = [r for r in results if self.profile_of(r.id) == profile]
            passed = sum(1 for r in mine if r.status == "passed")
            failed = [r.id for r in mine if r.status == "failed"]
            status: Literal["passed", "failed", "not tested"] = (
                "failed" if failed else "passed" if passed else "not tested")
            untested = {why: [r.id for r in mine if r.status == state]
                        for state, why in self.why.items()}
            summaries.append(ProfileResult(
                name=profile, role="verdict" if profile in required else "advice",
                declared=profile in declared, status=status, tested=passed + len(failed),
                passed=passed, failed=len(failed),
                blocked=[f"{r.id} (blocked by {', '.join(r.blocked_by) or 'another failure'})"
                         for r in mine if r.status == "blocked"],
                not_tested={why: ids for why, ids in untested.items() if ids},
                failed_requirements=failed,
            ))
        return summaries
