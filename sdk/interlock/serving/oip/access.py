"""The access log of interlock's servers: one line per answered request, off by default.

Every front end writes to the logger ``interlock.access`` at level INFO, one line per request:
the protocol, the client address, the method and path (gRPC: the RPC's path), the status, the
answer's size and the time from the request's head to its answer::

    rest 127.0.0.1:50312 "POST /v2/models/mlp/infer" 200 412B 1.3ms

Nothing is logged, and nothing is computed for the log, unless that logger is enabled for
INFO when the server starts: ``interlock serve --access-log`` does that (to stderr), and so
does ``logging.getLogger("interlock.access").setLevel(logging.INFO)`` with a handler.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["ACCESS_LOGGER", "access_logger", "enable_access_log"]

#: The name of the access logger.
ACCESS_LOGGER = "interlock.access"


def access_logger() -> logging.Logger | None:
    """The access logger if it is enabled for INFO (servers call this once, at start)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    return logger if logger.isEnabledFor(logging.INFO) else None


def enable_access_log() -> None:
    """Write the access log to stderr (what ``interlock serve --access-log`` does); call it
    before the servers start."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.INFO)
    if not any(getattr(h, "_interlock_access", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler._interlock_access = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
