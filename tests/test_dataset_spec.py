"""specs/v1/dataset.md, the code and the tests stay in sync: IDs, capabilities, reference
formats, and every requirement cited by a test (conformance.md CONF-001, CONF-004)."""

from __future__ import annotations

import re
from pathlib import Path

import interlock
from interlock.datasets import DATASET_CAPABILITIES
from interlock.plugins import get_registry
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent
SPEC = (ROOT / "specs" / "v1" / "dataset.md").read_text(encoding="utf-8")
ITEM = re.compile(r"^- \*\*(DS-\d{3})\*\* (.*?)(?=^- \*\*|^#|\Z)", re.M | re.S)
KEYWORDS = re.compile(r"\b(MUST|SHOULD|MAY|SHALL|REQUIRED|RECOMMENDED|OPTIONAL)\b")


def _requirements() -> dict[str, str]:
    found: dict[str, str] = {}
    for match in ITEM.finditer(SPEC):
        assert match.group(1) not in found, f"{match.group(1)} defined twice"
        found[match.group(1)] = match.group(2)
    return found


def _table_after(requirement: str) -> list[list[str]]:
    text = _requirements()[requirement]
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_spec_is_well_formed() -> None:
    assert SPEC.startswith("# Datasets\n") and "\nStatus: v1\n" in SPEC
    requirements = _requirements()
    assert len(requirements) >= 60
    for ident, text in requirements.items():
        assert KEYWORDS.search(text), f"{ident} has no RFC 2119 key word"
    # every list item that looks like a requirement was parsed as one
    assert len(re.findall(r"^- \*\*DS-", SPEC, re.M)) == len(requirements)


def test_capability_table_matches_the_code() -> None:
    table = {row[0].strip("`"): row[1] for row in _table_after("DS-090")}
    assert table == DATASET_CAPABILITIES


@requirement("DS-100")
def test_reference_format_table_matches_the_components() -> None:
    registry = get_registry()
    every_type = {c for c in DATASET_CAPABILITIES if c.startswith("types:")}
    rows = _table_after("DS-100")
    assert {row[0].strip("`") for row in rows} == {"parquet", "arrow", "csv", "jsonl"}
    for name, extensions, capabilities, _options in rows:
        component = registry.get("dataset_format", name.strip("`"))
        assert component.extensions == tuple(re.findall(r"`(\.[a-z]+)`", extensions))
        claimed = set(re.findall(r"`([a-z_:]+)`", capabilities))
        if "every `types:*`" in capabilities:
            claimed |= every_type
        assert component.capabilities == claimed, name
        assert component.priority == interlock.FALLBACK_PRIORITY
        # DS-092
        if any(c.startswith("types:") or c == "append" for c in claimed):
            assert "write" in claimed


@requirement("DS-070")
def test_type_group_table_names_every_types_capability() -> None:
    groups = {row[0].strip("`") for row in _table_after("DS-070")}
    assert groups == {"basic"} | {c.split(":")[1] for c in DATASET_CAPABILITIES if ":" in c
                                  and c.startswith("types:")}


def test_every_requirement_is_cited_by_a_test_and_every_citation_exists() -> None:
    tests = list((ROOT / "tests").glob("test_*.py"))
    cited = {i for p in tests for i in re.findall(r"\bDS-\d{3}\b", p.read_text(encoding="utf-8"))}
    missing = sorted(set(_requirements()) - cited)
    assert not missing, f"requirements no test cites: {missing}"
    # the files that implement or test this spec (other tests cite made-up IDs on purpose)
    sources = [
        *(ROOT / "sdk" / "interlock" / "datasets").glob("*.py"),
        *(ROOT / "plugins" / "interlock_formats").glob("*.py"),
        ROOT / "docs" / "datasets.md",
        *(ROOT / "tests").glob("test_dataset*.py"),
        ROOT / "tests" / "test_formats.py",
    ]
    for source in sources:
        for ident in re.findall(r"\bDS-\d{3}\b", source.read_text(encoding="utf-8")):
            assert ident in _requirements(), f"{source.name} cites unknown {ident}"
