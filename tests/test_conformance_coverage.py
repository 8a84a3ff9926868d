"""Every normative statement of specs/v1 is checked, and every citation names one that exists
(conformance.md CONF-003, CONF-004): by a conformance case, or, for a requirement on
interlock's core, by one of interlock's own tests citing it with ``@requirement``."""

from __future__ import annotations

from pathlib import Path

from interlock_conformance import (
    case_citations,
    check_citations,
    load_requirements,
    requirement,
    source_citations,
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
