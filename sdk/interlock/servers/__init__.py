"""Servers: the interface a protocol front end implements, what it serves, and its options.

:class:`Server` and :class:`ServerHandle` are what a server plugin implements;
:class:`Repository` and :class:`Model` are the protocols of what it is given to serve (the
serving kit's ``ModelRepository`` is one implementation); :class:`ServerOptions` says how it
listens.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "Server": "_interfaces",
    "ServerHandle": "_interfaces",
    "ServerOptions": "_options",
    "Repository": "_repository",
    "Model": "_repository",
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
    from interlock.servers._repository import (
        Model as Model,
        Repository as Repository,
    )
