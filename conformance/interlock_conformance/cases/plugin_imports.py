"""The plugin's source imports only interlock's public API (spec: plugins.md PLG-050).

Every ``.py`` file of the plugin's top-level package is parsed (never imported) and each
``import interlock...`` / ``from interlock... import name`` statement, at any depth (inside
functions and ``TYPE_CHECKING`` blocks too), is checked: no part of the module path may start
with an underscore, and an imported name must be in the module's ``__all__`` or be one of its
public submodules.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from interlock.plugins import PluginInfo

from interlock_conformance.markers import component_kind, requirement

pytestmark = component_kind("plugin")


def _sources(package: str) -> list[Path]:
    """Every Python source file of the top-level package ``package``."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted(p for root in spec.submodule_search_locations
                      for p in Path(root).rglob("*.py"))
    return [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def _interlock_imports(tree: ast.AST) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, imported name or None) for each import of an ``interlock`` module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "interlock" or alias.name.startswith("interlock."):
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
            node.module == "interlock" or node.module.startswith("interlock.")
        ):
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def _problem(module: str, name: str | None) -> str | None:
    """Why importing ``name`` from ``module`` breaks PLG-050, or None when it does not."""
    private = [part for part in module.split(".") if part.startswith("_")]
    if private:
        return f"imports the private module {module}"
    if name is None or name == "*":
        return None
    try:
        target = importlib.import_module(module)
    except ImportError:
        return f"imports {module}, which is not a module of interlock"
    if name in getattr(target, "__all__", ()):
        return None
    if not name.startswith("_") and importlib.util.find_spec(f"{module}.{name}") is not None:
        return None  # a public submodule
    return f"imports {name!r} from {module}, which is not in its __all__"


@requirement("PLG-050")
def test_plugin_imports_only_the_public_api(plugin_info: PluginInfo) -> None:
    """No source file of the plugin imports a private interlock module or a name outside a
    public module's ``__all__``."""
    package = plugin_info.module.split(":", 1)[0].split(".", 1)[0]
    sources = _sources(package)
    assert sources, f"no Python source of the plugin package {package!r} was found"
    found = []
    for path in sources:
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for line, module, name in _interlock_imports(tree):
            problem = _problem(module, name)
            if problem:
                found.append(f"{path.name}:{line} {problem}")
    assert not found, (
        f"plugin {plugin_info.origin} uses interlock beyond its public API (PLG-050: import only "
        f"the modules of plugins.md's public-API table and the names in their __all__): "
        + "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    )
