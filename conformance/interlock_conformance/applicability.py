"""Which requirements apply to a plugin's components whatever its cases (conformance.md
CONF-029): the table between ``<!-- applicability -->`` and ``<!-- end applicability -->`` in
conformance.md names requirements, the component kind they bind and the capabilities (or
``not CAPABILITY``) under which they do. A certification lists every such requirement that
applies to one of the plugin's components and that no case exercised ("not tested" or "not
claimed"), and cannot be "certified" while one remains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from interlock import InterlockError

from interlock_conformance.report import ComponentSummary, RequirementResult

__all__ = ["Applicability", "applicable_untested", "load_applicability"]

_ROW = re.compile(r"^\|\s*([A-Z]+-\d{3})\s*\|\s*([a-z_]+)\s*\|\s*(.*?)\s*\|\s*$")


@dataclass(frozen=True)
class Applicability:
    """A requirement that binds every component of ``kind`` claiming ``claims`` and none of
    ``unclaimed``."""

    requirement: str
    kind: str
    claims: tuple[str, ...]
    unclaimed: tuple[str, ...]

    def applies_to(self, component: ComponentSummary) -> bool:
        """Whether the rule binds ``component``."""
        have = set(component.capabilities)
        return (component.kind == self.kind and set(self.claims) <= have
                and not set(self.unclaimed) & have)


def parse_applicability(text: str) -> list[Applicability]:
    """The applicability table of conformance.md's ``text``."""
    start, end = text.find("<!-- applicability -->"), text.find("<!-- end applicability -->")
    if start < 0 or end < start:
        raise InterlockError("conformance.md has no applicability table",
                             hint="add it between <!-- applicability --> and "
                             "<!-- end applicability -->")
    rules = []
    for line in text[start:end].splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        ident, kind, when = match.groups()
        words = [w.strip() for w in when.split(",") if w.strip() and w.strip() != "always"]
        claims = tuple(w for w in words if not w.startswith("not "))
        unclaimed = tuple(w.removeprefix("not ").strip() for w in words if w.startswith("not "))
        rules.append(Applicability(ident, kind, claims, unclaimed))
    return rules


@lru_cache(maxsize=1)
def load_applicability() -> tuple[Applicability, ...]:
    """conformance.md's applicability table."""
    from interlock_conformance.locations import specs_dir

    text = (specs_dir() / "conformance.md").read_text(encoding="utf-8")
    return tuple(parse_applicability(text))


def applicable_untested(results: Iterable[RequirementResult],
                        components: Sequence[ComponentSummary],
                        rules: Iterable[Applicability] | None = None) -> list[str]:
    """``ID (kind name)`` for every rule that binds one of ``components`` whose requirement no
    case exercised (status "not tested" or "not claimed")."""
    status = {r.id: r.status for r in results}
    found = []
    for rule in load_applicability() if rules is None else rules:
        if status.get(rule.requirement) not in ("not tested", "not claimed"):
            continue
        for component in components:
            if rule.applies_to(component):
                found.append(f"{rule.requirement} ({component.kind} {component.name!r})")
    return found
