"""The component kinds: which hook returns them, their base class, how they are named.

This module is data only and imports no component interface: each base class (``Runtime``,
``DatasetFormat``, ...) registers itself here when its module is imported, by subclassing
:class:`~interlock.plugins.Component` with ``kind=...``. That keeps the plugin registry below
every component package in the import graph, so ``interlock.artifacts`` can use the registry
without the registry importing ``interlock.artifacts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KINDS", "ComponentKind", "Kind", "base_class", "register_base"]

Kind = Literal["dataset_format", "artifact_store", "exporter", "runtime", "server", "executor"]


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component, as the registry and ``interlock plugins`` see it."""

    #: ``"runtime"``: the key used by ``Registry.get(kind, name)`` and in reports.
    name: str
    #: The hook of :mod:`interlock.hookspecs` that returns components of this kind.
    hook: str
    #: Where the base class is documented and imported from, for messages.
    base_path: str
    #: True when the hook returns classes (artifact stores), False for instances.
    returns_classes: bool
    #: Human words for messages: ``"dataset format"``.
    label: str


KINDS: dict[str, ComponentKind] = {
    kind.name: kind
    for kind in (
        ComponentKind("dataset_format", "interlock_dataset_formats",
                      "interlock.datasets.DatasetFormat", False, "dataset format"),
        ComponentKind("artifact_store", "interlock_artifact_stores",
                      "interlock.artifacts.ArtifactStore", True, "artifact store"),
        ComponentKind("exporter", "interlock_exporters",
                      "interlock.exporters.Exporter", False, "exporter"),
        ComponentKind("runtime", "interlock_runtimes",
                      "interlock.runtimes.Runtime", False, "runtime"),
        ComponentKind("server", "interlock_servers",
                      "interlock.servers.Server", False, "server"),
        ComponentKind("executor", "interlock_executors",
                      "interlock.batch.Executor", False, "executor"),
        ComponentKind("text_engine", "interlock_text_engines",
                      "interlock.text.TextEngine", False, "text engine"),
    )
}

_BASES: dict[str, type] = {}


def register_base(kind: str, base: type) -> None:
    """Record ``base`` as the base class of ``kind`` (called by ``Component.__init_subclass__``)."""
    if kind not in KINDS:
        raise TypeError(f"unknown component kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if kind in _BASES and _BASES[kind] is not base:
        raise TypeError(f"component kind {kind!r} already has the base class {_BASES[kind]!r}")
    _BASES[kind] = base


def base_class(kind: str) -> type | None:
    """The base class of ``kind``, or None while its module has not been imported (in which case
    no valid component of that kind can exist yet)."""
    return _BASES.get(kind)
