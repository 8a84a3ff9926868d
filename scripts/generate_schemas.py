#!/usr/bin/env python3
"""Generate the JSON Schemas of spec v1 into ``specs/v1/schemas`` from the pydantic models.

The models in ``sdk/interlock`` are the source of truth; the committed schemas are what
vendors in other languages validate against. ``tests/test_schemas.py`` fails when a committed
schema differs from what this script writes. To publish another schema, add a row to
:data:`SCHEMAS`.

Usage: ``python scripts/generate_schemas.py [--check]`` (``--check`` writes nothing and exits
1 when a schema is stale).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "specs" / "v1" / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: file name in specs/v1/schemas -> (module, pydantic model, title of the document)
SCHEMAS: dict[str, tuple[str, str, str]] = {
    "manifest.schema.json": (
        "interlock.artifacts",
        "Manifest",
        "interlock artifact manifest (manifest.json), spec v1",
    ),
    "report.schema.json": (
        "interlock_conformance.report",
        "Report",
        "interlock conformance report (report.json), spec v1",
    ),
}


def render(file_name: str) -> str:
    """The exact text of one schema file: sorted keys, two-space indent, trailing newline."""
    module_name, model_name, title = SCHEMAS[file_name]
    model = getattr(importlib.import_module(module_name), model_name)
    schema: dict[str, Any] = model.model_json_schema(mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["title"] = title
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """Every schema file name with its text."""
    return {name: render(name) for name in sorted(SCHEMAS)}


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """The schema files in ``directory`` that are missing or differ from :func:`render_all`."""
    out = []
    for name, text in render_all().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale schemas, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for name in problems:
            print(f"stale: specs/v1/schemas/{name}", file=sys.stderr)
        return 1 if problems else 0
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (SCHEMA_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote specs/v1/schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
