"""The errors a protocol front end answers with, and their HTTP and gRPC status.

Every error is an :class:`interlock.InterlockError`; :func:`http_status` and
:func:`grpc_status` map the whole hierarchy, so a front end never invents its own table.
"""

from __future__ import annotations

from interlock.errors import (
    ArtifactNotFoundError,
    GenerationError,
    InterlockError,
    OverloadedError,
    SignatureMismatch,
)

__all__ = [
    "HeadersTooLarge",
    "MethodNotAllowed",
    "NotFound",
    "ProtocolError",
    "RequestTimeout",
    "RequestTooLarge",
    "Unauthorized",
    "grpc_status",
    "http_status",
]


class ProtocolError(InterlockError):
    """A request is malformed at the protocol level: bad JSON, a missing field, a wrong
    shape, datatype or element count (HTTP 400, gRPC INVALID_ARGUMENT)."""


class Unauthorized(InterlockError):
    """The request lacks the bearer token the server requires (HTTP 401, UNAUTHENTICATED)."""


class RequestTooLarge(InterlockError):
    """The request body exceeds the server's limit (HTTP 413, RESOURCE_EXHAUSTED)."""


class HeadersTooLarge(InterlockError):
    """The request line and headers exceed the server's limit (HTTP 431)."""


class RequestTimeout(InterlockError):
    """The request body did not arrive within the read timeout (HTTP 408, DEADLINE_EXCEEDED)."""


class MethodNotAllowed(InterlockError):
    """The endpoint exists but not for this HTTP method (HTTP 405)."""

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message, hint=f"use {allow}")
        self.allow = allow


class NotFound(InterlockError):
    """No endpoint answers to the path (HTTP 404, UNIMPLEMENTED)."""


# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[InterlockError], int, str], ...] = (
    (ProtocolError, 400, "INVALID_ARGUMENT"),
    (SignatureMismatch, 400, "INVALID_ARGUMENT"),
    (GenerationError, 400, "INVALID_ARGUMENT"),
    (Unauthorized, 401, "UNAUTHENTICATED"),
    (ArtifactNotFoundError, 404, "NOT_FOUND"),
    (NotFound, 404, "UNIMPLEMENTED"),
    (MethodNotAllowed, 405, "UNIMPLEMENTED"),
    (RequestTimeout, 408, "DEADLINE_EXCEEDED"),
    (RequestTooLarge, 413, "RESOURCE_EXHAUSTED"),
    (HeadersTooLarge, 431, "RESOURCE_EXHAUSTED"),
    (OverloadedError, 503, "UNAVAILABLE"),
)


def http_status(error: BaseException) -> int:
    """The HTTP status for an error: 4xx for the caller's mistakes, 503 when overloaded or not
    ready, 500 for anything else (a runtime or server fault)."""
    for cls, status, _ in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def grpc_status(error: BaseException) -> str:
    """The name of the ``grpc.StatusCode`` for an error (``"INTERNAL"`` when unknown)."""
    for cls, _, code in _STATUS:
        if isinstance(error, cls):
            return code
    return "INTERNAL"
