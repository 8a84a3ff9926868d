"""The REST application: routing, auth, body decoding, errors and metrics, over one repository.

No web framework and no ASGI: the HTTP layer (:mod:`interlock_rest._http`) hands over a
parsed :class:`~interlock_rest._http_messages.Request` with its whole body, and the application
answers with a status, a body and headers. The request path does one path split, a dict lookup
or two, orjson, and the model; a fast unbatched model answers without a task
(:meth:`interlock.servers.Model.infer_now`). Per-model metadata is serialised once. Every
failure becomes ``{"error": "..."}`` with a 4xx/503 status; only a bug in interlock or a
runtime yields a 500, and no request can stop the server.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import interlock
import orjson
from interlock.errors import InterlockError, OverloadedError
from interlock.serving.oip.auth import BearerToken
from interlock.serving.oip.errors import (
    MethodNotAllowed,
    NotFound,
    ProtocolError,
    Unauthorized,
    http_status,
)
from interlock.serving.oip.metrics import CONTENT_TYPE

from interlock_rest._http_messages import Answer, Request, Response, too_large
from interlock_rest.openai import TextRoutes, openai_error
from interlock_rest.infer import (
    InferCall,
    ModelView,
    encode_response,
    max_json_values,
    parse_request,
)

if TYPE_CHECKING:
    import numpy as np
    from interlock.servers import Model, Repository, ServerOptions
    from interlock.serving.oip.metrics import ServingMetrics

__all__ = ["RestApp"]

logger = logging.getLogger("interlock.rest")

_JSON = b"application/json"
_BINARY = b"application/octet-stream"
_METRICS = CONTENT_TYPE.encode()
_MODELS_PREFIX = "/v2/models/"
_LIVE = orjson.dumps({"live": True})
_READY = orjson.dumps({"ready": True})
_EXTENSIONS = ["binary_tensor_data"]
_NO_HEADERS: tuple[tuple[bytes, bytes], ...] = ()

#: Endpoints that need the token when one is set (health probes do not).
_GUARDED = frozenset({"server", "metrics", "model", "model_ready", "infer", "generate",
                      "generate_stream", "v1_models", "v1_model", "completions", "chat",
                      "embeddings"})
#: The OpenAI-compatible endpoints (text.md), answered and refused in the OpenAI shapes.
_V1 = {("/v1/models", "GET"): "v1_models", ("/v1/completions", "POST"): "completions",
       ("/v1/chat/completions", "POST"): "chat", ("/v1/embeddings", "POST"): "embeddings"}
_TEXT = frozenset({"generate", "generate_stream", "v1_models", "v1_model", "completions",
                   "chat", "embeddings"})
#: Endpoints counted in the request metrics, and their metric names.
_COUNTED = {"infer": "infer", "model": "metadata"}
#: A request body above this size (or any compressed one) is decompressed and parsed on a
#: worker thread, so that no single request holds the event loop the other requests share.
OFFLOAD_BYTES = 256 * 1024


class RestApp:
    """The Open Inference Protocol REST endpoints over one model repository."""

    def __init__(
        self, repository: Repository, options: ServerOptions, metrics: ServingMetrics
    ) -> None:
        self.repository = repository
        self.metrics = metrics
        self.draining = False
        self._token = BearerToken(options.token) if options.token else None
        self._max_body = options.max_request_bytes
        self._max_values = max_json_values(options.max_request_bytes)
        self._server_metadata = orjson.dumps(
            {
                "name": options.server_name,
                "version": interlock.__version__,
                "extensions": _EXTENSIONS,
            }
        )
        self._views: dict[int, ModelView] = {}
        self.text = TextRoutes(repository)

    @property
    def ready(self) -> bool:
        """Whether readiness probes succeed (models loaded, not draining)."""
        return self.repository.ready and not self.draining

    # -- the HTTP layer's interface ----------------------------------------------------------

    def handle(self, request: Request) -> Response | Coroutine[Any, Any, Answer]:
        """The answer to ``request``, or a coroutine computing it; never raises."""
        try:
            return self._route(request)
        except InterlockError as exc:
            return self._error_for(request, exc)
        except Exception:
            logger.exception("unexpected error answering %s %s", request.method, request.path)
            return self.error(InterlockError("internal server error; see the server log"))

    def check_head(self, request: Request) -> Response | None:
        """Refuse, before a large body is read, a request that would be refused anyway: an
        unknown path, a wrong method, a missing token, an unknown model."""
        try:
            endpoint, name, version = self._locate(request)
        except InterlockError as exc:
            return self._error_for(request, exc)
        try:
            if endpoint in _GUARDED:
                self._authorize(request)
            if name is not None:
                self.repository.get(name, version)
        except InterlockError as exc:
            if endpoint in _COUNTED:
                self._count(_COUNTED[endpoint], name or "", version, str(http_status(exc)))
            return self._error_for(request, exc)
        return None

    def _error_for(self, request: Request, exc: InterlockError) -> Response:
        """An error in the shape of the API the path belongs to."""
        return openai_error(exc) if request.path.startswith("/v1/") else self.error(exc)

    def error(self, exc: InterlockError) -> Response:
        """``{"error": message}`` with the status of the error's kind and its headers."""
        extra: tuple[tuple[bytes, bytes], ...] = _NO_HEADERS
        if isinstance(exc, OverloadedError):
            extra = ((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()),)
        elif isinstance(exc, MethodNotAllowed):
            extra = ((b"allow", exc.allow.encode()),)
        elif isinstance(exc, Unauthorized):
            extra = ((b"www-authenticate", b"Bearer"),)
        return http_status(exc), orjson.dumps({"error": str(exc)}), _JSON, extra

    def cut_off(self) -> Response:
        """The answer for a request the shutdown grace period cut off: retry elsewhere."""
        return self.error(
            OverloadedError(
                "the server is shutting down",
                retry_after=1.0,
                hint="retry on another replica, or here once the server is back",
            )
        )

    # -- routing -----------------------------------------------------------------------------

    def _locate(self, request: Request) -> tuple[str, str | None, str | None]:
        """(endpoint, model name, version) of the request; 404/405 when there is none."""
        path = request.path
        method = request.method
        if path.startswith(_MODELS_PREFIX):
            parts = path[len(_MODELS_PREFIX) :].split("/")
            name = parts[0]
            version: str | None = None
            rest = parts[1:]
            if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
                version = rest[1]
                rest = rest[2:]
            if name and rest == ["infer"]:
                _require(method, "POST")
                return "infer", name, version
            if name and not rest:
                _require(method, "GET")
                return "model", name, version
            if name and rest == ["ready"]:
                _require(method, "GET")
                return "model_ready", name, version
            if name and rest in (["generate"], ["generate_stream"]):
                _require(method, "POST")
                return rest[0], name, version
        elif path.startswith("/v1/"):
            return self._locate_v1(path, method)
        elif path == "/v2/health/live":
            _require(method, "GET")
            return "live", None, None
        elif path == "/v2/health/ready":
            _require(method, "GET")
            return "ready", None, None
        elif path in ("/v2", "/v2/"):
            _require(method, "GET")
            return "server", None, None
        elif path == "/metrics":
            _require(method, "GET")
            return "metrics", None, None
        raise NotFound(
            f"no endpoint at {path[:200]!r}",
            hint="the endpoints are GET /v2, GET /v2/health/live, GET /v2/health/ready, GET "
            "/v2/models/<name>[/versions/<version>][/ready], POST "
            "/v2/models/<name>[/versions/<version>]/infer and GET /metrics"
            + self._served_hint(),
        )

    def _locate_v1(self, path: str, method: str) -> tuple[str, str | None, str | None]:
        endpoint = _V1.get((path, method))
        if endpoint is not None:
            return endpoint, None, None
        ident = path[len("/v1/models/"):]
        if path.startswith("/v1/models/") and ident and "/" not in ident:
            _require(method, "GET")
            return "v1_model", None, None
        for known, wanted in _V1:
            if known == path:
                _require(method, wanted)
        raise NotFound(
            f"no endpoint at {path[:200]!r}",
            hint="the OpenAI-compatible endpoints are GET /v1/models, GET /v1/models/<id>, "
            "POST /v1/completions, POST /v1/chat/completions and POST /v1/embeddings",
        )

    def _served_hint(self) -> str:
        names = sorted({model.name for model in self.repository.models()})
        if not names:
            return ""
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"; for example GET /v2/models/{names[0]} (models: {shown})"

    def _authorize(self, request: Request) -> None:
        if self._token is None:
            return
        value = request.header(b"authorization")
        if value is not None and self._token.accepts(value):
            return
        raise Unauthorized(
            "this server requires a bearer token", hint="send 'Authorization: Bearer <token>'"
        )

    def _route(self, request: Request) -> Response | Coroutine[Any, Any, Answer]:
        endpoint, name, version = self._locate(request)
        if endpoint in _GUARDED:
            self._authorize(request)
        if endpoint in _TEXT:
            return self._text(endpoint, request, name, version)
        if endpoint == "infer":
            assert name is not None
            return self._infer(request, name, version)
        if endpoint == "model":
            assert name is not None
            return self._model_metadata(name, version)
        if endpoint == "model_ready":
            assert name is not None
            return self._model_ready(name, version)
        if endpoint == "live":
            return 200, _LIVE, _JSON, _NO_HEADERS
        if endpoint == "ready":
            if not self.ready:
                raise OverloadedError(
                    "the server is not ready" + (" (draining)" if self.draining else ""),
                    retry_after=1.0,
                    hint="wait for the models to load; a draining server does not come back",
                )
            return 200, _READY, _JSON, _NO_HEADERS
        if endpoint == "server":
            return 200, self._server_metadata, _JSON, _NO_HEADERS
        return 200, self.metrics.render(), _METRICS, _NO_HEADERS

    # -- endpoints -------------------------------------------------------------------------

    def _text(self, endpoint: str, request: Request, name: str | None,
              version: str | None) -> Response | Coroutine[Any, Any, Answer]:
        text = self.text
        if endpoint == "v1_models":
            return text.list_models()
        if endpoint == "v1_model":
            return text.get_model(request.path[len("/v1/models/"):])
        if endpoint == "embeddings":
            work = text.embeddings(request)
        elif endpoint in ("completions", "chat"):
            work = text.completions(request, chat=endpoint == "chat")
        else:
            assert name is not None
            work = text.generate(request, name, version, stream=endpoint == "generate_stream")
        return self._text_later(request, endpoint, work)

    async def _text_later(self, request: Request, endpoint: str,
                          work: Coroutine[Any, Any, Answer]) -> Answer:
        status = "500"
        try:
            answer = await work
            status = "200"
            return answer
        except InterlockError as exc:
            status = str(http_status(exc))
            return self._error_for(request, exc)
        except Exception:
            logger.exception("unexpected error answering %s %s", request.method, request.path)
            return self._error_for(request, InterlockError("internal server error; see the log"))
        finally:
            self.metrics.observe_request("rest", endpoint, "", "", status)

    def _view(self, model: Model) -> ModelView:
        view = self._views.get(id(model))
        if view is None or view.model is not model:
            view = self._views[id(model)] = ModelView(model)
        return view

    def _model_metadata(self, name: str, version: str | None) -> Response:
        status = "500"
        try:
            model = self.repository.get(name, version)
            reply = 200, self._view(model).metadata, _JSON, _NO_HEADERS
            status = "200"
            return reply
        except InterlockError as exc:
            status = str(http_status(exc))
            raise
        finally:
            self._count("metadata", name, version, status)

    def _model_ready(self, name: str, version: str | None) -> Response:
        model = self.repository.get(name, version)
        if not (model.ready and not self.draining):
            raise OverloadedError(
                f"model '{model.name}:{model.version}' is not ready", retry_after=1.0
            )
        return 200, self._view(model).ready_body, _JSON, _NO_HEADERS

    def _infer(
        self, request: Request, name: str, version: str | None
    ) -> Response | Coroutine[Any, Any, Response]:
        start = time.perf_counter()
        model: Model | None = None
        status = "500"  # until proven otherwise: a bug must not count as 200
        try:
            model = self.repository.get(name, version)
            view = self._view(model)
            if len(request.body) > OFFLOAD_BYTES or request.header(b"content-encoding"):
                status = ""
                return self._infer_later(model, view, request, start)
            call = parse_request(view, *self._body(request), self._max_values)
            outputs = model.infer_now(call.inputs)
            if outputs is None:  # batched, slow or not loaded: the answer comes later
                status = ""
                return self._infer_later(model, view, call, start)
            reply = _infer_reply(view, call, outputs)
            status = "200"
            return reply
        except InterlockError as exc:
            status = str(http_status(exc))
            raise
        finally:
            if status:
                self._observe_infer(model, name, version, status, start)

    async def _infer_later(
        self, model: Model, view: ModelView, call: InferCall | Request, start: float
    ) -> Response:
        status = "500"
        try:
            if isinstance(call, Request):  # a large or compressed body: decoded off the loop
                call = await asyncio.to_thread(self._parse, view, call)
            outputs = await model.infer(call.inputs)
            reply = _infer_reply(view, call, outputs)
            status = "200"
            return reply
        except InterlockError as exc:
            status = str(http_status(exc))
            return self.error(exc)
        except asyncio.CancelledError:
            status = "503"  # shutdown grace period over: the HTTP layer answers 503
            raise
        except Exception:
            logger.exception("unexpected error in inference on %s:%s", model.name, model.version)
            return self.error(InterlockError("internal server error; see the server log"))
        finally:
            self._observe_infer(model, model.name, model.version, status, start)

    def _observe_infer(
        self,
        model: Model | None,
        name: str,
        version: str | None,
        status: str,
        start: float,
    ) -> None:
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

    def _parse(self, view: ModelView, request: Request) -> InferCall:
        call = parse_request(view, *self._body(request), self._max_values)
        request.body = b""  # the tensors hold what they need of it
        return call

    def _body(self, request: Request) -> tuple[bytes, int | None]:
        """The (decompressed) body and the Inference-Header-Content-Length, if sent."""
        header_length: int | None = None
        encoding: bytes | None = None
        for key, value in request.headers:
            if key == b"inference-header-content-length":
                header_length = _header_int(value, "Inference-Header-Content-Length")
            elif key == b"content-encoding":
                encoding = value.strip().lower()
        body = request.body
        if encoding is not None and encoding != b"identity":
            body = _decompress(body, encoding, self._max_body)
        return body, header_length


def _infer_reply(view: ModelView, call: InferCall, outputs: Mapping[str, np.ndarray]) -> Response:
    payload, json_length = encode_response(view, call, outputs)
    if json_length is None:
        return 200, payload, _JSON, _NO_HEADERS
    return (
        200,
        payload,
        _BINARY,
        ((b"inference-header-content-length", str(json_length).encode()),),
    )


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
        raise too_large(len(data), limit)
    if not inflater.eof or inflater.unused_data:
        # A cut-off stream, or bytes after its end, is not the body the client meant.
        problem = "is truncated" if not inflater.eof else "has bytes after its end"
        raise ProtocolError(
            f"the {encoding.decode()} body {problem}",
            hint=f"send exactly one complete {encoding.decode()} stream as the body",
        )
    return data
