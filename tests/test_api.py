"""The public facade: every exported name resolves, and type checkers see the same names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import interlock

INIT = Path(interlock.__file__)


@pytest.mark.parametrize("name", sorted(set(interlock.__all__) - {"__version__"}))
def test_every_public_name_resolves_and_is_documented(name: str) -> None:
    value = getattr(interlock, name)
    if callable(value):
        assert value.__doc__, f"interlock.{name} has no docstring"


def test_type_checking_block_matches_the_lazy_exports() -> None:
    tree = ast.parse(INIT.read_text())
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names:
                    assert alias.asname == alias.name, "re-export with 'X as X' for strict mypy"
                    imported[alias.name] = stmt.module.removeprefix("interlock.")
    assert imported == interlock._EXPORTS


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        interlock.nope  # noqa: B018
