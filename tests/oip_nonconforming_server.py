"""A tiny Open Inference Protocol server that gets a few things wrong on purpose.

It serves one model, ``echo`` (FP32 ``x`` [-1, 3] -> ``y`` = x and ``doubled`` = 2x), over REST
(``http.server``) and gRPC (``grpc`` with the protocol's stubs and no interlock server code),
and follows serving.md everywhere except in these deviations, each of which the server checker
must report under the requirements named, in the profile named (``oip-core`` and
``binary-data`` decide the verdict; ``interlock-serving`` is advice by address):

=========================================================  ====================================
deviation                                                  requirements (profile)
=========================================================  ====================================
``GET /v2/health/live`` answers 200 with an empty body     SRV-050 (oip-core)
a body that is not JSON answers 500 ``{"error": ...}``     SRV-090, SRV-094 (interlock-serving)
model metadata writes output ``y``'s datatype FLOAT32      SRV-202 (oip-core), SRV-053
binary outputs lack ``parameters.binary_data_size``        SRV-211 (binary-data), SRV-083
any unknown model name is served as ``echo`` (200)         SRV-204 (oip-core), SRV-090
the REST response does not echo the request ``id``         SRV-205 (oip-core), SRV-055
gRPC ``ModelReady`` of an unknown model: ready false       SRV-112 (interlock-serving)
gRPC ``ModelInfer`` does not echo the request ``id``       SRV-223 (oip-core), SRV-138
gRPC shared-memory parameters are ignored                  SRV-135 (interlock-serving)
=========================================================  ====================================

Over gRPC it also answers ``RepositoryIndex`` of the model repository extension (Triton's
``grpc_service.proto``, which MLServer follows; encoded with tritonclient's generated messages,
not interlock's): ``echo`` READY and ``warming`` UNAVAILABLE (left out when the request asks
for ``ready`` only), so that a gRPC-only certification without ``--model`` finds ``echo``.

(A 500 with an error body is allowed by the protocol, "typically 400", and so is answering
``ready: false`` for a model the server does not know: those two are interlock's rules only.)

Run it alone with ``python tests/oip_nonconforming_server.py`` (prints both addresses).
"""

from __future__ import annotations

import gzip
import json
import math
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

MODEL = "echo"
VERSION = "1"
INPUT = "x"
OUTPUTS = ("y", "doubled")
LIMIT = 1 << 20

#: Every deviation, by the requirement ID the checker must report it under (with
#: PROFILE_OF_DEVIATION giving each one's profile).
DEVIATIONS = {
    "SRV-050": "health/live answers 200 without a body",
    "SRV-090": "malformed JSON answers 500; unknown models answer 200",
    "SRV-094": "malformed JSON answers 500",
    "SRV-053": "metadata writes FLOAT32 for output y",
    "SRV-083": "binary outputs lack binary_data_size",
    "SRV-055": "REST responses do not echo the request id",
    "SRV-112": "gRPC ModelReady of an unknown model answers ready: false",
    "SRV-138": "gRPC responses do not echo the request id",
    "SRV-135": "gRPC shared-memory parameters are ignored",
    "SRV-202": "metadata writes FLOAT32 for output y (not a datatype of the protocol)",
    "SRV-204": "an unknown model answers 200",
    "SRV-205": "REST responses do not echo the request id",
    "SRV-211": "binary outputs lack binary_data_size",
    "SRV-223": "gRPC responses do not echo the request id",
}

#: The profile of each deviation's requirement (serving.md, "Profiles").
PROFILE_OF_DEVIATION = {
    "SRV-050": "oip-core", "SRV-202": "oip-core", "SRV-204": "oip-core", "SRV-205": "oip-core",
    "SRV-223": "oip-core", "SRV-211": "binary-data",
    **{i: "interlock-serving" for i in ("SRV-053", "SRV-055", "SRV-083", "SRV-090", "SRV-094",
                                        "SRV-112", "SRV-135", "SRV-138")},
}


