"""The pytest plugin (entry point ``interlock`` in the ``pytest11`` group).

pytest loads it in every run in an environment where interlock is installed, so it does nothing
unless asked: it adds the ``--interlock-*`` options and registers the case markers. Only with
``--interlock-plugin NAME`` does it import the suite and take over collection, running the
packaged conformance cases against that plugin::

    pytest --interlock-plugin acme                 # in the vendor's own repository
    pytest --interlock-plugin acme --interlock-report out/ -k dataset
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

__all__ = ["pytest_addoption", "pytest_configure"]

#: Name under which the active conformance session is registered with pytest.
SESSION_PLUGIN_NAME = "interlock-conformance-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--interlock-*`` options."""
    group = parser.getgroup("interlock", "interlock conformance suite")
    group.addoption(
        "--interlock-plugin",
        metavar="NAME",
        default=None,
        help="certify the interlock plugin NAME (its entry-point name, as 'interlock plugins' "
        "lists it): run the conformance cases against its components instead of the tests",
    )
    group.addoption(
        "--interlock-report",
        metavar="DIR",
        default="interlock-report",
        help="directory for report.json, junit.xml and summary.md (default: %(default)s)",
    )
    group.addoption(
        "--interlock-cases",
        metavar="DIR",
        default=None,
        help="run the conformance cases in DIR instead of the packaged ones (for developing "
        "the suite)",
    )
    group.addoption(
        "--interlock-store-root",
        metavar="URI",
        default=None,
        help="root URI under which artifact store cases create their stores, for stores that "
        "serve neither local paths nor memory:// (default: a temporary directory)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; start a conformance session if ``--interlock-plugin`` is given."""
    from interlock_conformance.markers import MARKER_LINES

    for line in MARKER_LINES:
        config.addinivalue_line("markers", line)
    name = config.getoption("--interlock-plugin", default=None)
    if name:
        from interlock_conformance.session import ConformanceSession

        config.pluginmanager.register(ConformanceSession(config, name), SESSION_PLUGIN_NAME)
