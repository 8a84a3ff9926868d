"""The JSON Schemas committed in specs/v1/schemas equal what the pydantic models generate."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_schemas", ROOT / "scripts" / "generate_schemas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


@pytest.mark.parametrize("name", sorted(SCRIPT.SCHEMAS))
def test_committed_schema_is_current(name: str) -> None:
    committed = ROOT / "specs" / "v1" / "schemas" / name
    assert committed.is_file(), f"{committed} is missing: run python scripts/generate_schemas.py"
    assert committed.read_text(encoding="utf-8") == SCRIPT.render(name), (
        f"specs/v1/schemas/{name} is stale: run python scripts/generate_schemas.py"
    )


def test_check_mode_reports_a_stale_schema(tmp_path: Path) -> None:
    for name, text in SCRIPT.render_all().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert SCRIPT.stale(tmp_path) == []
    (tmp_path / "manifest.schema.json").write_text("{}\n", encoding="utf-8")
    assert SCRIPT.stale(tmp_path) == ["manifest.schema.json"]


@requirement("ART-010")
def test_manifest_schema_is_closed_and_complete() -> None:
    from interlock import Manifest

    schema = json.loads(SCRIPT.render("manifest.schema.json"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Manifest.model_fields)
    for definition in schema["$defs"].values():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition["additionalProperties"] is False, definition["title"]
