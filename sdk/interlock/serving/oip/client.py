"""An Open Inference Protocol client: REST (JSON or binary tensors) and gRPC.

Enough to call any OIP server from Python without a third-party client; the quickstart and the
conformance suite's server checker use it, and integrators may too. Only NumPy, the standard
library and (for gRPC) ``grpcio`` are needed.

It has two layers:

- **raw**: :meth:`RestClient.request` sends any request (any method, path, headers and body,
  malformed ones included) and returns the whole :class:`Response`, whatever its status;
  :meth:`GrpcClient.call` and :meth:`GrpcClient.call_raw` return an :class:`RpcResult`, a
  response or a status code. Nothing is judged: a caller that checks servers decides what an
  answer means. Only a server that gives no answer at all raises :class:`NoAnswerError`.
- **convenient**, on top: ``live``, ``ready``, ``server_metadata``, ``metadata`` and ``infer``
  take and return plain Python and NumPy values and raise :class:`OipError` for an error answer.

::

    with RestClient("http://127.0.0.1:8000") as rest:
        outputs = rest.infer("mlp", {"input": rows})
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from interlock.errors import InterlockError, MissingDependencyError
from interlock.serving.oip.datatypes import oip_datatype
from interlock.serving.oip.tensors import decode_binary_tensor, decode_json_tensor, encode_binary_tensor, json_data

__all__ = [
    "GrpcClient",
    "NoAnswerError",
    "OipError",
    "Response",
    "RestClient",
    "RpcResult",
    "model_path",
]

_HEADER_LENGTH = "inference-header-content-length"
#: The failures of a reused keep-alive connection that the server closed meanwhile.
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class OipError(InterlockError):
    """A call to an Open Inference Protocol server failed; ``status`` is the HTTP status or the
    gRPC status code's name of an error answer (None when there was no answer)."""

    def __init__(self, message: str, *, status: int | str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NoAnswerError(OipError):
    """The server gave no answer: the connection was refused or reset, or it timed out."""


def model_path(model: str, version: str | None = None) -> str:
    """``/v2/models/{model}[/versions/{version}]``, both segments URL-quoted."""
    path = f"/v2/models/{urllib.parse.quote(model, safe='')}"
    if version:
        path += f"/versions/{urllib.parse.quote(version, safe='')}"
    return path


# -- REST ----------------------------------------------------------------------------------


@dataclass
class Response:
    """One HTTP answer: status, headers (lower-case names), body, and what was asked
    (``"GET /v2"``, for messages)."""

    status: int
    headers: dict[str, str]
    body: bytes
    what: str

    def header(self, name: str) -> str | None:
        """A header's value, or None."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.body)

    def error_message(self) -> str:
        """The ``error`` of an error body ``{"error": "..."}``, else the start of the body."""
        try:
            document = self.json()
        except ValueError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("error"), str):
            return str(document["error"])
        return repr(self.body[:200])

    def raise_for_status(self) -> Response:
        """This response if its status is 200; :class:`OipError` naming the error otherwise."""
        if self.status != 200:
            raise OipError(f"{self.what} answered {self.status}: {self.error_message()}", status=self.status)
        return self


class RestClient:
    """Open Inference Protocol over HTTP/REST to one server.

    ``url`` is ``http://HOST:PORT`` or ``https://HOST:PORT``, optionally with a path prefix the
    server is mounted under (``HOST:PORT`` alone means ``http``). ``token`` is sent as
    ``Authorization: Bearer``. With ``keep_alive`` (the default) requests share one connection;
    without it each request has a connection of its own, so that a server which closes a
    connection after an error cannot affect the next request.
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 30.0, keep_alive: bool = True
    ) -> None:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        self.url = url
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.prefix = parsed.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._connection: http.client.HTTPConnection | None = None

    # -- raw layer ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        auth: bool = True,
    ) -> Response:
        """Send one request and read the whole answer, whatever its status. ``auth=False``
        leaves the token out; an ``Authorization`` in ``headers`` replaces it.
        :class:`NoAnswerError` when the server does not answer."""
        what = f"{method} {path}"
        sent = self._headers(headers, auth)
        reused = self._connection is not None
        try:
            return self._exchange(what, method, path, body, sent)
        except _STALE_CONNECTION as exc:
            if not reused:
                raise _no_answer(what, exc) from None
        # A keep-alive connection the server closed while idle: one more try on a new one.
        try:
            return self._exchange(what, method, path, body, sent)
        except _STALE_CONNECTION as exc:
            raise _no_answer(what, exc) from None

    def send_headers(self, method: str, path: str, headers: Mapping[str, str], *, auth: bool = True) -> Response:
        """Send the request line and headers but not the body they announce, on a connection
        of its own, and read the answer (to see a server refuse a declared length before it
        reads the body)."""
        what = f"{method} {path} (headers only)"
        connection = self._new_connection()
        try:
            connection.putrequest(method, self.prefix + path, skip_accept_encoding=True)
            for key, value in self._headers(headers, auth).items():
                connection.putheader(key, value)
            connection.endheaders()
            return self._read(connection, what)
        except (OSError, http.client.HTTPException) as exc:
            raise _no_answer(what, exc) from None
        finally:
            connection.close()

    def close(self) -> None:
        """Close the keep-alive connection, if any (the client may still be used)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _new_connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _headers(self, headers: Mapping[str, str] | None, auth: bool) -> dict[str, str]:
        sent = dict(headers or {})
        if auth and self.token and not any(k.lower() == "authorization" for k in sent):
            sent["Authorization"] = f"Bearer {self.token}"
        return sent

    def _exchange(self, what: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Response:
        connection = self._connection or self._new_connection()
        self._connection = connection if self.keep_alive else None
        try:
            connection.request(method, self.prefix + path, body=body, headers=headers)
            return self._read(connection, what)
        except _STALE_CONNECTION:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise _no_answer(what, exc) from None
        finally:
            if not self.keep_alive:
                connection.close()

    @staticmethod
    def _read(connection: http.client.HTTPConnection, what: str) -> Response:
        answer = connection.getresponse()
        data = answer.read()
        return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data, what)

    # -- convenient layer --------------------------------------------------------------------

    def live(self) -> bool:
        """Whether the server is live (``GET /v2/health/live`` answers 200)."""
        return self.request("GET", "/v2/health/live", auth=False).status == 200

    def ready(self, model: str | None = None, version: str | None = None) -> bool:
        """Whether the server (or ``model``, or one version of it) is ready."""
        if model is None:
            return self.request("GET", "/v2/health/ready", auth=False).status == 200
        return self.request("GET", model_path(model, version) + "/ready").status == 200

    def server_metadata(self) -> dict[str, Any]:
        """The server's metadata document (name, version, extensions)."""
        document: dict[str, Any] = self.request("GET", "/v2").raise_for_status().json()
        return document

    def metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The model's metadata document (name, versions, platform, inputs, outputs)."""
        document: dict[str, Any] = self.request("GET", model_path(model, version)).raise_for_status().json()
        return document

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        binary: bool = True,
        outputs: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run inference and return the outputs by name; with ``binary`` the tensors travel
        as the binary tensor data extension both ways, else as JSON. ``outputs`` asks for
        only those outputs."""
        body, headers = _infer_body(inputs, binary=binary, outputs=outputs)
        response = self.request("POST", model_path(model, version) + "/infer", body, headers)
        return _read_outputs(response.raise_for_status())


def _no_answer(what: str, exc: BaseException) -> NoAnswerError:
    return NoAnswerError(f"{what}: the server gave no answer ({type(exc).__name__}: {exc})")


def _infer_body(
    inputs: Mapping[str, np.ndarray], *, binary: bool, outputs: Sequence[str] | None
) -> tuple[bytes, dict[str, str]]:
    """An inference request's body and headers."""
    tensors, chunks = [], []
    for name, value in inputs.items():
        array = np.asarray(value)
        entry: dict[str, Any] = {"name": name, "datatype": oip_datatype(array.dtype), "shape": list(array.shape)}
        if binary:
            chunk = encode_binary_tensor(array)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            data = json_data(name, array)
            entry["data"] = data.tolist() if isinstance(data, np.ndarray) else data
        tensors.append(entry)
    request: dict[str, Any] = {"inputs": tensors}
    if outputs is not None:
        request["outputs"] = [{"name": name} for name in outputs]
    if not binary:
        return json.dumps(request).encode(), {"Content-Type": "application/json"}
    request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return header + b"".join(chunks), headers


