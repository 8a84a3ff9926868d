"""``certify``: run the conformance suite against one plugin and return its report.

The suite runs in a fresh interpreter (``python -m pytest``): the plugin under test is loaded
into a clean registry, its failures (even a crash) cannot take the caller down, and pytest's
exit status is its own. Third-party pytest plugins are not loaded, so that a run is the same on
every machine; pass ``-p NAME`` in ``extra_pytest_args`` to load one anyway.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from interlock import MissingDependencyError, PluginError, discover_plugins

from interlock_conformance.locations import cases_dir
from interlock_conformance.report import REPORT_FILES, Report, read_report

__all__ = ["certify", "pytest_command"]

_INI = Path(__file__).resolve().parent / "certify.ini"


def pytest_command(
    plugin_name: str, output_dir: str | os.PathLike[str], extra_pytest_args: Sequence[str] = ()
) -> list[str]:
    """The command line :func:`certify` runs (for people who want to run it themselves)."""
    output = Path(output_dir).resolve()
    return [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(_INI),
        "--rootdir",
        str(output),
        "-p",
        "interlock",
        "-p",
        "no:cacheprovider",
        "--interlock-plugin",
        plugin_name,
        "--interlock-report",
        str(output),
        *extra_pytest_args,
        str(cases_dir()),
    ]


def certify(
    plugin_name: str,
    output_dir: str | os.PathLike[str],
    *,
    extra_pytest_args: Sequence[str] = (),
) -> Report:
    """Certify the installed plugin ``plugin_name`` (its entry-point name) against spec v1.

    Runs every conformance case for the plugin's components, showing pytest's progress on
    standard output, and writes ``report.json``, ``junit.xml`` and ``summary.md`` into
    ``output_dir`` (created if needed). Returns the report; ``report.verdict`` is
    ``"certified"`` or ``"not certified"``. Raises :class:`interlock.PluginError` if no such
    plugin is installed or if the run ends without a report, and
    :class:`interlock.MissingDependencyError` if pytest is not installed.
    """
    if importlib.util.find_spec("pytest") is None:
        raise MissingDependencyError("pytest", "conformance", purpose="certifying a plugin")
    installed = {info.name for info in discover_plugins()}
    if plugin_name not in installed:
        raise PluginError(
            f"no interlock plugin named {plugin_name!r} is installed "
            f"(installed: {', '.join(sorted(installed)) or 'none'})",
            hint="name the plugin by its entry-point name, as 'interlock plugins' lists it",
        )
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        # A report left by an earlier run must not pass for this run's.
        (output / name).unlink(missing_ok=True)
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    done = subprocess.run(
        pytest_command(plugin_name, output, extra_pytest_args), env=env, cwd=output, check=False
    )
    report_file = output / "report.json"
    if not report_file.is_file():
        raise PluginError(
            f"the conformance run for {plugin_name!r} ended without a report (pytest exit "
            f"status {done.returncode}); its output above says why",
            plugin=plugin_name,
            hint="check extra_pytest_args, or run the command from "
            "interlock_conformance.pytest_command() yourself",
        )
    return read_report(report_file)
