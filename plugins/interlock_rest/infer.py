"""Inference requests and responses of the REST protocol, with the binary tensor data extension.

A request body is a JSON object, optionally followed by binary tensor data; the
``Inference-Header-Content-Length`` header gives the JSON part's length. Inputs with a
``binary_data_size`` parameter take their bytes from the binary part, in the order they are
listed. Outputs are returned as JSON ``data`` or, when asked (per output ``binary_data``, or
``binary_data_output`` for all), as binary data after the JSON response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from interlock.serving.oip.datatypes import OIP_BY_DTYPE, oip_platform, oip_shape
from interlock.serving.oip.errors import ProtocolError
from interlock.serving.oip.tensors import (
    check_input_names,
    check_shape,
    decode_binary_tensor,
    decode_json_tensor,
    encode_binary_tensor,
    json_data,
)

if TYPE_CHECKING:
    from interlock.servers import Model

__all__ = ["InferCall", "ModelView", "encode_response", "max_json_values", "parse_request"]

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class ModelView:
    """What the REST front end precomputes once per served model version."""

    __slots__ = (
        "all_outputs",
        "input_datatypes",
        "input_names",
        "label",
        "metadata",
        "model",
        "output_datatypes",
        "output_names",
        "ready_body",
    )

    def __init__(self, model: Model) -> None:
        self.model = model
        signature = model.signature
        self.input_datatypes = {s.name: OIP_BY_DTYPE[s.dtype] for s in signature.inputs}
        self.input_names = tuple(s.name for s in signature.inputs)
        self.label = f"model '{model.name}:{model.version}'"
        self.output_datatypes = {s.name: OIP_BY_DTYPE[s.dtype] for s in signature.outputs}
        self.output_names = tuple(s.name for s in signature.outputs)
        # Every output, as JSON (False) or binary (True): what a request without "outputs"
        # gets, built once rather than per request (never mutated).
        self.all_outputs = {
            binary: [(name, binary) for name in self.output_names] for binary in (False, True)
        }
        self.metadata = orjson.dumps(
            {
                "name": model.name,
                "versions": list(model.versions),
                "platform": oip_platform(model.platform),
                "inputs": [
                    {"name": s.name, "datatype": OIP_BY_DTYPE[s.dtype], "shape": oip_shape(s.shape)}
                    for s in signature.inputs
                ],
                "outputs": [
                    {"name": s.name, "datatype": OIP_BY_DTYPE[s.dtype], "shape": oip_shape(s.shape)}
                    for s in signature.outputs
                ],
            }
        )
        self.ready_body = orjson.dumps({"name": model.name, "ready": True})


@dataclass
class InferCall:
    """A parsed request: inputs to run, outputs to return (name, as binary), its id."""

    inputs: dict[str, np.ndarray]
    outputs: list[tuple[str, bool]]
    request_id: str | None


def max_json_values(max_request_bytes: int) -> int:
    """Most JSON values (counted by their separators) one request may carry: a parsed JSON
    value takes some 30 bytes or more, so parsing one request costs about as much memory as
    the body limit, not 16 times that; larger tensors travel as binary data."""
    return max(65_536, max_request_bytes // 32)


def _load_json(data: bytes | memoryview, max_values: int) -> dict[str, Any]:
    if len(data) > max_values and bytes(data).count(b",") >= max_values:
        raise ProtocolError(
            f"the JSON request holds more than {max_values} values",
            hint="send large tensors as binary data (the binary tensor data extension: a "
            "'binary_data_size' parameter per input)",
        )
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(
            f"the request body is not valid JSON: {exc}",
            hint="send a JSON inference request object; with binary data, set the "
            "Inference-Header-Content-Length header to the JSON part's length",
        ) from None
    if type(document) is not dict:
        raise ProtocolError(
            f"the request body must be a JSON object, got {type(document).__name__}",
            hint='send {"inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]}',
        )
    return document


def _parameters(where: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise ProtocolError(
            f"{where}: 'parameters' must be a JSON object, got {type(value).__name__}",
            hint='for example "parameters": {"binary_data": true}',
        )
    return value


def _flag(where: str, parameters: dict[str, Any], key: str, default: bool) -> bool:
    value = parameters.get(key, default)
    if type(value) is not bool:
        raise ProtocolError(
            f"{where}: parameter {key!r} must be true or false, got {value!r}"[:200],
            hint=f'for example "{key}": true',
        )
    return value


def parse_request(
    view: ModelView, body: bytes, header_length: int | None, max_values: int = 1 << 21
) -> InferCall:
    """Parse an inference request body for ``view``'s model, or raise :class:`ProtocolError`
    (also for JSON of more than ``max_values`` values, :func:`max_json_values`)."""
    document, binary = _split_body(body, header_length, max_values)
    request_id = document.get("id")
    if request_id is not None and type(request_id) is not str:
        raise ProtocolError(
            f"'id' must be a string, got {type(request_id).__name__}", hint='for example "id": "42"'
        )
    parameters = document.get("parameters")
    binary_default = parameters is not None and _flag(
        "the request", _parameters("the request", parameters), "binary_data_output", False
    )
    items = document.get("inputs")
    if type(items) is not list:
        raise ProtocolError(
            "the request has no 'inputs' list",
            hint='send "inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]',
        )
    # Names and counts first: no tensor is decoded for a request the model cannot take.
    check_input_names(
        view.label,
        [i["name"] for i in items if type(i) is dict and type(i.get("name")) is str],
        view.input_names,
    )
    inputs: dict[str, np.ndarray] = {}
    offset = 0  # where the next binary input starts
    for index, item in enumerate(items):
        offset = _decode_input(view, index, item, binary, offset, inputs)
    if binary is not None and offset != len(binary):
        raise ProtocolError(
            f"the request carries {len(binary) - offset} bytes of binary data that no input claims",
            hint="each binary input needs a 'binary_data_size' parameter with its byte length",
        )
    return InferCall(
        inputs, _requested_outputs(view, document.get("outputs"), binary_default), request_id
    )


def _split_body(
    body: bytes, header_length: int | None, max_values: int
) -> tuple[dict[str, Any], memoryview | None]:
    """The request's JSON document, and the binary data after it (None without the header)."""
    if header_length is None:
        return _load_json(body, max_values), None
    if header_length > len(body):
        raise ProtocolError(
            f"Inference-Header-Content-Length is {header_length} but the body has only "
            f"{len(body)} bytes",
            hint="the header gives the length of the JSON part that starts the body",
        )
    whole = memoryview(body)
    return _load_json(whole[:header_length], max_values), whole[header_length:]