class BadRequest(Exception):
    """Answered 400 (gRPC INVALID_ARGUMENT); ``status`` overrides the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def run_model(x: np.ndarray) -> dict[str, np.ndarray]:
    """The model: y = x, doubled = 2x."""
    return {"y": x.copy(), "doubled": (x * 2).astype(np.float32)}


def check_tensor(name: str, datatype: object, shape: object) -> list[int]:
    """The input's declared name, datatype and shape against the model's signature."""
    if name != INPUT:
        raise BadRequest(f"input {name!r} is not an input of {MODEL!r} (it has {INPUT!r})")
    if datatype != "FP32":
        raise BadRequest(f"input {name!r}: datatype {datatype!r}, the model takes FP32")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(f"input {name!r}: shape {shape!r} is not a list of sizes")
    if len(shape) != 2 or shape[1] != 3:
        raise BadRequest(f"input {name!r}: shape {shape}, the model takes [-1, 3]")
    return shape


def from_bytes(name: str, shape: list[int], raw: bytes) -> np.ndarray:
    """Little-endian FP32 bytes as an array, their size checked against the shape."""
    if len(raw) != math.prod(shape) * 4:
        raise BadRequest(f"input {name!r}: {len(raw)} bytes for shape {shape}")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)


def _rectangular(data: object, shape: list[int]) -> list[object]:
    if not isinstance(data, list):
        return [data]
    if not shape or len(data) != shape[0]:
        raise BadRequest("nested data does not match the shape")
    flat: list[object] = []
    for item in data:
        if isinstance(item, list) != (len(shape) > 1):
            raise BadRequest("nested data does not match the shape")
        flat.extend(_rectangular(item, shape[1:]) if isinstance(item, list) else [item])
    return flat


def from_json(name: str, shape: list[int], data: object) -> np.ndarray:
    """JSON data (flat or nested) as an array, element types and count checked."""
    nested = isinstance(data, list) and any(isinstance(v, list) for v in data)
    flat = _rectangular(data, shape) if nested else (data if isinstance(data, list) else [data])
    if len(flat) != math.prod(shape):
        raise BadRequest(f"input {name!r}: {len(flat)} elements for shape {shape}")
    if not all(type(v) in (int, float) for v in flat):
        raise BadRequest(f"input {name!r}: elements must be numbers")
    return np.array(flat, dtype=np.float32).reshape(shape)


def selected_outputs(requested: object) -> list[tuple[str, dict[str, Any]]]:
    """The outputs a request asks for, with their parameters (all, in order, by default)."""
    if requested is None:
        return [(name, {}) for name in OUTPUTS]
    if not isinstance(requested, list):
        raise BadRequest("'outputs' must be a list")
    chosen: list[tuple[str, dict[str, Any]]] = []
    for entry in requested:
        name = entry.get("name") if isinstance(entry, dict) else None
        parameters = entry.get("parameters", {}) if isinstance(entry, dict) else None
        if name not in OUTPUTS or name in [n for n, _ in chosen]:
            raise BadRequest(f"output {name!r} is unknown or asked twice")
        if not isinstance(parameters, dict) or "classification" in parameters:
            raise BadRequest(f"output {name!r}: unsupported parameters")
        chosen.append((name, parameters))
    return chosen


# -- REST --------------------------------------------------------------------------------------


def _metadata() -> bytes:
    tensor = {"name": INPUT, "datatype": "FP32", "shape": [-1, 3]}
    outputs = [{"name": "y", "datatype": "FLOAT32", "shape": [-1, 3]},  # deviation: SRV-053
               {"name": "doubled", "datatype": "FP32", "shape": [-1, 3]}]
    return json.dumps({"name": MODEL, "versions": [VERSION], "platform": "onnx",
                       "inputs": [tensor], "outputs": outputs}).encode()


def _flag(parameters: dict[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if type(value) is not bool:
        raise BadRequest(f"parameter {key!r} must be true or false")
    return value


def rest_infer(body: bytes, header_length: str | None) -> tuple[bytes, dict[str, str]]:
    """Answer one REST inference request: (body, headers)."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequest(f"bad Inference-Header-Content-Length {header_length!r}")
        json_part, binary = body[: int(header_length)], body[int(header_length):]
    else:
        json_part, binary = body, b""
    try:
        request = json.loads(json_part)
    except ValueError:
        raise BadRequest("the body is not JSON", status=500) from None  # deviation: SRV-094
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest("the body must be an object with an 'inputs' list")
    parameters = request.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest("'parameters' must be an object")
    all_binary = _flag(parameters, "binary_data_output")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for entry in request["inputs"]:
        if not isinstance(entry, dict):
            raise BadRequest("each input must be an object")
        name = entry.get("name")
        shape = check_tensor(str(name), entry.get("datatype"), entry.get("shape"))
        if name in inputs:
            raise BadRequest(f"input {name!r} is given twice")
        input_parameters = entry.get("parameters", {})
        if not isinstance(input_parameters, dict):
            raise BadRequest(f"input {name!r}: 'parameters' must be an object")
        size = input_parameters.get("binary_data_size")
        if size is not None:
            if "data" in entry or type(size) is not int or offset + size > len(binary):
                raise BadRequest(f"input {name!r}: bad binary_data_size {size!r}")
            inputs[str(name)] = from_bytes(str(name), shape, binary[offset:offset + size])
            offset += size
        else:
            inputs[str(name)] = from_json(str(name), shape, entry.get("data"))
    if offset != len(binary):
        raise BadRequest("binary data left over after the last input")
    if INPUT not in inputs:
        raise BadRequest(f"input {INPUT!r} is missing")
    results = run_model(inputs[INPUT])
    entries, chunks = [], []
    for name, output_parameters in selected_outputs(request.get("outputs")):
        value = results[name]
        entry = {"name": name, "datatype": "FP32", "shape": list(value.shape)}
        binary_wanted = _flag(output_parameters, "binary_data") if "binary_data" in \
            output_parameters else all_binary
        if binary_wanted:
            chunks.append(value.astype("<f4").tobytes())  # deviation: no binary_data_size
        else:
            entry["data"] = [v if math.isfinite(v) else None for v in value.ravel().tolist()]
        entries.append(entry)
    # deviation: SRV-055, the request id is not echoed
    response = {"model_name": MODEL, "model_version": VERSION, "outputs": entries}
    document = json.dumps(response).encode()
    if not chunks:
        return document, {"Content-Type": "application/json"}
    return document + b"".join(chunks), {"Content-Type": "application/octet-stream",
                                         "Inference-Header-Content-Length": str(len(document))}


