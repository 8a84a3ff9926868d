"""The requirements registry: every normative statement of ``specs/v1/*.md``, by ID.

A requirement is a Markdown list item that starts with its bold ID, for example::

    - **DS-001** A dataset format MUST read ...
      and the text may continue on indented lines.

Its level is the first RFC 2119 key word in its text (MUST NOT counts as MUST, SHOULD NOT and
RECOMMENDED as SHOULD, OPTIONAL as MAY); an item without any key word is definitional and
counts as MUST.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from interlock import InterlockError

from interlock_conformance.locations import specs_dir

__all__ = [
    "CitationProblems",
    "Requirement",
    "RequirementsError",
    "check_citations",
    "load_requirements",
    "parse_requirements",
]

Level = Literal["MUST", "SHOULD", "MAY"]

#: A requirement ID: an upper-case prefix, a dash and three digits.
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*-\d{3}$")

_ITEM = re.compile(r"^[-*] \*\*(?P<id>[^*]+)\*\*\s*(?P<text>.*)$")
# Longest phrases first, so that "MUST NOT" is not read as "MUST" and "NOT RECOMMENDED" not
# as "RECOMMENDED" (the level is the same either way, but the keyword reported is exact).
_KEYWORDS: dict[str, Level] = {
    "MUST NOT": "MUST",
    "SHALL NOT": "MUST",
    "SHOULD NOT": "SHOULD",
    "NOT RECOMMENDED": "SHOULD",
    "MUST": "MUST",
    "SHALL": "MUST",
    "REQUIRED": "MUST",
    "SHOULD": "SHOULD",
    "RECOMMENDED": "SHOULD",
    "MAY": "MAY",
    "OPTIONAL": "MAY",
}
_KEYWORD = re.compile(r"\b(" + "|".join(re.escape(k) for k in _KEYWORDS) + r")\b")


class RequirementsError(InterlockError):
    """The specs are malformed: a duplicate or badly formed ID, or a prefix in two files."""


@dataclass(frozen=True)
class Requirement:
    """One normative statement of the written standard."""

    id: str
    level: Level
    text: str
    #: The spec file that defines it, relative to ``specs/v1`` (``dataset.md``).
    file: str
    #: The first RFC 2119 key word in the text, exactly as written; None if it has none.
    keyword: str | None = None

    @property
    def prefix(self) -> str:
        """``DS`` for ``DS-001``."""
        return self.id.rsplit("-", 1)[0]


def _level(text: str) -> tuple[Level, str | None]:
    match = _KEYWORD.search(text)
    if match is None:
        return "MUST", None
    return _KEYWORDS[match.group(1)], match.group(1)


def parse_requirements(text: str, file: str) -> list[Requirement]:
    """The requirements defined in one Markdown document, in order.

    An item continues on the following indented lines (nested bullets included) up to a blank
    line or a line that starts at the left margin. Raises :class:`RequirementsError` for an
    item whose bold ID is not ``PREFIX-NNN``.
    """
    found: list[Requirement] = []
    current: tuple[str, list[str]] | None = None
    in_code = False

    def close() -> None:
        nonlocal current
        if current is not None:
            ident, parts = current
            body = " ".join(p for p in parts if p)
            level, keyword = _level(body)
            found.append(Requirement(ident, level, body, file, keyword))
            current = None

    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith("```"):
            close()
            in_code = not in_code
            continue
        if in_code:
            continue
        match = _ITEM.match(raw)
        if match:
            close()
            ident = match["id"].strip()
            if not ID_PATTERN.match(ident):
                raise RequirementsError(
                    f"{file}:{number}: requirement ID {ident!r} is not PREFIX-NNN",
                    hint="write requirement IDs as an upper-case prefix, a dash and three "
                    "digits, e.g. **DS-001**",
                )
            current = (ident, [match["text"].strip()])
        elif current is not None and raw.strip() and raw[:1] in (" ", "\t"):
            current[1].append(raw.strip())
        else:
            close()
    close()
    return found


def load_requirements(directory: Path | None = None) -> dict[str, Requirement]:
    """Every requirement of every ``*.md`` in ``directory`` (default: the packaged
    ``specs/v1``), by ID, sorted by ID.

    Raises :class:`RequirementsError` when an ID is defined twice or when one prefix is used
    in two files (each spec file owns its prefix).
    """
    root = directory if directory is not None else specs_dir()
    by_id: dict[str, Requirement] = {}
    prefix_file: dict[str, str] = {}
    for path in sorted(root.glob("*.md")):
        for requirement in parse_requirements(path.read_text(encoding="utf-8"), path.name):
            previous = by_id.get(requirement.id)
            if previous is not None:
                raise RequirementsError(
                    f"requirement {requirement.id} is defined twice: in {previous.file} and "
                    f"in {requirement.file}",
                    hint="IDs are never reused; give the new statement the next free number",
                )
            owner = prefix_file.setdefault(requirement.prefix, requirement.file)
            if owner != requirement.file:
                raise RequirementsError(
                    f"requirement prefix {requirement.prefix}- is used in both {owner} and "
                    f"{requirement.file} ({requirement.id})",
                    hint="each spec file owns one prefix; pick a prefix for the new file",
                )
            by_id[requirement.id] = requirement
    return dict(sorted(by_id.items(), key=lambda item: _sort_key(item[0])))


def _sort_key(ident: str) -> tuple[str, int]:
    prefix, _, number = ident.rpartition("-")
    return prefix, int(number)


@dataclass
class CitationProblems:
    """What :func:`check_citations` found wrong."""

    #: case -> IDs it cites that no spec defines
    unknown: dict[str, list[str]] = field(default_factory=dict)
    #: cases that cite no requirement at all
    citing_nothing: list[str] = field(default_factory=list)
    #: requirement IDs that no case cites
    uncited: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.unknown or self.citing_nothing or self.uncited)

    def describe(self) -> str:
        """One line per problem, for an assertion message."""
        lines = [f"{case} cites unknown {', '.join(ids)}" for case, ids in self.unknown.items()]
        lines += [f"{case} cites no requirement" for case in self.citing_nothing]
        if self.uncited:
            lines.append(f"no case checks {', '.join(self.uncited)}")
        return "\n".join(lines)


def check_citations(
    requirements: Mapping[str, Requirement],
    citations: Mapping[str, Iterable[str]],
    *,
    prefixes: Iterable[str] | None = None,
) -> CitationProblems:
    """Check that every case cites existing IDs and that every requirement is cited.

    ``citations`` maps a case to the IDs it checks. ``prefixes`` limits the "uncited" check to
    requirements with those prefixes (all when None); unknown IDs are always reported.
    """
    problems = CitationProblems()
    cited: set[str] = set()
    for case, ids in sorted(citations.items()):
        ids = sorted(set(ids))
        if not ids:
            problems.citing_nothing.append(case)
        unknown = [i for i in ids if i not in requirements]
        if unknown:
            problems.unknown[case] = unknown
        cited.update(ids)
    wanted = set(prefixes) if prefixes is not None else None
    problems.uncited = [
        ident
        for ident, requirement in requirements.items()
        if ident not in cited and (wanted is None or requirement.prefix in wanted)
    ]
    return problems
