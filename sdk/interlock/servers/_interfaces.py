"""Servers: expose a model repository over a wire protocol (spec: serving.md).

A server component is a factory: :meth:`Server.create` binds it to a
:class:`~interlock.servers.Repository` (any object with that protocol's members; the serving
kit's :class:`~interlock.serving.ModelRepository` is one) and :class:`~interlock.ServerOptions`
and returns a :class:`ServerHandle`, which the caller starts and stops on its asyncio event
loop. Every protocol front end (REST, gRPC, a vendor's) shares the repository: it looks models
up there and awaits :meth:`~interlock.servers.Model.infer`, so validation, batching and
back-pressure behave the same whatever the protocol.

This module is imported by the plugin registry, so it stays light: the options model (pydantic)
lives in ``_options`` and is loaded on first use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from interlock.plugins import Component

if TYPE_CHECKING:
    from interlock.servers._options import ServerOptions
    from interlock.servers._repository import Repository

__all__ = ["Server", "ServerHandle", "ServerOptions"]


class ServerHandle(ABC):
    """One server bound to a repository: start it, read its address, stop it.

    ``host`` and ``port`` are the address actually bound once :meth:`start` returns (a
    requested port 0 becomes the port the system picked). Both methods run on the event loop
    that serves the repository.
    """

    #: URL scheme of :attr:`url` (``"http"``, ``"grpc"``).
    scheme: ClassVar[str] = "http"

    host: str = ""
    port: int = 0

    @abstractmethod
    async def start(self) -> None:
        """Bind the listening socket and begin serving; return once requests are accepted.

        Raises :class:`interlock.InterlockError` naming the address when it cannot be bound.
        """

    @abstractmethod
    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop gracefully: stop accepting, let in-flight requests finish (at most
        ``grace_seconds``), then close. The caller marks the repository not-ready first."""

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """``scheme://host:port``."""
        return f"{self.scheme}://{self.address}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


class Server(Component, ABC, kind="server"):
    """A server component (for example the Open Inference Protocol over REST or gRPC).

    ``default_port`` is used when :attr:`ServerOptions.port` is None.
    """

    default_port: ClassVar[int] = 0

    @abstractmethod
    def create(self, repository: Repository, options: ServerOptions) -> ServerHandle:
        """Return a (not yet started) server for ``repository``; cheap, binds nothing.

        ``repository`` is only used through the members of :class:`~interlock.servers.Repository`
        and :class:`~interlock.servers.Model`; raises :class:`interlock.InterlockError` for
        options the server cannot honour (such as unknown ``settings``).
        """


def __getattr__(name: str) -> Any:
    # ServerOptions is a pydantic model; importing it lazily keeps the plugin registry light.
    if name == "ServerOptions":
        from interlock.servers._options import ServerOptions

        return ServerOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
