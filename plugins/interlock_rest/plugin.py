"""Hook implementations of the ``interlock_rest`` plugin.

Only light imports here: httptools, orjson and prometheus-client are imported when a server
starts.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.servers import Server

from interlock_rest.server import RestServer


@hookimpl
def interlock_servers() -> list[Server]:
    """The ``rest`` server."""
    return [RestServer()]
