"""Every normative statement of specs/v1 is checked, and every citation names one that exists
(conformance.md CONF-003, CONF-004): by a conformance case, or, for a requirement on
interlock's core, by one of interlock's own tests citing it with ``@requirement``."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock_conformance import (
    case_citations,
    check_citations,
    load_requirements,
    requirement,
    source_citations,
)
from interlock_conformance.markers import (
    CAPABILITY_MARK,
    KIND_MARK,
    REQUIREMENT_MARK,
    UNCLAIMED_MARK,
)
from interlock_conformance.oip import registered_checks

TESTS = Path(__file__).resolve().parent

#: Requirements no case and no test can check, with why: spec defects, reported to be fixed in
#: the spec (made checkable or turned into guidance). The test fails if one of them becomes
#: checked (drop it from here then) or if anything else goes unchecked.
UNCHECKABLE: dict[str, str] = {}


def _test_files() -> list[Path]:
    return sorted(TESTS.glob("test_*.py"))


@requirement("CONF-003")
def test_every_case_cites_requirements_that_exist() -> None:
    requirements = load_requirements()
    problems = check_citations(requirements, case_citations(), prefixes=[])
    assert not problems, problems.describe()


@requirement("CONF-003")
def test_every_server_check_cites_serving_requirements() -> None:
    requirements = load_requirements()
    for check in registered_checks():
        assert check.requirements, f"{check.id} cites nothing"
        for ident in check.requirements:
            assert ident in requirements and requirements[ident].file == "serving.md", (
                f"{check.id} cites {ident}, which is not a requirement of serving.md"
            )


@requirement("CONF-004")
def test_interlocks_own_tests_cite_requirements_that_exist() -> None:
    requirements = load_requirements()
    citations = source_citations(_test_files())
    unknown = {case: sorted(set(ids) - set(requirements)) for case, ids in citations.items()
               if set(ids) - set(requirements)}
    assert not unknown, f"tests cite requirements no spec defines: {unknown}"


@requirement("CONF-004")
def test_every_requirement_is_checked_by_a_case_or_a_test() -> None:
    requirements = load_requirements()
    citations: dict[str, set[str]] = {f"case {k}": v for k, v in case_citations().items()}
    citations.update({f"test {k}": v for k, v in source_citations(_test_files()).items()})
    problems = check_citations(requirements, citations)
    for ident in UNCHECKABLE:
        assert ident in requirements, f"{ident} is no longer in the specs: drop it from UNCHECKABLE"
        assert ident in problems.uncited, f"{ident} is checked now: drop it from UNCHECKABLE"
    uncited = [ident for ident in problems.uncited if ident not in UNCHECKABLE]
    by_file: dict[str, list[str]] = {}
    for ident in uncited:
        by_file.setdefault(requirements[ident].file, []).append(ident)
    assert not uncited, "requirements that no conformance case and no test checks: " + "; ".join(
        f"{file}: {', '.join(ids)}" for file, ids in sorted(by_file.items())
    )


# -- every requirement that applies to a reference component is exercised for it --------------

#: Requirements of runtime.md and plugins.md that no conformance case cites, each with why it
#: binds interlock's core (or interlock's own packages) and not a component: interlock's own
#: tests check them (test_every_requirement_is_checked_by_a_case_or_a_test). Any other
#: uncited requirement of these two files binds components and needs a case.
CORE_ONLY: dict[str, str] = {
    "RT-021": "the core wraps an exception from _run (Predictor.infer's boundary)",
    "RT-038": "the core's Arrow-to-tensor gathering (predict), whatever the runtime",
    "RT-061": "what the interop matrix compares (CONF-053), not what a runtime does",
    "PLG-004": "listing plugins reads entry-point metadata (the registry)",
    "PLG-005": "what `import interlock` imports (the core)",
    "PLG-015": "a MAY: vendor capabilities are listed, never tested (PLG-014's case accepts them)",
    "PLG-020": "the registry's choice between rival components",
    "PLG-021": "the registry reads INTERLOCK_PREFER",
    "PLG-022": "binds interlock's reference components only (test_reference_plugin.py)",
    "PLG-023": "the registry's choice between rival keys",
    "PLG-030": "the registry reads INTERLOCK_PLUGINS",
    "PLG-031": "the registry reads INTERLOCK_BLOCK_PLUGINS",
    "PLG-032": "the registry reads INTERLOCK_DISABLE_PLUGIN_AUTOLOAD",
    "PLG-040": "the errors interlock raises; a component's own are wrapped by the core (PLG-041)",
    "PLG-041": "the core's plugin boundary wraps a component's exceptions",
    "PLG-051": "the layering of interlock's own packages (import-linter, test_architecture.py); "
    "a vendor's plugin is bound by PLG-050",
}

#: Requirements that cases of a kind cite and that a reference component, by what it claims,
#: is not bound by (the requirement's own text makes the exception); no case runs for it.
EXEMPT_BY_CLAIM: dict[str, str] = {
    "DS-005": "transactional formats: conformance.md's table binds DS-005 to `not transactional`",
    "DS-015": "a format that claims both read and write: DS-015 binds one that lacks either",
    "DS-044": "transactional formats name their own data files (DS-123: DS-044 does not apply)",
    "DS-060": "transactional formats may fingerprint the snapshot instead (DS-124)",
    "DS-061": "the file listing of DS-060's fingerprint, replaced by DS-124's",
    "DS-062": "the byte-based fingerprint of DS-060, replaced by DS-124's snapshot identity",
    "DS-073": "a format that claims every type group has no column to refuse",
    "ART-070": "read-only stores publish nothing (ART-100..ART-104 bind them instead)",
}


@dataclass(frozen=True)
class _Variant:
    """One case, or one parameter of one, as the session selects it."""

    case: str
    kind: str
    ids: frozenset[str]
    needs: frozenset[str]
    unless: frozenset[str]

    def runs_for(self, claimed: set[str]) -> bool:
        return self.needs <= claimed and not (self.unless and self.unless <= claimed)


def _marks(obj: object) -> list[Any]:
    found = getattr(obj, "pytestmark", [])
    return list(found) if isinstance(found, list) else [found]


def _values(marks: list[Any], name: str) -> frozenset[str]:
    return frozenset(str(a) for m in marks if m.name == name for a in m.args)


def _variants() -> list[_Variant]:
    """Every packaged case and parameter, with its kind, requirements and capability marks."""
    found = []
    root = importlib.import_module("interlock_conformance.cases")
    for info in pkgutil.iter_modules(root.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"interlock_conformance.cases.{info.name}")
        kind = next(iter(_values(_marks(module), KIND_MARK)))
        for attr, function in sorted(vars(module).items()):
            if not attr.startswith("test_") or not callable(function):
                continue
            marks = _marks(module) + _marks(function)
            params = [list(getattr(v, "marks", ())) for m in marks
                      if m.name == "parametrize" and len(m.args) >= 2 for v in m.args[1]]
            for extra in params or [[]]:
                every = marks + extra
                found.append(_Variant(f"{info.name}::{attr}", kind,
                                      _values(every, REQUIREMENT_MARK),
                                      _values(every, CAPABILITY_MARK),
                                      _values(every, UNCLAIMED_MARK)))
    return found


def _reference_components() -> list[tuple[str, str, str, set[str]]]:
    """(plugin, kind, name, capabilities) of every component of interlock's own plugins."""
    from interlock.plugins import KINDS, get_registry

    registry = get_registry()
    found = []
    for kind in KINDS:
        for claim in registry.claims(kind):
            owner = registry.owner(claim.component)
            if owner is not None and owner.distribution == "interlock":
                found.append((owner.name, kind, claim.name, set(claim.component.capabilities)))
    return found


