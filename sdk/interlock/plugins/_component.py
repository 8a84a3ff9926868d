"""What every component (format, store, exporter, runtime, server, executor) has in common."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["Component", "FALLBACK_PRIORITY"]

#: Priority of interlock's reference components: any vendor component of the same name, at the
#: default priority 0, takes precedence over them without further configuration.
FALLBACK_PRIORITY = -100


class Component:
    """Base of every interlock component.

    Attributes a component declares:

    ``name``
        Unique per kind (two dataset formats cannot both be ``parquet``); what users type.
    ``capabilities``
        The documented capability strings this component claims (see ``specs/v1``). The
        conformance suite tests each claimed capability, and reports the others as not claimed.
    ``priority``
        Decides between two components of the same name: the higher wins; a tie is an error
        unless the user chooses with ``INTERLOCK_PREFER``. Reference components use
        :data:`FALLBACK_PRIORITY`.
    ``description``
        One line for ``interlock plugins``.
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    priority: ClassVar[int] = 0
    description: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
