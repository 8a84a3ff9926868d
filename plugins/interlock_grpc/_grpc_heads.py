"""The heads of gRPC requests: judged once per header block (and cached by the HTTP/2 layer),
and the Trailers-Only answers that refuse a call from its head alone."""

from __future__ import annotations

import re
from collections.abc import Mapping

from interlock_grpc._frames import encode_header_block, percent_encode
from interlock_grpc._h2 import ConnectionLimits
from interlock_grpc._service import SERVICE, Method
from interlock.serving.oip.access import access_logger

__all__ = ["ACCEPT_ENCODING", "STATUS_CODES", "GrpcEndpoint", "Head", "parse_head", "trailers_only"]

#: Status names to their numbers (grpc/doc/statuscodes.md).
STATUS_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
ACCEPT_ENCODING = "identity,deflate,gzip"
_MESSAGE_LIMIT = 1024  # characters of grpc-message: the details stay one readable line
_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}
# Headers RFC 9113 section 8.2.2 forbids in HTTP/2.
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_PSEUDO = frozenset({b":method", b":scheme", b":path", b":authority"})
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")


def trailers_only(
    status: str,
    message: str,
    trailers: tuple[tuple[str, str], ...] = (),
    http_status: bytes = b"200",
) -> bytes:
    """The header block of a Trailers-Only response ending a call with ``status``."""
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    message = " ".join(message.split())  # one line: no CR or LF can reach the header
    headers = [
        (b":status", http_status),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", str(STATUS_CODES[status]).encode()),
        (b"grpc-message", percent_encode(message)),
    ]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in trailers]
    return encode_header_block(headers)


class GrpcEndpoint:
    """What every connection of one server shares: the methods by path, the limits."""

    __slots__ = ("access", "limits", "max_request_bytes", "max_response_bytes", "methods")

    def __init__(
        self,
        methods: Mapping[str, Method],
        limits: ConnectionLimits,
        *,
        max_request_bytes: int,
        max_response_bytes: int | None,
    ) -> None:
        self.methods = {f"/{SERVICE}/{name}".encode(): method for name, method in methods.items()}
        self.limits = limits
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        #: The access logger while the access log is on (interlock.serving.oip.access).
        self.access = access_logger()


class Head:
    """A request's header list, judged: the method to run, or how to refuse the request."""

    __slots__ = (
        "content_length",
        "decompress",
        "malformed",
        "metadata",
        "method",
        "reject",
        "timeout",
    )

    def __init__(self) -> None:
        self.content_length: int | None = None  # as the request declares, if it does
        self.method: Method | None = None
        self.metadata: dict[str, str] = {}
        self.timeout: float | None = None
        self.decompress: str | None = None
        self.reject: bytes | None = None  # a Trailers-Only block to answer with at once
        self.malformed = False


def _timeout(value: bytes) -> float | None:
    """Seconds of a ``grpc-timeout`` value (at most 8 digits and a unit), or None if invalid."""
    unit = _TIMEOUT_UNITS.get(value[-1:])
    digits = value[:-1]
    if unit is None or not 1 <= len(digits) <= 8 or not digits.isdigit():
        return None
    return int(digits) * unit


def _split_headers(
    headers: list[tuple[bytes, bytes]],
) -> tuple[dict[bytes, bytes], dict[bytes, bytes]] | None:
    """The pseudo-headers and the regular ones, or None for a malformed request (RFC 9113
    section 8.1.1: misplaced, repeated or unknown pseudo-headers, connection-specific or
    upper-case names, forbidden characters in values, a missing method, scheme or path)."""
    pseudo: dict[bytes, bytes] = {}
    regular: dict[bytes, bytes] = {}
    for name, value in headers:
        if name[:1] == b":":
            if regular or name in pseudo or name not in _PSEUDO:
                return None
            pseudo[name] = value
        elif name in _CONNECTION_SPECIFIC or not _FIELD_NAME.fullmatch(name):
            return None  # RFC 9113 section 8.2.1: lower-case tokens only
        elif name == b"te" and value != b"trailers":
            return None
        elif b"\r" in value or b"\n" in value or b"\0" in value:
            return None  # RFC 9113 section 8.2.1
        else:
            regular[name] = value
    if b":method" not in pseudo or b":scheme" not in pseudo or not pseudo.get(b":path"):
        return None
    return pseudo, regular


def parse_head(endpoint: GrpcEndpoint, headers: list[tuple[bytes, bytes]]) -> Head:
    """Judge a request's headers (pure: the connection caches the result by header block)."""
    head = Head()
    split = _split_headers(headers)
    if split is None:
        head.malformed = True
        return head
    pseudo, regular = split
    if pseudo[b":method"] != b"POST":
        head.reject = trailers_only(
            "UNIMPLEMENTED",
            f"gRPC calls are POST requests, not {pseudo[b':method'].decode('latin-1')}",
            http_status=b"405",
        )
        return head
    content_type = regular.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type not in (b"application/grpc", b"application/grpc+proto"):
        shown = content_type.decode("latin-1") or "none"
        head.reject = trailers_only(
            "INTERNAL",
            f"content-type {shown!r} is not application/grpc",
            http_status=b"415",
        )
        return head
    path = pseudo[b":path"]
    method = endpoint.methods.get(path)
    if method is None:
        shown = path.decode("latin-1")
        what = "method" if path.startswith(f"/{SERVICE}/".encode()) else "service"
        head.reject = trailers_only(
            "UNIMPLEMENTED", f"unknown {what}: {shown} (this server serves {SERVICE})"
        )
        return head
    encoding = regular.get(b"grpc-encoding", b"identity").decode("latin-1")
    if encoding not in ("identity", "gzip", "deflate"):
        head.reject = trailers_only(
            "UNIMPLEMENTED",
            f"grpc-encoding {encoding!r} is not supported (supported: {ACCEPT_ENCODING})",
            (("grpc-accept-encoding", ACCEPT_ENCODING),),
        )
        return head
    head.decompress = None if encoding == "identity" else encoding
    raw_timeout = regular.get(b"grpc-timeout")
    if raw_timeout is not None:
        head.timeout = _timeout(raw_timeout)
        if head.timeout is None:
            head.reject = trailers_only(
                "INTERNAL", f"invalid grpc-timeout {raw_timeout.decode('latin-1')!r}"
            )
            return head
    length = regular.get(b"content-length")
    if length is not None:
        if not length.isdigit():
            head.malformed = True
            return head
        head.content_length = int(length)
    head.method = method
    head.metadata = {k.decode("latin-1"): v.decode("latin-1") for k, v in regular.items()}
    return head