class Handler(BaseHTTPRequestHandler):
    """The REST endpoints."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Stay quiet."""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": message}).encode(),
                   {"Content-Type": "application/json", **(headers or {})})

    def _route(self, method: str) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["v2", "health", "live"]:
            return self._only(method, "GET", lambda: self._send(200, b""))  # deviation: SRV-050
        if parts == ["v2", "health", "ready"]:
            return self._only(method, "GET", lambda: self._send(200, b'{"ready": true}'))
        if parts == ["v2"]:
            info = {"name": "nonconforming", "version": "0.0",
                    "extensions": ["binary_tensor_data"]}
            return self._only(method, "GET", lambda: self._send(200, json.dumps(info).encode()))
        if len(parts) < 3 or parts[:2] != ["v2", "models"]:
            return self._error(404, f"no endpoint {self.path}")
        rest = parts[3:]  # deviation: SRV-090, every model name is served as echo
        if rest[:1] == ["versions"]:
            if len(rest) < 2 or rest[1] != VERSION:
                return self._error(404, f"model {MODEL!r} has no version {rest[1:2]}")
            rest = rest[2:]
        if rest == []:
            return self._only(method, "GET", lambda: self._send(200, _metadata()))
        if rest == ["ready"]:
            body = json.dumps({"name": parts[2], "ready": True}).encode()
            return self._only(method, "GET", lambda: self._send(200, body))
        if rest == ["infer"]:
            return self._only(method, "POST", self._infer)
        return self._error(404, f"no endpoint {self.path}")

    def _only(self, method: str, allowed: str, answer: Any) -> None:
        if method != allowed:
            return self._error(405, f"{self.path} takes {allowed}", {"Allow": allowed})
        try:
            answer()
        except BadRequest as exc:
            self._error(exc.status, str(exc))

    def _infer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > LIMIT:
            self.close_connection = True
            return self._error(413, f"the body of {length} bytes is over {LIMIT}",
                               {"Connection": "close"})
        body = self.rfile.read(length)
        encoding = (self.headers.get("Content-Encoding") or "identity").lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding != "identity":
                raise BadRequest(f"Content-Encoding {encoding!r} is not supported")
        except (OSError, zlib.error):
            raise BadRequest("the body does not decompress") from None
        answer, headers = rest_infer(body, self.headers.get("Inference-Header-Content-Length"))
        self._send(200, answer, headers)

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        """GET."""
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        """POST."""
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        """DELETE."""
        self._route("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        """PUT."""
        self._route("PUT")


# -- gRPC --------------------------------------------------------------------------------------


def _grpc_handlers() -> Any:
    """The six RPCs over raw bytes, parsed with the protocol's generated messages."""
    import grpc
    from google.protobuf.message import DecodeError

    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

    def rpc(message_type: Any, body: Any) -> Any:
        def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                request = message_type.FromString(raw)
            except DecodeError:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not protobuf")
            try:
                response: bytes = body(request, context).SerializeToString()
            except BadRequest as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return response

        return grpc.unary_unary_rpc_method_handler(handle)

    def known(name: str, version: str, context: grpc.ServicerContext) -> None:
        if name != MODEL or version not in ("", VERSION):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no model {name!r} version {version!r}")

    def model_ready(request: Any, context: grpc.ServicerContext) -> Any:
        # deviation: SRV-112, an unknown model is "not ready" instead of NOT_FOUND
        ready = request.name == MODEL and request.version in ("", VERSION)
        return pb.ModelReadyResponse(ready=ready)

    def model_metadata(request: Any, context: grpc.ServicerContext) -> Any:
        known(request.name, request.version, context)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=MODEL, versions=[VERSION], platform="onnx_onnxv1",
            inputs=[tensor(name=INPUT, datatype="FP32", shape=[-1, 3])],
            outputs=[tensor(name=n, datatype="FP32", shape=[-1, 3]) for n in OUTPUTS],
        )

    def model_infer(request: Any, context: grpc.ServicerContext) -> Any:
        known(request.model_name, request.model_version, context)
        # deviation: SRV-135, shared-memory parameters are not refused
        if len(request.raw_input_contents) != len(request.inputs):
            raise BadRequest("one raw_input_contents entry per input")
        inputs: dict[str, np.ndarray] = {}
        for tensor, raw in zip(request.inputs, request.raw_input_contents):
            if tensor.HasField("contents") or tensor.name in inputs:
                raise BadRequest(f"input {tensor.name!r}: typed contents or given twice")
            shape = check_tensor(tensor.name, tensor.datatype, [int(d) for d in tensor.shape])
            inputs[tensor.name] = from_bytes(tensor.name, shape, raw)
        if INPUT not in inputs:
            raise BadRequest(f"input {INPUT!r} is missing")
        results = run_model(inputs[INPUT])
        requested = [{"name": o.name, "parameters": {k: True for k in o.parameters}}
                     for o in request.outputs] or None
        response = pb.ModelInferResponse(model_name=MODEL, model_version=VERSION)  # no id: SRV-138
        for name, _ in selected_outputs(requested):
            value = results[name]
            response.outputs.add(name=name, datatype="FP32", shape=list(value.shape))
            response.raw_output_contents.append(value.astype("<f4").tobytes())
        return response

    def repository_index(raw: bytes, context: grpc.ServicerContext) -> bytes:
        from tritonclient.grpc import service_pb2 as triton

        request = triton.RepositoryIndexRequest.FromString(raw)
        entry = triton.RepositoryIndexResponse.ModelIndex
        models = [entry(name=MODEL, version=VERSION, state="READY")]
        if not request.ready:
            models.append(entry(name="warming", version="1", state="UNAVAILABLE",
                                reason="loading"))
        return bytes(triton.RepositoryIndexResponse(models=models).SerializeToString())

    return grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {
        "RepositoryIndex": grpc.unary_unary_rpc_method_handler(repository_index),
        "ServerLive": rpc(pb.ServerLiveRequest, lambda r, c: pb.ServerLiveResponse(live=True)),
        "ServerReady": rpc(pb.ServerReadyRequest, lambda r, c: pb.ServerReadyResponse(ready=True)),
        "ModelReady": rpc(pb.ModelReadyRequest, model_ready),
        "ServerMetadata": rpc(pb.ServerMetadataRequest, lambda r, c: pb.ServerMetadataResponse(
            name="nonconforming", version="0.0")),
        "ModelMetadata": rpc(pb.ModelMetadataRequest, model_metadata),
        "ModelInfer": rpc(pb.ModelInferRequest, model_infer),
    })


class NonconformingServer:
    """Both front ends on 127.0.0.1, on free ports; ``stop()`` ends them."""

    def __init__(self) -> None:
        import grpc

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.grpc.add_generic_rpc_handlers((_grpc_handlers(),))
        grpc_port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.grpc.start()
        self.http_url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.grpc_address = f"127.0.0.1:{grpc_port}"

    def stop(self) -> None:
        """Stop both servers."""
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(grace=None).wait()


if __name__ == "__main__":
    server = NonconformingServer()
    print(server.http_url, server.grpc_address, flush=True)
    threading.Event().wait()
