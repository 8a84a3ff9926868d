"""A minimal Open Inference Protocol client, REST (JSON or binary tensors) and gRPC.

Enough to call any OIP server from Python without a third-party client: the quickstart uses it,
and integrators may too. Only NumPy, the standard library and (for gRPC) ``grpcio`` are needed.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import numpy as np

from interlock.serving.oip.datatypes import oip_datatype
from interlock.serving.oip.tensors import decode_binary_tensor, decode_json_tensor, encode_binary_tensor, json_data

__all__ = ["GrpcClient", "OipError", "RestClient"]


class OipError(Exception):
    """The server answered with an error status; ``status`` is the HTTP or gRPC code."""

    def __init__(self, status: object, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class RestClient:
    """Open Inference Protocol over HTTP/REST, one keep-alive connection."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"expected an http://host:port URL, got {url!r}")
        self._connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _request(self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        self._connection.request(method, path, body=body, headers={**self._headers, **(headers or {})})
        response = self._connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def ready(self, model: str | None = None) -> bool:
        """Whether the server (or ``model``) is ready."""
        path = f"/v2/models/{model}/ready" if model else "/v2/health/ready"
        status, _, _ = self._request("GET", path)
        return status == 200

    def metadata(self, model: str) -> dict[str, Any]:
        """The model's metadata document."""
        status, _, body = self._request("GET", f"/v2/models/{model}")
        if status != 200:
            raise OipError(status, json.loads(body).get("error", ""))
        result: dict[str, Any] = json.loads(body)
        return result

    def infer(
        self, model: str, inputs: Mapping[str, np.ndarray], *, version: str | None = None, binary: bool = True
    ) -> dict[str, np.ndarray]:
        """Run inference; with ``binary`` the tensors travel as the binary data extension."""
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        tensors, chunks = [], []
        for name, array in inputs.items():
            array = np.asarray(array)
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
        if binary:
            request["parameters"] = {"binary_data_output": True}
        header = json.dumps(request).encode()
        headers = {"Content-Type": "application/json"}
        if binary:
            headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
        status, response_headers, body = self._request("POST", path, header + b"".join(chunks), headers)
        json_length = int(response_headers.get("inference-header-content-length", len(body)))
        document = json.loads(body[:json_length])
        if status != 200:
            raise OipError(status, document.get("error", ""))
        outputs, offset = {}, json_length
        for output in document["outputs"]:
            shape = tuple(output["shape"])
            size = (output.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                outputs[output["name"]] = decode_binary_tensor(output["name"], output["datatype"], shape, body[offset : offset + size])
                offset += size
            else:
                outputs[output["name"]] = decode_json_tensor(output["name"], output["datatype"], shape, output["data"])
        return outputs

    def close(self) -> None:
        self._connection.close()


class GrpcClient:
    """Open Inference Protocol over gRPC (``inference.GRPCInferenceService``)."""

    def __init__(self, address: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        import grpc

        from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
        from interlock.serving.oip.proto import open_inference_grpc_pb2_grpc as services

        self._pb = pb
        self._channel = grpc.insecure_channel(address)
        self._stub = services.GRPCInferenceServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout

    def ready(self) -> bool:
        """Whether the server is ready."""
        reply = self._stub.ServerReady(self._pb.ServerReadyRequest(), metadata=self._metadata, timeout=self._timeout)
        return bool(reply.ready)

    def infer(self, model: str, inputs: Mapping[str, np.ndarray], *, version: str | None = None) -> dict[str, np.ndarray]:
        """Run inference with ``raw_input_contents``; decode ``raw_output_contents``."""
        import grpc

        request = self._pb.ModelInferRequest(model_name=model, model_version=version or "")
        for name, array in inputs.items():
            array = np.asarray(array)
            request.inputs.add(name=name, datatype=oip_datatype(array.dtype), shape=list(array.shape))
            request.raw_input_contents.append(encode_binary_tensor(array))
        try:
            reply = self._stub.ModelInfer(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise OipError(exc.code().name, exc.details() or "") from None
        return {
            output.name: decode_binary_tensor(output.name, output.datatype, tuple(output.shape), raw)
            for output, raw in zip(reply.outputs, reply.raw_output_contents)
        }

    def close(self) -> None:
        self._channel.close()
