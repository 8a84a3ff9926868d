"""The public facades: every exported name resolves, and type checkers see the same names.

``interlock`` and each of its subpackages (``interlock.artifacts``, ``interlock.plugins``, ...)
export their names lazily from an ``_EXPORTS`` table, repeated in an ``if TYPE_CHECKING:``
block for type checkers and IDEs; these tests keep the two equal, and every name real.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import interlock

SDK = Path(interlock.__file__).parent
FACADES = sorted(
    ".".join(("interlock", *init.parent.relative_to(SDK).parts))
    for init in SDK.rglob("__init__.py")
    if "_EXPORTS" in init.read_text()
)


def _public_names() -> list[tuple[str, str]]:
    names = []
    for facade in FACADES:
        module = importlib.import_module(facade)
        names += [(facade, name) for name in module.__all__ if name != "__version__"]
    return names


def test_the_facades_are_the_concept_packages() -> None:
    assert FACADES == [
        "interlock", "interlock.artifacts", "interlock.batch", "interlock.cli",
        "interlock.datasets", "interlock.exporters", "interlock.exporters.tabular",
        "interlock.lineage", "interlock.plugins", "interlock.runtimes",
        "interlock.servers", "interlock.serving", "interlock.tensors", "interlock.text",
    ]


@pytest.mark.parametrize(("facade", "name"), _public_names())
def test_every_public_name_resolves_and_is_documented(facade: str, name: str) -> None:
    value = getattr(importlib.import_module(facade), name)
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__doc__, f"{facade}.{name} has no docstring"


@pytest.mark.parametrize("facade", FACADES)
def test_type_checking_block_matches_the_lazy_exports(facade: str) -> None:
    module = importlib.import_module(facade)
    tree = ast.parse(Path(str(module.__file__)).read_text())
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names:
                    assert alias.asname == alias.name, "re-export with 'X as X' for strict mypy"
                    imported[alias.name] = stmt.module.removeprefix(f"{facade}.")
    assert imported == module._EXPORTS


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        interlock.nope  # noqa: B018
    with pytest.raises(AttributeError, match="'interlock.artifacts' has no attribute 'nope'"):
        interlock.artifacts.nope  # noqa: B018


def test_importing_a_facade_imports_none_of_its_modules() -> None:
    code = (
        "import sys, interlock.artifacts, interlock.datasets, interlock.plugins, "
        "interlock.runtimes, interlock.serving\n"
        "print(sorted(m for m in sys.modules if m.startswith('interlock.') and '._' in m\n"
        "             and m != 'interlock._facade'))\n"
        "print(sorted(m for m in ('pyarrow', 'numpy', 'pydantic', 'onnx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]