def _decode_input(
    view: ModelView,
    index: int,
    item: object,
    binary: memoryview | None,
    offset: int,
    inputs: dict[str, np.ndarray],
) -> int:
    """Decode ``inputs[index]`` into ``inputs``; return where the next binary input starts."""
    if type(item) is not dict:
        raise ProtocolError(f"inputs[{index}] must be a JSON object", hint="see the protocol")
    name = item.get("name")
    if type(name) is not str:
        raise ProtocolError(f"inputs[{index}] has no 'name' string", hint="name every input tensor")
    if name in inputs:
        raise ProtocolError(f"input {name!r} is given twice", hint="send each input once")
    datatype = item.get("datatype")
    expected = view.input_datatypes.get(name)
    if expected is not None and datatype != expected:
        raise ProtocolError(
            f"input {name!r}: datatype {datatype!r} does not match the model's {expected}"[:300],
            hint=f'send "datatype": "{expected}"',
        )
    shape = check_shape(name, item.get("shape"))
    item_parameters = item.get("parameters")
    size = (
        None
        if item_parameters is None  # the usual case: no message to format
        else _parameters(f"input {name!r}", item_parameters).get("binary_data_size")
    )
    if size is None:
        if "data" not in item:
            raise ProtocolError(
                f"input {name!r} has neither 'data' nor a 'binary_data_size' parameter",
                hint="send the elements in 'data', or as binary data after the JSON",
            )
        inputs[name] = decode_json_tensor(name, datatype, shape, item["data"])
        return offset
    if type(size) is not int or size < 0:
        raise ProtocolError(
            f"input {name!r}: 'binary_data_size' must be a non-negative integer",
            hint="give the byte length of the input's binary data",
        )
    if "data" in item:
        raise ProtocolError(
            f"input {name!r} has both 'data' and 'binary_data_size'",
            hint="send the tensor either as JSON data or as binary data",
        )
    if binary is None or offset + size > len(binary):
        available = 0 if binary is None else len(binary) - offset
        raise ProtocolError(
            f"input {name!r} declares {size} bytes of binary data but {available} remain"
            + ("" if binary is not None else " (no Inference-Header-Content-Length header)"),
            hint="append each binary input after the JSON, in order, and set "
            "Inference-Header-Content-Length to the JSON part's length",
        )
    inputs[name] = decode_binary_tensor(name, datatype, shape, binary[offset : offset + size])
    return offset + size


def _requested_outputs(
    view: ModelView, items: object, binary_default: bool
) -> list[tuple[str, bool]]:
    if items is None:
        return view.all_outputs[binary_default]
    if type(items) is not list:
        raise ProtocolError("'outputs' must be a list", hint='send "outputs": [{"name": ...}]')
    requested: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = item.get("name") if type(item) is dict else None
        if type(name) is not str:
            raise ProtocolError(
                f"outputs[{index}] must be an object with a 'name' string",
                hint='send "outputs": [{"name": ...}]',
            )
        if name not in view.output_datatypes:
            raise ProtocolError(
                f"the model has no output {name!r} (outputs: {', '.join(view.output_names)})"[:300],
                hint="request outputs by the names model metadata lists",
            )
        if name in seen:
            raise ProtocolError(f"output {name!r} is requested twice", hint="request it once")
        seen.add(name)
        parameters = _parameters(f"output {name!r}", item.get("parameters"))
        if "classification" in parameters:
            raise ProtocolError(
                f"output {name!r}: the classification extension is not supported",
                hint="request the raw output and rank it on the client",
            )
        requested.append(
            (name, _flag(f"output {name!r}", parameters, "binary_data", binary_default))
        )
    return requested


def encode_response(
    view: ModelView, call: InferCall, outputs: Mapping[str, np.ndarray]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when binary data follows it."""
    model = view.model
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary in call.outputs:
        array = outputs[name]
        entry: dict[str, Any] = {
            "name": name,
            "datatype": view.output_datatypes[name],
            "shape": list(array.shape),
        }
        if binary:
            raw = encode_binary_tensor(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = json_data(name, array)
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if call.request_id is not None:
        response["id"] = call.request_id
    response["outputs"] = entries
    header = orjson.dumps(response, option=_DUMPS_OPTIONS)
    if not chunks:
        return header, None
    return b"".join((header, *chunks)), len(header)