def _read_outputs(response: Response) -> dict[str, np.ndarray]:
    """The outputs of a successful inference response, JSON or binary."""
    body = response.body
    json_length = int(response.header(_HEADER_LENGTH) or len(body))
    document = json.loads(body[:json_length])
    outputs, offset = {}, json_length
    for output in document["outputs"]:
        name, datatype, shape = output["name"], output["datatype"], tuple(output["shape"])
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            outputs[name] = decode_binary_tensor(name, datatype, shape, body[offset : offset + size])
            offset += size
        else:
            outputs[name] = decode_json_tensor(name, datatype, shape, output["data"])
    return outputs


# -- gRPC ----------------------------------------------------------------------------------


@dataclass
class RpcResult:
    """How an RPC ended: with a ``response``, or with a status ``code`` (a
    ``grpc.StatusCode``), its ``details`` and trailing metadata. ``what`` names the RPC."""

    what: str
    response: Any = None
    code: Any = None
    details: str = ""
    trailers: tuple[tuple[str, str], ...] = ()

    def ok(self) -> Any:
        """The response; :class:`OipError` naming the status code if the RPC failed."""
        if self.code is not None:
            raise OipError(f"{self.what} failed with {self.code.name}: {self.details[:200]}", status=self.code.name)
        return self.response


