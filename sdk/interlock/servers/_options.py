"""The options every server component accepts (spec: serving.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ServerOptions"]


class ServerOptions(BaseModel):
    """How a server listens and what it accepts.

    Servers read the fields they understand; protocol-specific extras go in ``settings``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        default="127.0.0.1", description="Address to bind; '0.0.0.0' for every interface."
    )
    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port to bind; None: the server's default; 0: any free.",
    )
    token: str | None = Field(
        default=None,
        min_length=1,
        repr=False,
        description="When set, requests other than health probes must carry "
        "'Authorization: Bearer <token>' (gRPC: metadata 'authorization').",
    )
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (HTTP 413 above).",
    )
    read_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest time to receive one request's headers or body."
    )
    keep_alive_s: float = Field(
        default=300.0, gt=0,
        description="Idle time (no request in flight, no byte received) before a connection "
        "is closed.",
    )
    max_connections: int | None = Field(
        default=1024, ge=1, description="Most concurrent connections and requests (HTTP 503 above)."
    )
    server_name: str = Field(
        default="interlock", min_length=1, description="Name in server metadata."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Server-specific settings, documented by each server."
    )
