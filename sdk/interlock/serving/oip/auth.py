"""The optional bearer token: ``Authorization: Bearer <token>`` (gRPC: ``authorization``
metadata), compared in constant time so the comparison leaks nothing about the token."""

from __future__ import annotations

import hmac

__all__ = ["BearerToken"]


class BearerToken:
    """Checks ``Authorization`` header values against one token."""

    __slots__ = ("_expected",)

    def __init__(self, token: str) -> None:
        self._expected = b"Bearer " + token.encode("utf-8")

    def accepts(self, header: bytes | str | None) -> bool:
        """Whether an ``Authorization`` value carries the token (scheme case-insensitive)."""
        if header is None:
            return False
        if isinstance(header, str):
            try:
                header = header.encode("latin-1")
            except UnicodeEncodeError:
                return False
        scheme, _, credentials = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(b"Bearer " + credentials.strip(), self._expected)
