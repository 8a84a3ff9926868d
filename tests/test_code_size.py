"""Size limits on the code (CONVENTIONS.md, rule 12): small modules, short functions.

No Python module under the code trees is over 500 lines, and no function or method is over 60
lines, counted from its ``def`` line to the last line of its body (decorators excluded). Tests
are not counted; nor are the generated gRPC stubs. Each failure lists every offender, so that
one run shows all that is left to split.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_TREES = ["sdk", "plugins", "conformance", "scripts", "benchmarks"]
GENERATED = [ROOT / "sdk" / "interlock" / "serving" / "oip" / "proto"]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _is_skipped(path: Path) -> bool:
    """Generated stubs, caches, build outputs and hidden folders are not our written code."""
    if any(path.is_relative_to(folder) for folder in GENERATED):
        return True
    parts = path.relative_to(ROOT).parts[:-1]
    ignored = {"__pycache__", "build", "dist"}
    return any(
        part.startswith(".") or part in ignored or part.endswith(".egg-info") for part in parts
    )


def _modules() -> Iterator[Path]:
    for tree in CODE_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if not _is_skipped(path):
                yield path


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT).as_posix()}:{line}"


def _report(kind: str, limit: int, offenders: list[tuple[str, str, int]]) -> str:
    lines = [f"{len(offenders)} {kind} over {limit} lines:"]
    lines += [f"  {where} {name}: {length} lines" for where, name, length in offenders]
    return "\n".join(lines)


def test_the_code_trees_hold_modules() -> None:
    # Guards the two tests below against passing because they looked in the wrong place.
    modules = list(_modules())
    assert len(modules) > 50
    assert not any(path.is_relative_to(GENERATED[0]) for path in modules)


def test_no_module_is_over_500_lines() -> None:
    offenders = []
    for path in _modules():
        length = len(path.read_text(encoding="utf-8").splitlines())
        if length > MAX_MODULE_LINES:
            offenders.append((_where(path, 1), path.name, length))
    offenders.sort()
    assert not offenders, _report("modules", MAX_MODULE_LINES, offenders)


def test_no_function_is_over_60_lines() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # lineno is the ``def`` line itself: decorators sit above it and do not count.
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offenders.append((_where(path, node.lineno), node.name, length))
    offenders.sort()
    assert not offenders, _report("functions", MAX_FUNCTION_LINES, offenders)
