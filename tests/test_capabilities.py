"""The capability registry: one table per kind, and the spec's tables generated from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from interlock.plugins import CAPABILITIES, KINDS, find_capability
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent


@requirement("PLG-014")
def test_spec_capability_tables_are_generated_from_the_registry() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_capabilities.py"), "--check"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr


def test_capability_names_are_unique_per_kind_and_point_at_an_existing_spec_page() -> None:
    assert set(CAPABILITIES) == set(KINDS)
    for kind, capabilities in CAPABILITIES.items():
        names = [c.name for c in capabilities]
        assert len(names) == len(set(names)), kind
        for capability in capabilities:
            assert (ROOT / "specs" / "v1" / capability.spec).is_file(), capability
            assert capability.meaning and not capability.meaning.endswith("."), capability
            if capability.pattern is None:
                assert find_capability(kind, capability.name) is capability


def test_every_reference_component_claims_only_known_capabilities() -> None:
    import interlock

    registry = interlock.get_registry()
    assert [p.name for p in registry.plugins if p.status != "loaded"] == []
    claimed = {(c.kind, cap) for p in registry.plugins for c in p.components
               for cap in c.component.capabilities}
    assert claimed and all(find_capability(kind, cap) for kind, cap in claimed)
