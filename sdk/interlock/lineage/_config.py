"""Whether OpenLineage is configured, decided without importing openlineage (spec: lineage.md).

The rule follows the order in which openlineage-python's ``OpenLineageClient()`` looks for a
transport, minus its last resort: where the client finds nothing it prints every event to the
console with a warning, and interlock takes that "nothing" to mean "off". Only the environment
and at most one small YAML file are read, so that ``predict_dataset`` and ``export`` pay nothing
measurable when lineage is off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LineageConfiguration", "lineage_configuration", "lineage_configured"]

_TRUE = "true"
#: The YAML file the client reads from the working directory and from ``~/.openlineage``.
CONFIG_FILE_NAME = "openlineage.yml"


@dataclass(frozen=True)
class LineageConfiguration:
    """Where the OpenLineage configuration that switches lineage events on was found.

    ``source`` is ``None`` when lineage is off, else ``OPENLINEAGE_URL=<url>``,
    ``OPENLINEAGE__TRANSPORT__TYPE=<type>`` or the path of the ``openlineage.yml`` the client
    will read;
    ``reason`` says in words why lineage is on or off (for logs and for ``--json`` output).
    """

    enabled: bool
    source: str | None
    reason: str


def lineage_configuration(
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> LineageConfiguration:
    """Decide, as lineage.md LIN-001 says, whether OpenLineage run events are emitted.

    ``environ``, ``cwd`` and ``home`` default to the process's; they are parameters so that a
    caller can ask about another environment.
    """
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == _TRUE:
        return LineageConfiguration(False, None, "OPENLINEAGE_DISABLED is true")
    url = env.get("OPENLINEAGE_URL", "").strip()
    if url:
        return LineageConfiguration(
            True, f"OPENLINEAGE_URL={_without_credentials(url)}", "OPENLINEAGE_URL is set"
        )
    transport = env.get("OPENLINEAGE__TRANSPORT__TYPE", "").strip()
    if transport:
        return LineageConfiguration(
            True, f"OPENLINEAGE__TRANSPORT__TYPE={transport}", "OPENLINEAGE__TRANSPORT__TYPE is set"
        )
    path = _config_file(env, Path(cwd) if cwd is not None else Path.cwd(),
                        Path(home) if home is not None else Path.home())
    if path is None:
        return LineageConfiguration(False, None, "no OpenLineage transport is configured")
    if _declares_transport(path):
        return LineageConfiguration(True, str(path), f"{path} declares a transport")
    return LineageConfiguration(False, None, f"{path} declares no transport type")


def lineage_configured() -> bool:
    """True when OpenLineage run events are emitted in this process (lineage.md LIN-001)."""
    return lineage_configuration().enabled


def _without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part, fit for a log line."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _config_file(env: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    """The one YAML file the client would read: ``$OPENLINEAGE_CONFIG``, else
    ``./openlineage.yml``, else ``~/.openlineage/openlineage.yml`` (the first readable file)."""
    candidates = [cwd / CONFIG_FILE_NAME, home / ".openlineage" / CONFIG_FILE_NAME]
    named = env.get("OPENLINEAGE_CONFIG", "")
    if named:
        candidates.insert(0, Path(named))
    for candidate in candidates:
        try:
            if candidate.is_file() and os.access(candidate, os.R_OK):
                return candidate
        except OSError:
            continue
    return None


def _declares_transport(path: Path) -> bool:
    """Whether the YAML file gives ``transport.type``; a file that cannot be parsed counts as
    configured, so that the client reports the problem instead of lineage going quietly off."""
    try:
        import yaml  # openlineage-python depends on PyYAML
    except ImportError:
        return True
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True
    transport = content.get("transport") if isinstance(content, dict) else None
    return isinstance(transport, dict) and bool(transport.get("type"))
