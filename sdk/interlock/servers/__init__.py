"""Servers: the interface a protocol front end implements, and the options it is given.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "Server": "_interfaces",
    "ServerHandle": "_interfaces",
    "ServerOptions": "_options",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.servers._interfaces import (
        Server as Server,
        ServerHandle as ServerHandle,
    )
    from interlock.servers._options import (
        ServerOptions as ServerOptions,
    )
