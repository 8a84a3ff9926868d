"""The ``rest`` server component.

Light on purpose: the plugin registry imports it. The handle (HTTP layer, sockets, asyncio) lives
in :mod:`interlock_rest._handle` and is imported when a server is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from interlock.plugins import FALLBACK_PRIORITY
from interlock.servers import Server

if TYPE_CHECKING:
    from interlock.servers import Repository, ServerOptions

    from interlock_rest._handle import RestHandle

__all__ = ["RestServer"]


class RestServer(Server):
    """Open Inference Protocol over HTTP/REST, with the binary tensor data extension."""

    name = "rest"
    description = "Open Inference Protocol over HTTP/REST (HTTP/1.1, binary tensor data)"
    priority = FALLBACK_PRIORITY
    default_port: ClassVar[int] = 8000
    capabilities = frozenset({"rest", "rest.binary-data", "rest.auth", "rest.metrics"})

    def create(self, repository: Repository, options: ServerOptions) -> RestHandle:
        """A handle serving ``repository``; nothing is bound until ``start()``."""
        from interlock_rest._handle import RestHandle

        return RestHandle(repository, options, default_port=self.default_port)
