"""Regenerate the capability tables of the spec from ``interlock.plugins.CAPABILITIES``.

    python scripts/generate_capabilities.py           # rewrite the tables in specs/v1/*.md
    python scripts/generate_capabilities.py --check   # exit 1 if a table is stale

A table stands between two marker lines in a spec page::

    <!-- capabilities: runtime -->
    | capability | meaning |
    ...
    <!-- end capabilities -->

``<!-- capabilities: server grpc -->`` selects the capabilities of one table label of a kind.
The markers' indentation is the table's (a table inside a list item). Every capability must be
in exactly one table; ``tests/test_capabilities.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from interlock.plugins import CAPABILITIES, Capability

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "specs" / "v1"
_START = re.compile(r"^(?P<indent>[ \t]*)<!-- capabilities: (?P<kind>\w+)(?: (?P<table>[\w.-]+))? -->$")
_END = "<!-- end capabilities -->"


def table_lines(capabilities: list[Capability], indent: str) -> list[str]:
    """The Markdown table of ``capabilities``, each line prefixed with ``indent``."""
    rows = ["| capability | meaning |", "|---|---|"]
    rows += [f"| `{c.name}` | {c.meaning} |" for c in capabilities]
    return [indent + row for row in rows]


def render(text: str, page: str, placed: set[str]) -> str:
    """``text`` of the spec page ``page`` with every marked table regenerated; the names of the
    capabilities placed are added to ``placed``."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = _START.match(lines[i])
        out.append(lines[i])
        i += 1
        if start is None:
            continue
        kind, table = start["kind"], start["table"] or ""
        if kind not in CAPABILITIES:
            raise SystemExit(f"{page}: unknown component kind {kind!r} in a capabilities marker")
        chosen = [c for c in CAPABILITIES[kind] if c.table == table]
        wrong = [c.name for c in chosen if c.spec != page]
        if wrong:
            raise SystemExit(f"{page}: capabilities {wrong} belong to {chosen[0].spec}")
        placed.update(f"{kind}:{c.name}" for c in chosen)
        while i < len(lines) and lines[i].strip() != _END:
            i += 1
        if i == len(lines):
            raise SystemExit(f"{page}: a capabilities table has no '{_END}' line")
        out.extend(table_lines(chosen, start["indent"]))
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def generate() -> dict[Path, str]:
    """``{spec page: regenerated text}`` for every page; fails if a capability has no table."""
    placed: set[str] = set()
    pages = {path: render(path.read_text(), path.name, placed)
             for path in sorted(SPEC_DIR.glob("*.md"))}
    missing = [f"{kind}:{c.name}" for kind, caps in CAPABILITIES.items() for c in caps
               if f"{kind}:{c.name}" not in placed]
    if missing:
        raise SystemExit(f"capabilities without a table in specs/v1: {', '.join(missing)}")
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generate().items():
        if path.read_text() != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"stale capability tables in: {', '.join(map(str, stale))}; "
              "run python scripts/generate_capabilities.py", file=sys.stderr)
        return 1
    if not args.check:
        print(f"rewrote {len(stale)} spec page(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
