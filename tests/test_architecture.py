"""The layers hold: import contracts (import-linter), the public API table of the spec, and the
size of the contract a vendor reads to implement one component."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import grimp
import pytest

from interlock.plugins import KINDS
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / "sdk"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: The interface module of each component kind: where a vendor starts reading.
INTERFACES = {
    "dataset_format": "interlock.datasets._interfaces",
    "artifact_store": "interlock.artifacts._interfaces",
    "exporter": "interlock.exporters._interfaces",
    "runtime": "interlock.runtimes._interfaces",
    "server": "interlock.servers._interfaces",
    "executor": "interlock.batch._interfaces",
    "text_engine": "interlock.text._engine",
}
#: The most lines of interlock code a vendor must read to implement one component.
CONTRACT_LINE_BUDGET = 2500


def _lint_imports(config: Path, *extra_paths: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_paths:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_paths), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [str(LINT_IMPORTS), str(config), "--no-cache"],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )


@requirement("PLG-050", "PLG-051")
def test_the_import_contracts_hold() -> None:
    done = _lint_imports(ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", done.stdout), done.stdout


def _canary_config(tmp_path: Path, source: str) -> Path:
    """A copy of the project's import contracts with one more plugin, ``interlock_canary``."""
    package = tmp_path / "interlock_canary"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(source))
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    settings["root_packages"].append("interlock_canary")
    lines = ["[importlinter]", "root_packages ="]
    lines += [f"    {p}" for p in settings["root_packages"]]
    lines.append("exclude_type_checking_imports = True")
    for contract in settings["contracts"]:
        lines.append(f"[importlinter:contract:{contract['id']}]")
        for key, value in contract.items():
            if key == "id":
                continue
            if isinstance(value, list):
                extra = ["interlock_canary"] if key in ("forbidden_modules", "modules", "ancestors") else []
                lines.append(f"{key} =")
                lines += [f"    {v}" for v in [*value, *extra]]
            else:
                lines.append(f"{key} = {value}")
    config = tmp_path / "contracts.ini"
    config.write_text("\n".join(lines) + "\n")
    return config


@requirement("PLG-050")
def test_a_plugin_importing_a_private_module_breaks_the_contract(tmp_path: Path) -> None:
    config = _canary_config(tmp_path, "from interlock.artifacts._io import load_artifact\n")
    done = _lint_imports(config, tmp_path)
    assert done.returncode == 1, done.stdout
    assert "interlock_canary -> interlock.artifacts._io" in done.stdout
    assert "Import the name from the package's public facade" in done.stdout


@requirement("PLG-051")
def test_a_plugin_importing_another_plugin_breaks_the_contract(tmp_path: Path) -> None:
    config = _canary_config(tmp_path, "import interlock_rest\n")
    done = _lint_imports(config, tmp_path)
    assert done.returncode == 1, done.stdout
    assert "Plugins are independent of each other" in done.stdout
    assert "interlock_canary -> interlock_rest" in done.stdout


def _public_api_table() -> list[str]:
    text = (ROOT / "specs" / "v1" / "plugins.md").read_text()
    table = text.split("<!-- public-api -->", 1)[1].split("<!-- end public-api -->", 1)[0]
    return re.findall(r"^\| `([\w.]+)` \|", table, re.M)


def test_the_spec_lists_every_public_module() -> None:
    facades = sorted(
        ".".join(("interlock", *init.parent.relative_to(SDK / "interlock").parts))
        for init in (SDK / "interlock").rglob("__init__.py")
        if "_EXPORTS" in init.read_text()
    )
    listed = _public_api_table()
    assert set(facades) <= set(listed), set(facades) - set(listed)
    assert set(listed) - set(facades) == {
        "interlock.errors", "interlock.hookspecs", "interlock.serving.oip", "interlock.staging",
        "interlock_conformance",
    }
    for module in listed:
        __import__(module)


@functools.cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("interlock", exclude_type_checking_imports=True)


def _lines(module: str) -> int:
    path = SDK / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SDK / module.replace(".", "/") / "__init__.py"
    return len(path.read_text().splitlines())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_contract_of_one_component_kind_is_small(kind: str) -> None:
    """What a vendor reads to implement one kind: its interface module, everything that module
    imports (lazily or not) inside interlock, the hook specs and the errors."""
    graph = _graph()
    interface = INTERFACES[kind]
    closure = {interface, "interlock.hookspecs", "interlock.errors"}
    closure |= {m for m in graph.find_upstream_modules(interface) if m.startswith("interlock")}
    total = sum(_lines(m) for m in closure)
    print(f"{kind}: {total} lines in {len(closure)} modules")
    assert total <= CONTRACT_LINE_BUDGET, sorted(closure)
    assert not {m for m in closure if m.startswith(("interlock.serving", "interlock.cli"))}

