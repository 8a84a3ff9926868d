"""The ASGI application of the REST server: routing, auth, body limits, errors, metrics.

A raw ASGI callable, no web framework and no middleware: the request path does one path
split, a dict lookup or two, orjson, and the serving core's ``infer``. Per-model metadata is
serialised once. Every failure becomes ``{"error": "..."}`` with a 4xx/503 status; only a bug
in interlock or a runtime yields a 500, and no request can stop the server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import interlock
import orjson
from interlock._errors import InterlockError, OverloadedError
from interlock_oip.auth import BearerToken
from interlock_oip.deadlines import Deadlines
from interlock_oip.errors import (
    MethodNotAllowed,
    NotFound,
    ProtocolError,
    RequestTimeout,
    RequestTooLarge,
    Unauthorized,
    http_status,
)
from interlock_oip.metrics import CONTENT_TYPE

from interlock_rest.infer import ModelView, encode_response, parse_request

if TYPE_CHECKING:
    from interlock._repository import ModelRepository, ServedModel
    from interlock._server_options import ServerOptions
    from interlock_oip.metrics import ServingMetrics

__all__ = ["RestApp"]

logger = logging.getLogger("interlock.rest")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = b"application/json"
_BINARY = b"application/octet-stream"
_MODELS_PREFIX = "/v2/models/"
_LIVE = orjson.dumps({"live": True})
_READY = orjson.dumps({"ready": True})
_EXTENSIONS = ["binary_tensor_data"]

class RestApp:
    """The Open Inference Protocol REST endpoints over one model repository."""

    def __init__(
        self, repository: ModelRepository, options: ServerOptions, metrics: ServingMetrics
    ) -> None:
        self.repository = repository
        self.metrics = metrics
        self.draining = False
        self._token = BearerToken(options.token) if options.token else None
        self._max_body = options.max_request_bytes
        self._read_timeout = options.read_timeout_s
        self._body_deadlines = Deadlines(options.read_timeout_s)
        self._server_metadata = orjson.dumps(
            {
                "name": options.server_name,
                "version": interlock.__version__,
                "extensions": _EXTENSIONS,
            }
        )
        self._views: dict[int, ModelView] = {}

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and websockets are disabled: nothing else arrives
        state = _Exchange(send)
        try:
            await self._route(scope, receive, state)
        except InterlockError as exc:
            await state.error(exc)
        except asyncio.CancelledError:
            # The graceful-shutdown grace period ran out: tell the client to retry elsewhere
            # rather than leave it with a reset connection.
            await state.error(
                OverloadedError(
                    "the server is shutting down",
                    retry_after=1.0,
                    hint="retry on another replica, or here once the server is back",
                )
            )
            raise
        except Exception:
            logger.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            await state.error(InterlockError("internal server error; see the server log"))

    def _view(self, model: ServedModel) -> ModelView:
        view = self._views.get(id(model))
        if view is None or view.model is not model:
            view = self._views[id(model)] = ModelView(model)
        return view

    @property
    def ready(self) -> bool:
        """Whether readiness probes succeed (models loaded, not draining)."""
        return self.repository.ready and not self.draining

    def _authorize(self, scope: Scope) -> None:
        if self._token is None:
            return
        for key, value in scope["headers"]:
            if key == b"authorization":
                if self._token.accepts(value):
                    return
                break
        raise Unauthorized(
            "this server requires a bearer token", hint="send 'Authorization: Bearer <token>'"
        )

    async def _route(self, scope: Scope, receive: Receive, state: _Exchange) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(_MODELS_PREFIX):
            parts = path[len(_MODELS_PREFIX) :].split("/")
            name = parts[0]
            version: str | None = None
            rest = parts[1:]
            if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
                version = rest[1]
                rest = rest[2:]
            if name and not rest:
                _require(method, "GET")
                self._authorize(scope)
                await self._model_metadata(state, name, version)
                return
            if name and rest == ["infer"]:
                _require(method, "POST")
                self._authorize(scope)
                await self._infer(scope, receive, state, name, version)
                return
            if name and rest == ["ready"]:
                _require(method, "GET")
                self._authorize(scope)
                await self._model_ready(state, name, version)
                return
        elif path == "/v2/health/live":
            _require(method, "GET")
            await state.respond(200, _LIVE)
            return
        elif path == "/v2/health/ready":
            _require(method, "GET")
            if not self.ready:
                raise OverloadedError(
                    "the server is not ready" + (" (draining)" if self.draining else ""),
                    retry_after=1.0,
                    hint="wait for the models to load; a draining server does not come back",
                )
            await state.respond(200, _READY)
            return
        elif path in ("/v2", "/v2/"):
            _require(method, "GET")
            self._authorize(scope)
            await state.respond(200, self._server_metadata)
            return
        elif path == "/metrics":
            _require(method, "GET")
            self._authorize(scope)
            await state.respond(200, self.metrics.render(), CONTENT_TYPE.encode())
            return
        raise NotFound(
            f"no endpoint at {path[:200]!r}",
            hint="the Open Inference Protocol endpoints live under /v2 (see GET /v2)",
        )

    # -- endpoints -------------------------------------------------------------------------

    async def _model_metadata(self, state: _Exchange, name: str, version: str | None) -> None:
        status = "500"
        try:
            model = self.repository.get(name, version)
            await state.respond(200, self._view(model).metadata)
            status = "200"
        except InterlockError as exc:
            status = str(http_status(exc))
            raise
        finally:
            self._count("metadata", name, version, status)

    async def _model_ready(self, state: _Exchange, name: str, version: str | None) -> None:
        model = self.repository.get(name, version)
        if not (model.ready and not self.draining):
            raise OverloadedError(
                f"model '{model.name}:{model.version}' is not ready", retry_after=1.0
            )
        await state.respond(200, self._view(model).ready_body)

    async def _infer(
        self, scope: Scope, receive: Receive, state: _Exchange, name: str, version: str | None
    ) -> None:
        start = time.perf_counter()
        status = "500"  # until proven otherwise: a bug or a cancellation must not count as 200
        model: ServedModel | None = None
        try:
            model = self.repository.get(name, version)
            view = self._view(model)
            body, header_length = await self._read_body(scope, receive)
            call = parse_request(view, body, header_length)
            outputs = await model.infer(call.inputs)
            payload, json_length = encode_response(view, call, outputs)
            if json_length is None:
                await state.respond(200, payload)
            else:
                await state.respond(
                    200,
                    payload,
                    _BINARY,
                    ((b"inference-header-content-length", str(json_length).encode()),),
                )
            status = "200"
        except InterlockError as exc:
            status = str(http_status(exc))
            raise
        except asyncio.CancelledError:
            status = "503"  # shutdown grace period over: answered 503 by __call__
            raise
        finally:
            if model is not None:
                self.metrics.observe_request(
                    "rest", "infer", model.name, model.version, status, time.perf_counter() - start
                )
            else:
                self._count("infer", name, version, status)

    def _count(self, endpoint: str, name: str, version: str | None, status: str) -> None:
        # Unknown names are not labels: clients must not be able to grow the label set.
        if status == "404":
            name, version = "", ""
        self.metrics.observe_request("rest", endpoint, name, version or "", status)

    # -- request body ----------------------------------------------------------------------

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, int | None]:
        declared: int | None = None
        header_length: int | None = None
        encoding: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = _header_int(value, "Content-Length")
            elif key == b"inference-header-content-length":
                header_length = _header_int(value, "Inference-Header-Content-Length")
            elif key == b"content-encoding":
                encoding = value.strip().lower()
        limit = self._max_body
        if declared is not None and declared > limit:
            raise _too_large(declared, limit)
        chunks: list[bytes] = []
        received = 0
        deadlines = self._body_deadlines
        task = deadlines.start()
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ProtocolError("the client disconnected before sending the body")
                chunk = message.get("body", b"")
                if chunk:
                    received += len(chunk)
                    if received > limit:
                        raise _too_large(received, limit)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if deadlines.expired(task):
                raise RequestTimeout(
                    f"the request body did not arrive within {self._read_timeout:g} s",
                    hint="send the whole body promptly, or raise the server's read timeout",
                ) from None
            raise
        finally:
            deadlines.finish(task)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if encoding is not None and encoding != b"identity":
            body = _decompress(body, encoding, limit)
        return body, header_length


class _Exchange:
    """The response side of one request: at most one response is started."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes = _JSON,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.started = True
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await self.send({"type": "http.response.body", "body": body})

    async def error(self, exc: InterlockError) -> None:
        if self.started:
            return  # the response is on its way; nothing sensible can follow it
        status = http_status(exc)
        extra: list[tuple[bytes, bytes]] = []
        if isinstance(exc, OverloadedError):
            extra.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
        elif isinstance(exc, MethodNotAllowed):
            extra.append((b"allow", exc.allow.encode()))
        elif isinstance(exc, Unauthorized):
            extra.append((b"www-authenticate", b"Bearer"))
        if status in (408, 413):
            # The rest of the body may still be on the wire: do not reuse the connection.
            extra.append((b"connection", b"close"))
        await self.respond(status, orjson.dumps({"error": str(exc)}), _JSON, tuple(extra))


def _require(method: str, allowed: str) -> None:
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise MethodNotAllowed(
            f"{method} is not allowed here; this endpoint takes {allowed}", allow=allowed
        )


def _header_int(value: bytes, header: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise ProtocolError(
            f"the {header} header must be a non-negative integer, got {value[:40]!r}",
            hint=f"send {header}: <bytes>",
        )
    return number


def _too_large(size: int, limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"the request body ({size} bytes or more) exceeds the server's limit of {limit} bytes",
        hint="send smaller batches, or raise max_request_bytes",
    )


def _decompress(body: bytes, encoding: bytes, limit: int) -> bytes:
    # Bounded, so a small compressed body cannot expand past the size limit.
    if encoding == b"gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == b"deflate":
        inflater = zlib.decompressobj()
    else:
        raise ProtocolError(
            f"unsupported Content-Encoding {encoding[:40].decode('latin-1')!r}",
            hint="send the body uncompressed, gzip or deflate",
        )
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProtocolError(f"the {encoding.decode()} body cannot be decompressed: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise _too_large(len(data), limit)
    return data
