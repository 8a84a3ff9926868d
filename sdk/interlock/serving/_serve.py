"""``interlock.serve``: load models and serve them with every server asked for (spec: serving.md).

Everything runs on one asyncio event loop: the servers share the repository, its batchers and
its readiness. Servers are resolved through the plugin registry by component name (by default
every installed server), never imported by module name, so a vendor's server of the same name
takes over and a vendor's new server is served like the reference ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from interlock.errors import InterlockError

if TYPE_CHECKING:
    from interlock.artifacts import Artifact
    from interlock.servers import ServerHandle
    from interlock.serving._repository import ModelRepository

__all__ = ["RunningServer", "serve"]

logger = logging.getLogger("interlock.serve")


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # Windows, or the extra not installed: asyncio's own loop works
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class RunningServer:
    """Servers started by :func:`serve`: their handles, the repository, and :meth:`stop`.

    ``handles`` maps each server's component name to its :class:`~interlock.ServerHandle`
    (in the order they were started); :meth:`url` and :meth:`address` read one server's
    address. Also a context manager that stops on exit.
    """

    def __init__(
        self,
        repository: ModelRepository,
        handles: dict[str, ServerHandle],
        *,
        grace_seconds: float = 10.0,
    ) -> None:
        self.repository = repository
        self.handles = handles
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested: asyncio.Event | None = None
        self._grace = grace_seconds
        self.stopped = threading.Event()

    def handle(self, name: str) -> ServerHandle:
        """The handle of the server component ``name``.

        Raises :class:`interlock.InterlockError` naming the servers that run when ``name`` is
        not one of them.
        """
        handle = self.handles.get(name)
        if handle is None:
            raise InterlockError(
                f"no server named {name!r} runs here (running: {', '.join(self.handles)})",
                hint="pass it in serve(servers={...}) to start it",
            )
        return handle

    def url(self, name: str) -> str:
        """``scheme://host:port`` of the server ``name`` (for example ``http://127.0.0.1:8000``
        for ``"rest"``); raises as :meth:`handle` does."""
        return self.handle(name).url

    def address(self, name: str) -> str:
        """``host:port`` of the server ``name`` (for example ``127.0.0.1:8001`` for
        ``"grpc"``); raises as :meth:`handle` does."""
        return self.handle(name).address

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop gracefully: readiness turns false, in-flight requests finish (at most
        ``grace_seconds``), servers close, batchers drain. Idempotent; blocks until done."""
        self._grace = grace_seconds
        loop, event = self._loop, self._stop_requested
        if loop is not None and event is not None and not self.stopped.is_set():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(event.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        addresses = [h.url for h in self.handles.values()]
        state = "stopped" if self.stopped.is_set() else "running"
        return f"<RunningServer {state} {' '.join(addresses)}>"

    # -- on the serving loop -----------------------------------------------------------------

    async def _run(self, started: Callable[[BaseException | None], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            for handle in self.handles.values():
                await handle.start()
        except BaseException as exc:
            await self._shutdown(0.0)
            started(exc)
            return
        started(None)
        await self._stop_requested.wait()
        await self._shutdown(self._grace)

    async def _shutdown(self, grace: float) -> None:
        # Readiness first, so that load balancers stop sending while in-flight work finishes.
        self.repository.start_draining()
        try:
            await asyncio.gather(*(h.stop(grace) for h in self.handles.values() if h.port))
        finally:
            await self.repository.close()


def serve(
    sources: Sequence[str | Artifact],
    *,
    store: str | None = None,
    servers: Mapping[str, int | None] | None = None,
    host: str = "127.0.0.1",
    token: str | None = None,
    max_batch_size: int = 1,
    max_batch_delay_ms: float = 2.0,
    max_queue: int = 256,
    runtime: str = "onnxruntime",
    device: str = "cpu",
    runtime_options: dict[str, Any] | None = None,
    text_engine: str | None = None,
    max_request_bytes: int = 64 * 1024 * 1024,
    keep_alive_s: float = 300.0,
    access_log: bool = False,
    grace_seconds: float = 10.0,
    block: bool = True,
    on_started: Callable[[RunningServer], None] | None = None,
) -> RunningServer:
    """Load ``sources`` and serve them with the server components ``servers``.

    ``sources`` are artifact references (resolved in ``store``), artifact directories or
    store roots (every artifact in them). ``servers`` maps server component names (``"rest"``,
    ``"grpc"``, a vendor's) to ports: None is the server's ``default_port``, 0 any free port;
    None (the default) starts every installed server at its default port. ``max_batch_size``
    above 1 turns on dynamic batching. A connection idle (no request, no byte received) for
    ``keep_alive_s`` is closed. ``access_log``: one line per request on stderr.
    ``text_engine``: a text engine (``"onnxruntime-genai"``) generates, not interlock's loop.

    With ``block=False`` the servers run on one event loop in a background thread and the
    returned :class:`RunningServer` has their addresses and a ``stop()``. With
    ``block=True`` they run in the foreground until SIGINT or SIGTERM: readiness turns false,
    in-flight requests finish (at most ``grace_seconds``), then the call returns.
    ``on_started`` is called once every server listens (for example to print the addresses).

    Raises :class:`interlock.InterlockError` subclasses for sources that cannot be loaded,
    unknown servers or runtimes (:class:`interlock.PluginError`: "no server named ..."), an
    empty ``servers`` and addresses that cannot be bound.
    """
    from interlock.serving._batcher import BatchingOptions
    from interlock.serving._repository import ModelRepository

    batching = BatchingOptions(max_batch_size=max_batch_size,
                               max_batch_delay_ms=max_batch_delay_ms, max_queue=max_queue)
    repository = ModelRepository(
        sources, store=store, runtime=runtime, device=device,
        runtime_options=runtime_options, batching=batching, text_engine=text_engine,
    )
    _connection_options(keep_alive_s, access_log)
    options = {"max_request_bytes": max_request_bytes, "keep_alive_s": keep_alive_s}
    handles = _create_servers(repository, servers, host=host, token=token, **options)
    repository.load()
    running = RunningServer(repository, handles, grace_seconds=grace_seconds)
    if block:
        _run_foreground(running, on_started)
    else:
        _run_background(running, on_started)
    return running


def _connection_options(keep_alive_s: float, access_log: bool) -> None:
    """Check ``keep_alive_s``; turn the access log on if asked."""
    if not keep_alive_s > 0:
        raise InterlockError(
            f"keep_alive_s must be a positive number of seconds, got {keep_alive_s!r}",
            hint="for example keep_alive_s=300 (five minutes, the default)",
        )
    if access_log:
        from interlock.serving.oip.access import enable_access_log

        enable_access_log()


def _create_servers(
    repository: ModelRepository, servers: Mapping[str, int | None] | None, **options: Any
) -> dict[str, ServerHandle]:
    """A not yet started handle per server asked for (every installed one when None), each
    with ``ServerOptions(port=<its port>, **options)``."""
    from interlock.plugins import get_registry
    from interlock.servers import ServerOptions

    registry = get_registry()
    installed = registry.names("server")
    if servers is None:
        if not installed:
            raise InterlockError(
                "serve() found no server component installed",
                hint="install one, for example: pip install 'interlock[serve]'",
            )
        servers = dict.fromkeys(installed)
    if not isinstance(servers, Mapping) or not servers:
        raise InterlockError(
            f"serve() needs at least one server by name and port, got servers={servers!r}"[:300],
            hint="for example servers={'rest': 8000, 'grpc': None} (None: the server's "
            f"default port; 0: any free port); installed: {', '.join(installed) or 'none'}",
        )
    handles: dict[str, ServerHandle] = {}
    for name, port in servers.items():
        component = registry.get("server", name)  # PluginError: "no server named ..."
        handles[name] = component.create(repository, ServerOptions(port=port, **options))
    return handles


def _run_background(
    running: RunningServer, on_started: Callable[[RunningServer], None] | None
) -> None:
    outcome: list[BaseException | None] = []
    ready = threading.Event()

    def started(error: BaseException | None) -> None:
        outcome.append(error)
        ready.set()

    def main() -> None:
        loop = _new_event_loop()
        try:
            loop.run_until_complete(running._run(started))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            running.stopped.set()
            ready.set()

    thread = threading.Thread(target=main, name="interlock-serve", daemon=True)
    running._thread = thread
    thread.start()
    ready.wait()
    error = outcome[0] if outcome else None
    if error is not None:
        thread.join()
        raise error
    if on_started is not None:
        on_started(running)


def _run_foreground(
    running: RunningServer, on_started: Callable[[RunningServer], None] | None
) -> None:
    loop = _new_event_loop()
    outcome: list[BaseException | None] = []

    def started(error: BaseException | None) -> None:
        outcome.append(error)
        if error is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, _request_stop, running, sig)
        logger.info("serving %s", " ".join(h.url for h in running.handles.values()))
        # The process is a server from here on: what exists now (models, modules, the
        # repository) lives until exit, so the collector stops rescanning it. Full collections
        # of a server's heap otherwise pause every request for tens of milliseconds now and
        # then (p99). Only in the foreground, which owns the process; serving in the
        # background leaves the host's collector alone.
        gc.freeze()
        if on_started is not None:
            on_started(running)

    try:
        loop.run_until_complete(running._run(started))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        running.stopped.set()
    error = outcome[0] if outcome else None
    if error is not None:
        raise error


def _request_stop(running: RunningServer, sig: int) -> None:
    logger.info("received %s: draining", signal.Signals(sig).name)
    if running._stop_requested is not None:
        running._stop_requested.set()
