"""The bearer-token check shared by the REST and gRPC servers (serving.md SRV-144)."""

from __future__ import annotations

import hmac

import pytest

from interlock_conformance import requirement
from interlock.serving.oip import auth
from interlock.serving.oip.auth import BearerToken


@requirement("SRV-144")
def test_every_token_comparison_goes_through_a_constant_time_compare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Timing cannot be observed reliably over loopback, so this checks the mechanism: every
    decision on a well-formed header is made by hmac.compare_digest, never by ``==``."""
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording_compare)
    token = BearerToken("s3cret")
    assert token.accepts("Bearer s3cret") and token.accepts(b"bearer s3cret")
    assert not token.accepts("Bearer s3cre") and not token.accepts("Bearer s3cret!")
    assert len(compared) == 4
    # Headers that are not a bearer credential at all are refused before any comparison.
    assert not token.accepts(None) and not token.accepts("Basic czNjcmV0") and not token.accepts("Bearer é")
