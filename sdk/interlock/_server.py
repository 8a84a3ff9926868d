"""Servers: expose loaded models over a wire protocol (spec: serving.md)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from interlock._component import Component

__all__ = ["Server"]


class Server(Component, ABC):
    """A server component (for example Open Inference Protocol over REST or gRPC)."""

    @abstractmethod
    def create(self, models: Any, options: dict[str, Any]) -> Any:
        """Build a server for ``models``; the returned object starts and stops it."""
