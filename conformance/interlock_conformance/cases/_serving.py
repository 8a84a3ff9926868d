"""Running a server component the way ``interlock.serve`` does, for the server cases: a
:class:`interlock.ModelRepository` loaded first, then ``component.create(repository,
ServerOptions(...))`` started on an asyncio event loop in a background thread, on 127.0.0.1 and
a free port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

import interlock
from interlock import ModelRepository, Server, ServerOptions

from interlock_conformance.attribution import checking
from interlock_conformance.oip.checks import Target

__all__ = ["RunningComponent", "TOKEN", "runtime_name"]

#: The bearer token servers that claim ``rest.auth`` or ``grpc.auth`` are started with.
TOKEN = "interlock-conformance-token"
#: ``ServerOptions.server_name`` of every server the cases start.
SERVER_NAME = "interlock-conformance"


def runtime_name() -> str:
    """The runtime the repositories load models with: onnxruntime or reference if installed."""
    names = [r.name for r in interlock.get_registry().all("runtime")]
    return next((n for n in ("onnxruntime", "reference") if n in names), names[0])


class RunningComponent:
    """One server component serving ``sources`` until :meth:`stop`."""

    def __init__(
        self,
        component: Server,
        sources: Sequence[str],
        *,
        store: str | None = None,
        start: bool = True,
        **options: Any,
    ) -> None:
        self.component = component
        self.repository = ModelRepository(list(sources), store=store, runtime=runtime_name())
        self.repository.load()
        self.options = ServerOptions(host="127.0.0.1", port=options.pop("port", 0),
                                     server_name=SERVER_NAME, **options)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="conformance-server",
                                        daemon=True)
        self._thread.start()
        # A server that cannot be created or started fails those requirements; the cases
        # that needed it are blocked, not failed (conformance.md CONF-024).
        with checking("SRV-002"):
            self.handle = component.create(self.repository, self.options)
        self.target: Target | None = None
        self.stopped = False
        if start:
            with checking("SRV-003"):
                self.run(self.handle.start())

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout_s: float = 60.0) -> Any:
        """Run ``coroutine`` on the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    @property
    def address(self) -> str:
        """``host:port`` actually bound."""
        return f"{self.handle.host}:{self.handle.port}"

    def target_for(self, models: list[str], **fields: Any) -> Target:
        """A checker target for this server (REST or gRPC by the component's claims)."""
        claims = frozenset(self.component.capabilities)
        return Target(
            http_url=f"http://{self.address}" if "rest" in claims else None,
            grpc_address=self.address if "grpc" in claims else None,
            models=models, token=self.options.token, claims=claims, **fields,
        )

    def stop(self, grace_seconds: float = 2.0) -> None:
        """Drain, stop the server, close the repository and the loop (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        if self.target is not None:
            self.target.close()
        try:
            self.repository.start_draining()
            self.run(self.handle.stop(grace_seconds))
            self.run(self.repository.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)
            self.loop.close()