def _untested_for(kind: str, name: str, claimed: set[str],
                  variants: list[_Variant]) -> set[str]:
    """What applies to the component and no case that runs for it exercises: each
    requirement the cases of its kind cite, unless only cases it does not claim cite it; and
    each rule of conformance.md's applicability table that binds it."""
    from interlock_conformance.applicability import load_applicability
    from interlock_conformance.report import ComponentSummary

    plugin_wide = frozenset().union(*(v.ids for v in variants if v.kind == "plugin"))
    mine = [v for v in variants if v.kind == kind]
    exercised = plugin_wide.union(*(v.ids for v in mine if v.runs_for(claimed)))
    not_claimed = frozenset().union(*(v.ids for v in mine if not v.needs <= claimed))
    summary = ComponentSummary(kind=kind, name=name, capabilities=sorted(claimed))
    table = {r.requirement for r in load_applicability() if r.applies_to(summary)}
    cited = frozenset().union(*(v.ids for v in mine))
    return (set(cited - exercised - not_claimed) | table) - exercised


@requirement("CONF-029")
def test_no_requirement_applies_to_a_reference_component_untested() -> None:
    """For every component of interlock's own plugins, every requirement that applies to what
    it claims is exercised by a case that runs for it, or its text exempts the claim."""
    variants = _variants()
    components = _reference_components()
    assert len({c[0] for c in components}) >= 15, components
    left: dict[str, list[str]] = {}
    exempted: set[str] = set()
    for plugin, kind, name, claimed in components:
        untested = _untested_for(kind, name, claimed, variants)
        exempted |= untested & set(EXEMPT_BY_CLAIM)
        for ident in sorted(untested - set(EXEMPT_BY_CLAIM)):
            left.setdefault(ident, []).append(f"{kind} {name!r} ({plugin})")
    assert not left, f"applicable and exercised by no case that runs: {left}"
    assert exempted == set(EXEMPT_BY_CLAIM), (
        f"no longer untested for any reference component (drop from EXEMPT_BY_CLAIM): "
        f"{sorted(set(EXEMPT_BY_CLAIM) - exempted)}")


@requirement("CONF-029", "RT-007", "PLG-042")
def test_every_runtime_and_plugin_requirement_has_a_case_or_binds_the_core() -> None:
    """runtime.md and plugins.md, read by hand: a requirement no case cites binds the core
    (CORE_ONLY, with why); RT-007 and PLG-042 (a missing library) have their case."""
    requirements = load_requirements()
    cited = set().union(*case_citations().values())
    uncited = {i for i, r in requirements.items()
               if r.file in ("runtime.md", "plugins.md") and i not in cited}
    assert uncited == set(CORE_ONLY), (
        f"uncited, and not known to bind the core: {sorted(uncited - set(CORE_ONLY))}; "
        f"cited now (drop from CORE_ONLY): {sorted(set(CORE_ONLY) - uncited)}")
    assert {"RT-007", "PLG-042", "RT-052"} <= cited
