"""What a conformance case declares about itself: the requirements it checks, the capabilities
it needs, and the kind of component it targets.

::

    pytestmark = component_kind("dataset_format")

    @requirement("DS-010", "DS-011")
    @capability("write")
    def test_round_trip(component, tmp_path): ...

``requirement`` and ``capability`` also work on a single parameter
(``pytest.param(..., marks=capability("types:nested"))``); a case needs every capability it
and its parameter declare.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CAPABILITY_MARK",
    "KIND_MARK",
    "PLUGIN_KIND",
    "REQUIREMENT_MARK",
    "UNCLAIMED_MARK",
    "capability",
    "case_citations",
    "component_kind",
    "requirement",
    "source_citations",
    "when_unclaimed",
]

REQUIREMENT_MARK = "interlock_requirements"
CAPABILITY_MARK = "interlock_capabilities"
UNCLAIMED_MARK = "interlock_unclaimed"
KIND_MARK = "interlock_kind"

#: The kind of a case about the plugin as a whole (it gets the ``plugin_info`` fixture and is
#: not parametrized over components).
PLUGIN_KIND = "plugin"

#: Marker descriptions, registered with pytest so that ``--strict-markers`` accepts them.
MARKER_LINES = (
    f"{REQUIREMENT_MARK}(*ids): the spec requirement IDs an interlock conformance case checks",
    f"{CAPABILITY_MARK}(*names): the component capabilities a conformance case needs",
    f"{UNCLAIMED_MARK}(*names): a conformance case applies only to components that do not "
    "claim one of these capabilities",
    f"{KIND_MARK}(kind): the component kind a conformance case targets",
)


def _mark(name: str, *args: str) -> pytest.MarkDecorator:
    decorator: pytest.MarkDecorator = getattr(pytest.mark, name)(*args)
    return decorator


def requirement(*ids: str) -> pytest.MarkDecorator:
    """Mark a case (or a parameter) as checking the requirements ``ids`` of ``specs/v1``."""
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise TypeError("requirement() takes one or more requirement IDs such as 'DS-001'")
    return _mark(REQUIREMENT_MARK, *ids)


def capability(*names: str) -> pytest.MarkDecorator:
    """Mark a case (or a parameter) as needing the component to claim every one of ``names``.

    When the component does not claim one, the case is deselected and reported as "not
    claimed"; it is never skipped.
    """
    if not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError("capability() takes one or more capability names such as 'write'")
    return _mark(CAPABILITY_MARK, *names)


def when_unclaimed(*names: str) -> pytest.MarkDecorator:
    """Mark a case (or a parameter) as applying only to components that do not claim at least
    one of ``names``: for example "a format that does not claim ``types:nested`` refuses nested
    columns". For a component that claims them all, the case does not exist (it is neither run
    nor reported); its requirements read "not tested" unless another case checks them.
    """
    if not names or not all(isinstance(n, str) and n for n in names):
        raise TypeError("when_unclaimed() takes one or more capability names")
    return _mark(UNCLAIMED_MARK, *names)


def component_kind(kind: str) -> pytest.MarkDecorator:
    """Mark the cases of a module (``pytestmark = component_kind("dataset_format")``) as
    targeting one kind of component: they get a ``component`` argument, one run per component
    of that kind that the plugin provides. ``"plugin"`` targets the plugin as a whole."""
    return _mark(KIND_MARK, kind)


def _marks_of(obj: Any) -> list[Any]:
    marks = getattr(obj, "pytestmark", [])
    return list(marks) if isinstance(marks, list) else [marks]


def _values(marks: Iterable[Any], name: str) -> set[str]:
    return {str(arg) for mark in marks if mark.name == name for arg in mark.args}


def _param_marks(marks: Iterable[Any]) -> Iterator[list[Any]]:
    """The marks of each ``pytest.param`` of each ``parametrize`` mark."""
    for mark in marks:
        if mark.name != "parametrize" or len(mark.args) < 2:
            continue
        for value in mark.args[1]:
            yield list(getattr(value, "marks", ()))


def case_citations(package: str = "interlock_conformance.cases") -> dict[str, set[str]]:
    """The requirement IDs each packaged case cites: ``{"module::function": {ids}}``.

    Imports the case modules (not run). IDs on a parameter count for the case.
    """
    found: dict[str, set[str]] = {}
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__):
        if info.name.startswith("_") or info.name == "conftest":
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        module_marks = _marks_of(module)
        for attr, function in sorted(vars(module).items()):
            if not attr.startswith("test_") or not callable(function):
                continue
            marks = module_marks + _marks_of(function)
            ids = _values(marks, REQUIREMENT_MARK)
            for param in _param_marks(marks):
                ids |= _values(param, REQUIREMENT_MARK)
            found[f"{info.name}::{attr}"] = ids
    return found


def _cited_in(nodes: Iterable[ast.AST]) -> set[str]:
    """String arguments of every ``requirement(...)`` or ``....interlock_requirements(...)``
    call below ``nodes`` (so marks on ``pytest.param`` count too)."""
    ids: set[str] = set()
    for node in nodes:
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in ("requirement", REQUIREMENT_MARK):
                ids |= {
                    a.value
                    for a in call.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)
                }
    return ids


def source_citations(files: Iterable[Path]) -> dict[str, set[str]]:
    """The requirement IDs that test functions in ``files`` cite, read from the source without
    importing it: ``{"file.py::test_name": {ids}}``.

    For interlock's own tests of requirements that bind the core rather than a plugin
    (conformance.md, CONF-004). IDs must be written as string literals in ``@requirement(...)``
    (or a module-level ``pytestmark``) to be found.
    """
    found: dict[str, set[str]] = {}
    for file in files:
        tree = ast.parse(Path(file).read_text(encoding="utf-8"), filename=str(file))
        module_ids: set[str] = set()
        for statement in tree.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in statement.targets
            ):
                module_ids |= _cited_in([statement.value])
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                ids = module_ids | _cited_in(node.decorator_list)
                if ids:
                    found[f"{Path(file).name}::{node.name}"] = ids
    return found
