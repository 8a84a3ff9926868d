"""Installing a plugin package the way pip would, without pip: the package and a
``<name>-<version>.dist-info`` (``METADATA`` and ``entry_points.txt`` registering it in the
``interlock`` group) in a site directory, which a subprocess gets on ``PYTHONPATH``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

BROKEN_PLUGINS = Path(__file__).resolve().parent / "broken_plugins"


def install(package: Path, site: Path, *, version: str = "0.1") -> str:
    """Copy the package directory ``package`` into ``site`` as the distribution
    ``<package name with dashes>`` whose ``interlock`` entry point (named like the package)
    is the package itself; returns the entry-point name."""
    name = package.name
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(package, site / name, ignore=shutil.ignore_patterns("__pycache__"))
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    distribution = name.replace("_", "-")
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[interlock]\n{name} = {name}\n", encoding="utf-8")
    return name


def plugin_env(*sites: Path) -> dict[str, str]:
    """The environment of a subprocess that sees ``sites``: no user interlock or pytest
    settings, the sites first on ``PYTHONPATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        [*(str(site) for site in sites), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def run_cli(
    args: Sequence[str], *, cwd: Path, sites: Sequence[Path] = (), timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``interlock ARGS`` in a fresh interpreter that sees ``sites`` (and ``env`` besides)."""
    return subprocess.run(
        [sys.executable, "-m", "interlock.cli", *args],
        cwd=cwd,
        env={**plugin_env(*sites), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
