"""The listening socket of a protocol front end."""

from __future__ import annotations

import socket

from interlock.errors import InterlockError

__all__ = ["listen"]


def listen(host: str, port: int, *, server: str, component: str) -> socket.socket:
    """A bound, listening, non-blocking TCP socket on ``host:port`` (0: any free port).

    Raises :class:`interlock.InterlockError` naming the address when it cannot listen there.
    ``server`` names the server in that message ("the REST server"); ``component`` is the
    error's component.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY on accepted connections only for
    # sockets that say they are TCP, and without it small responses wait on delayed ACKs.
    # SO_REUSEADDR only: SO_REUSEPORT would let a second server silently share a port that
    # is already taken (SRV-150).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]" if ":" in host else host
        raise InterlockError(
            f"{server} cannot listen on {shown}:{port}: {exc.strerror or exc}",
            hint="choose another port (0 picks a free one) or stop what is using it",
            component=component,
        ) from None
    return sock
