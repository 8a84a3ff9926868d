"""What RFC 9112 asks of a request head before its body is read, and the request path.

Checked once the request line and headers are complete (:func:`head_problem`), each refused
with 400 (SRV-094 keeps 5xx for the server's own faults): an HTTP version other than 1.0 and
1.1 (``HTTP/0.9``-style and ``HTTP/2.0`` request lines), anything but exactly one ``Host`` in
an HTTP/1.1 request (RFC 9112 section 3.2), and a transfer coding other than ``chunked``
(section 6.1; so that a body the server could not decode is never taken as plain). :func:`request_path` percent-decodes the path, refusing an
encoded ``/`` or NUL, which would let ``/v2/models/a%2Finfer`` reach another route than the
one a literal-path proxy rule saw.
"""

from __future__ import annotations

from urllib.parse import unquote

import httptools

from interlock.errors import InterlockError, OverloadedError
from interlock.serving.oip.errors import ProtocolError

__all__ = ["MAX_HEADERS", "Refusal", "head_problem", "overloaded", "request_path", "target_path"]

#: Most header fields in one request (nginx and Envoy allow about 100); above: 431.
MAX_HEADERS = 100

_ENCODED_SEPARATORS = ("%2f", "%2F", "%00", "%5c", "%5C")


def head_problem(version: str, headers: list[tuple[bytes, bytes]]) -> InterlockError | None:
    """Why a request with this HTTP ``version`` and these ``headers`` (lower-case names) must
    be refused before anything else, or None."""
    if version not in ("1.1", "1.0"):
        return ProtocolError(
            f"HTTP/{version} is not supported; this server speaks HTTP/1.1",
            hint="send an HTTP/1.1 request line, such as 'GET /v2 HTTP/1.1'",
        )
    hosts = 0
    codings = 0
    for name, value in headers:
        if name == b"host":
            hosts += 1
        elif name == b"transfer-encoding":
            codings += 1
            if value.strip().lower() != b"chunked" or codings > 1:
                return ProtocolError(
                    f"Transfer-Encoding {value[:60].decode('latin-1')!r} is not supported",
                    hint="send the body with Content-Length, or 'Transfer-Encoding: chunked' "
                    "alone (compress with Content-Encoding instead)",
                )
    if hosts > 1 or (hosts == 0 and version == "1.1"):
        return ProtocolError(
            f"an HTTP/1.1 request must carry exactly one Host header, this one has {hosts}",
            hint="send one 'Host: <host>[:<port>]' header",
        )
    return None


def request_path(path: str) -> str:
    """The percent-decoded ``path``; :class:`ProtocolError` for an encoded separator."""
    if "%" not in path:
        return path
    if any(code in path for code in _ENCODED_SEPARATORS):
        raise ProtocolError(
            f"the path {path[:100]!r} holds an encoded '/', '\\' or NUL",
            hint="send model names without '/'; percent-encode other characters only",
        )
    return unquote(path)


class Refusal(Exception):
    """Raised in a parser callback to stop parsing and answer ``error``."""

    def __init__(self, error: InterlockError) -> None:
        super().__init__(str(error))
        self.error = error


def target_path(url: bytes) -> bytes:
    """The path of a request target that does not start with one; a refusal if it has none."""
    # The absolute form (as sent to proxies) names a path too; "*" and the authority form
    # (CONNECT) name none, and no endpoint answers to them.
    try:
        return httptools.parse_url(url).path or b"/"
    except httptools.HttpParserInvalidURLError:
        raise Refusal(
            ProtocolError(
                f"malformed HTTP request: the request target {url[:100]!r} is not a path",
                hint="send an origin-form target such as /v2/health/ready",
            )
        ) from None


def overloaded(what: str) -> OverloadedError:
    """The 503 for a server-wide budget that is spent: the server ``what`` it may."""
    return OverloadedError(
        f"the server {what} as it may; retry shortly",
        retry_after=1.0,
        hint="retry later (Retry-After), send smaller requests and read answers promptly",
    )
