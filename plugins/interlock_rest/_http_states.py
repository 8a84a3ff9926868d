"""The states of a REST connection and the moves between them, and what a connection reads
of its server (:class:`ConnectionOwner`)."""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from interlock_rest._http_connection import HttpConnection
    from interlock_rest._http_messages import HttpApplication

__all__ = ["MOVES", "ConnectionOwner", "ConnectionState"]


class ConnectionState(enum.IntEnum):
    """Where a connection is in its life (an IntEnum: tested several times per request, and
    an IntEnum hashes and compares in C)."""

    #: Requests are read and answered.
    READING = 0
    #: Enough requests are queued (pipelining): not read until they are answered.
    THROTTLED = 1
    #: The client does not read its answers: neither read nor answered until it does.
    BLOCKED = 2
    #: Nothing more is read; the connection closes once the queued requests are answered.
    FINISHING = 3
    #: The same, while the client does not read its answers.
    FINISHING_BLOCKED = 4
    #: Closed, by the server or the client: nothing more is read or written.
    CLOSED = 5


_S = ConnectionState

#: Every legal move: (state, event) -> next state. The events: ``queue_full`` (pipelined
#: requests beyond the read-ahead bounds), ``queue_answered`` (all of them answered),
#: ``send_buffer_full`` / ``send_buffer_drained`` (the transport's write buffer crossed its
#: high / low mark), ``last_request`` (nothing after this request is read: ``Connection:
#: close``, an error answered early, a protocol upgrade) and ``closed``. An event that is not
#: listed for a state leaves the state as it is (it has happened already, or no longer matters).
MOVES: dict[tuple[ConnectionState, str], ConnectionState] = {
    (_S.READING, "queue_full"): _S.THROTTLED,
    (_S.THROTTLED, "queue_answered"): _S.READING,
    (_S.READING, "send_buffer_full"): _S.BLOCKED,
    (_S.THROTTLED, "send_buffer_full"): _S.BLOCKED,
    (_S.FINISHING, "send_buffer_full"): _S.FINISHING_BLOCKED,
    # Reading resumes only once the requests read ahead are answered too.
    (_S.BLOCKED, "send_buffer_drained"): _S.THROTTLED,
    (_S.FINISHING_BLOCKED, "send_buffer_drained"): _S.FINISHING,
    (_S.READING, "last_request"): _S.FINISHING,
    (_S.THROTTLED, "last_request"): _S.FINISHING,
    (_S.BLOCKED, "last_request"): _S.FINISHING_BLOCKED,
    **{(state, "closed"): _S.CLOSED for state in _S if state is not _S.CLOSED},
}


class ConnectionOwner(Protocol):
    """What a connection reads of the server that accepted it."""

    app: HttpApplication
    connections: set[HttpConnection]
    max_connections: int | None
    max_body_bytes: int
    read_timeout_s: float
    #: Sweeps a client may keep its answers unread before the connection is aborted.
    send_sweeps: float
    #: The access logger while the access log is on, else None.
    access: logging.Logger | None

    def admit(self, size: int) -> bool:
        """Count ``size`` more buffered request bytes against the server-wide budget, or
        refuse (False) when it is spent."""

    def release(self, size: int) -> None:
        """Give back ``size`` buffered request bytes."""

    def output_full(self) -> bool:
        """Whether answers the clients have not read fill the server-wide output budget."""

    def output_changed(self, delta: int) -> None:
        """Answers held in write buffers grew (or shrank, negative) by ``delta`` bytes."""
    #: The number of the current timeout sweep, and the Date header value, kept current.
    sweep: int
    date: bytes
    draining: bool