class GrpcClient:
    """Open Inference Protocol over gRPC (``inference.GRPCInferenceService``) at one address
    (``HOST:PORT``, or ``grpc://HOST:PORT``). ``messages`` is the protocol's generated message
    module (:mod:`interlock.serving.oip.proto`), for building requests."""

    def __init__(self, address: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        try:
            import grpc

            from interlock.serving.oip.proto import open_inference_grpc_pb2 as messages
            from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as services
        except ImportError as exc:
            raise MissingDependencyError("grpcio", "serve", purpose="the gRPC client") from exc
        self._grpc = grpc
        self.messages: Any = messages
        self.address = address.removeprefix("grpc://")
        self.token = token
        self.timeout = timeout
        self._channel = grpc.insecure_channel(self.address)
        self._stub = services.GRPCInferenceServiceStub(self._channel)

    # -- raw layer ---------------------------------------------------------------------------

    def call(self, rpc: str, request: Any, *, auth: bool = True, metadata: Sequence[tuple[str, str]] = ()) -> RpcResult:
        """Call ``rpc`` (``"ModelInfer"``, ...) with ``request``; a failed RPC is returned,
        not raised. ``auth=False`` leaves the token out; an ``authorization`` entry in
        ``metadata`` replaces it. :class:`NoAnswerError` when the server cannot be reached or
        does not answer in time."""
        sent = list(metadata)
        if auth and self.token and not any(k == "authorization" for k, _ in sent):
            sent.append(("authorization", f"Bearer {self.token}"))
        return self._invoke(getattr(self._stub, rpc), rpc, request, sent)

    def call_raw(self, method: str, payload: bytes, *, auth: bool = True) -> RpcResult:
        """Send ``payload`` unparsed as the request message of
        ``/inference.GRPCInferenceService/<method>`` (a method the service may not have);
        the response, if any, comes back as bytes."""
        function = self._channel.unary_unary(
            f"/inference.GRPCInferenceService/{method}",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        sent = [("authorization", f"Bearer {self.token}")] if auth and self.token else []
        return self._invoke(function, f"{method} (raw bytes)", payload, sent)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _invoke(self, function: Any, what: str, request: Any, metadata: list[tuple[str, str]]) -> RpcResult:
        grpc = self._grpc
        try:
            response = function(request, timeout=self.timeout, metadata=metadata or None)
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            if code == grpc.StatusCode.UNAVAILABLE and "connect" in details.lower():
                raise NoAnswerError(f"{what}: the server at {self.address} cannot be reached: {details}") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise NoAnswerError(f"{what}: no answer within {self.timeout} s") from None
            trailers = tuple((str(k), str(v)) for k, v in (error.trailing_metadata() or ()))
            return RpcResult(what, None, code, details, trailers)
        return RpcResult(what, response)

    # -- convenient layer --------------------------------------------------------------------

    def live(self) -> bool:
        """Whether the server is live."""
        return bool(self.call("ServerLive", self.messages.ServerLiveRequest(), auth=False).ok().live)

    def ready(self, model: str | None = None, version: str | None = None) -> bool:
        """Whether the server (or ``model``, or one version of it) is ready."""
        if model is None:
            reply = self.call("ServerReady", self.messages.ServerReadyRequest(), auth=False).ok()
        else:
            request = self.messages.ModelReadyRequest(name=model, version=version or "")
            reply = self.call("ModelReady", request).ok()
        return bool(reply.ready)

    def server_metadata(self) -> dict[str, Any]:
        """The server's metadata (name, version, extensions), as the REST document has it."""
        reply = self.call("ServerMetadata", self.messages.ServerMetadataRequest()).ok()
        return {"name": reply.name, "version": reply.version, "extensions": list(reply.extensions)}

    def metadata(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The model's metadata (name, versions, platform, inputs, outputs), as the REST
        document has it."""
        request = self.messages.ModelMetadataRequest(name=model, version=version or "")
        reply = self.call("ModelMetadata", request).ok()

        def tensors(entries: Any) -> list[dict[str, Any]]:
            return [{"name": t.name, "datatype": t.datatype, "shape": [int(d) for d in t.shape]} for t in entries]

        return {
            "name": reply.name,
            "versions": list(reply.versions),
            "platform": reply.platform,
            "inputs": tensors(reply.inputs),
            "outputs": tensors(reply.outputs),
        }

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run inference with ``raw_input_contents`` and return the outputs, decoded from
        ``raw_output_contents``, by name; ``outputs`` asks for only those outputs."""
        request = self.messages.ModelInferRequest(model_name=model, model_version=version or "")
        for name, value in inputs.items():
            array = np.asarray(value)
            request.inputs.add(name=name, datatype=oip_datatype(array.dtype), shape=list(array.shape))
            request.raw_input_contents.append(encode_binary_tensor(array))
        for name in outputs or ():
            request.outputs.add(name=name)
        reply = self.call("ModelInfer", request).ok()
        return {
            output.name: decode_binary_tensor(output.name, output.datatype, tuple(output.shape), raw)
            for output, raw in zip(reply.outputs, reply.raw_output_contents)
        }
