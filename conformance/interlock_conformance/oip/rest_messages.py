"""The REST messages of the server checker: requests built and answers judged.

The checks in :mod:`interlock_conformance.oip.rest_checks` use these helpers, over the serving
kit's client (:class:`interlock.serving.oip.client.RestClient`, one request per connection):
model metadata read once per model, request tensors made from that metadata
(or taken from known golden inputs), inference requests written as JSON or with the binary
tensor data extension, and responses read back with every protocol detail checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.serving.oip.client import Response, model_path

from interlock_conformance.oip.checks import Blocked, CheckFailure, NotApplicable, Target
from interlock_conformance.oip.tensors import (
    DATATYPES,
    TensorProblem,
    decode_binary,
    encode_binary,
    from_json_data,
    make_tensor,
    same_values,
    to_json_data,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "InferOutput",
    "Tensor",
    "any_model",
    "check_outputs_against_metadata",
    "declared_outputs",
    "expect_error",
    "infer",
    "infer_request",
    "json_document",
    "json_object",
    "model_path",
    "output_names",
    "pick_model",
    "post_infer",
    "read_infer_response",
    "request_tensors",
    "rest_metadata",
    "same_outputs",
]

#: A request tensor: name, OIP datatype, values.
Tensor = tuple[str, str, "np.ndarray"]

_HEADER_LENGTH = "inference-header-content-length"


def json_document(response: Response) -> Any:
    """The body parsed as JSON; :class:`CheckFailure` if it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        raise CheckFailure(
            f"{response.what} answered {response.status} with a body that is not JSON: "
            f"{response.body[:120]!r}"
        ) from None


def json_object(response: Response) -> dict[str, Any]:
    """The body as a JSON object; :class:`CheckFailure` otherwise."""
    document = json_document(response)
    if not isinstance(document, dict):
        raise CheckFailure(
            f"{response.what} answered {response.status} with {response.body[:120]!r}, not a "
            "JSON object"
        )
    return document


def expect_error(response: Response, status: int, why: str) -> None:
    """The answer is ``status`` with an error body ``{"error": "<message>"}`` in JSON
    (serving.md SRV-090); :class:`CheckFailure` naming what differs otherwise: a wrong status
    breaks every requirement of the check (each names the status it expects), a wrong body
    only SRV-090."""
    if response.status != status:
        raise CheckFailure(
            f"{response.what} {why} answered {response.status}, expected {status}"
            + (f" (body {response.body[:120]!r})" if response.body else "")
        )
    content_type = (response.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise CheckFailure(
            f"{response.what} {why} answered {status} with Content-Type {content_type or 'none'}"
            ", expected application/json",
            requirement="SRV-090",
        )
    document = json_document(response)
    if not (isinstance(document, dict) and isinstance(document.get("error"), str)
            and document["error"].strip()):
        raise CheckFailure(
            f"{response.what} {why} answered {status} with {response.body[:120]!r}, not "
            '{"error": "<message>"}',
            requirement="SRV-090",
        )


def _valid_shape(shape: object) -> bool:
    return isinstance(shape, list) and all(type(d) is int and d >= -1 for d in shape)


def rest_metadata(target: Target, model: str) -> dict[str, Any]:
    """``GET /v2/models/{model}``, once per model; :class:`Blocked` (SRV-053) when it cannot
    tell the checks how to build a request."""
    cache: dict[str, dict[str, Any]] = target.cache.setdefault("rest-metadata", {})
    if model in cache:
        return cache[model]
    response = target.rest.request("GET", model_path(model))
    if response.status != 200:
        raise Blocked(("SRV-053",), f"{response.what} answered {response.status}, so no "
                      "request can be built for the model")
    document = json_object(response)
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not all(
        isinstance(t, dict) and isinstance(t.get("name"), str) and t.get("datatype") in DATATYPES
        and _valid_shape(t.get("shape"))
        for t in inputs
    ):
        raise Blocked(("SRV-053",), f"{response.what} lists inputs {str(inputs)[:200]} that "
                      "are not {name, datatype, shape} with protocol datatypes")
    cache[model] = document
    return document


def declared_outputs(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metadata's well-formed output entries (checks compare only against those)."""
    outputs = metadata.get("outputs")
    if not isinstance(outputs, list):
        return []
    return [
        t for t in outputs
        if isinstance(t, dict) and isinstance(t.get("name"), str)
        and t.get("datatype") in DATATYPES and _valid_shape(t.get("shape"))
    ]


def output_names(metadata: Mapping[str, Any]) -> list[str]:
    """The names of the outputs the metadata lists, in order (whatever else is wrong)."""
    outputs = metadata.get("outputs")
    if not isinstance(outputs, list):
        return []
    return [t["name"] for t in outputs if isinstance(t, dict) and isinstance(t.get("name"), str)]


def request_tensors(target: Target, metadata: Mapping[str, Any], model: str,
                    *, golden: bool = False) -> list[Tensor]:
    """The inputs to send: the known golden inputs when ``golden``, else values made from the
    metadata (every -1 dimension 2)."""
    tensors: list[Tensor] = []
    expected = target.expected_model(model) if golden else None
    for entry in metadata["inputs"]:
        name, datatype = entry["name"], entry["datatype"]
        if DATATYPES[datatype] is None:
            raise NotApplicable(f"input {name!r} of {model!r} is {datatype}: no values to send")
        if expected is not None:
            if name not in expected.inputs:
                raise Blocked(("SRV-053",), f"the metadata of {model!r} lists input {name!r}, "
                              f"which the model does not have (it has {sorted(expected.inputs)})")
            tensors.append((name, datatype, expected.inputs[name]))
        else:
            shape = [2 if d == -1 else d for d in entry["shape"]]
            tensors.append((name, datatype, make_tensor(datatype, shape, seed=len(tensors))))
    return tensors


def infer_request(
    tensors: Sequence[Tensor],
    *,
    binary_inputs: bool = False,
    outputs: list[dict[str, Any]] | None = None,
    parameters: dict[str, Any] | None = None,
    request_id: str | None = None,
    nested: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """An inference request body and its headers."""
    document: dict[str, Any] = {}
    chunks: list[bytes] = []
    entries = []
    for name, datatype, array in tensors:
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary_inputs:
            raw = encode_binary(array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            data = to_json_data(array)
            entry["data"] = _nest(data, list(array.shape)) if nested else data
        entries.append(entry)
    if request_id is not None:
        document["id"] = request_id
    if parameters is not None:
        document["parameters"] = parameters
    document["inputs"] = entries
    if outputs is not None:
        document["outputs"] = outputs
    json_part = json.dumps(document).encode()
    if not binary_inputs:
        return json_part, {"Content-Type": "application/json"}
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(json_part)),
    }
    return json_part + b"".join(chunks), headers


def _nest(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) <= 1:
        return flat
    step = math.prod(shape[1:])
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


@dataclass
class InferOutput:
    """One output of an inference response, decoded."""

    name: str
    datatype: str
    shape: list[int]
    values: np.ndarray
    binary: bool


def read_infer_response(response: Response) -> tuple[dict[str, Any], list[InferOutput]]:
    """Split and decode a 200 inference response; :class:`CheckFailure` for anything that
    breaks the protocol's response format: the status (for the check to judge), the JSON
    response of SRV-055, the binary outputs of SRV-083."""
    what = response.what
    if response.status != 200:
        raise CheckFailure(f"{what} answered {response.status}, expected 200: "
                           f"{response.body[:200]!r}")
    document, binary = _split_response(response)
    decoded: list[InferOutput] = []
    offset = 0
    for index, entry in enumerate(document["outputs"]):
        output, size = _read_output(what, index, entry, binary, offset)
        decoded.append(output)
        offset += size
    if offset != len(binary):
        raise CheckFailure(f"{what}: {len(binary) - offset} byte(s) of binary data follow the "
                           "outputs that no output claims", requirement="SRV-083")
    return document, decoded


def _split_response(response: Response) -> tuple[dict[str, Any], bytes]:
    """An inference response's JSON document (with an ``outputs`` list) and binary part."""
    what, body = response.what, response.body
    length_header = response.header(_HEADER_LENGTH)
    if length_header is not None:
        if not length_header.isdigit() or int(length_header) > len(body):
            raise Blocked(("SRV-084",), f"{what} answered Inference-Header-Content-Length "
                          f"{length_header!r} for a body of {len(body)} bytes")
        json_part, binary = body[: int(length_header)], body[int(length_header):]
    else:
        json_part, binary = body, b""
    try:
        document = json.loads(json_part)
    except (ValueError, UnicodeDecodeError):
        raise CheckFailure(f"{what}: the response's JSON part does not parse: "
                           f"{json_part[:120]!r}", requirement="SRV-055") from None
    if not isinstance(document, dict) or not isinstance(document.get("outputs"), list):
        raise CheckFailure(f"{what}: the response {json_part[:200]!r} has no 'outputs' list",
                           requirement="SRV-055")
    return document, binary


def _read_output(what: str, index: int, entry: object, binary: bytes,
                 offset: int) -> tuple[InferOutput, int]:
    """Output ``index`` of a response, decoded from its JSON ``data`` or from ``binary`` at
    ``offset``; with the number of binary bytes it takes."""
    where = f"{what}: output {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise CheckFailure(f"{where} is {str(entry)[:120]}, not an object with a name",
                           requirement="SRV-055")
    where = f"{what}: output {entry['name']!r}"
    datatype, shape = entry.get("datatype"), entry.get("shape")
    if datatype not in DATATYPES:
        raise CheckFailure(f"{where} has datatype {datatype!r}, not a protocol datatype",
                           requirement="SRV-055")
    if DATATYPES[datatype] is None:
        raise NotApplicable(f"{where} is {datatype}, which the checker cannot decode")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise CheckFailure(f"{where} has shape {shape!r}, not a list of sizes",
                           requirement="SRV-055")
    parameters = entry.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    # Which rule a malformed output breaks: JSON data (SRV-055) or binary data (SRV-083).
    rule = "SRV-055" if "data" in entry else "SRV-083"
    try:
        if "data" in entry:
            if size is not None:
                raise CheckFailure(f"{where} has both 'data' and binary_data_size",
                                   requirement="SRV-083")
            values = from_json_data(datatype, shape, entry["data"], where)
            return InferOutput(entry["name"], datatype, shape, values, False), 0
        if type(size) is not int or size < 0:
            raise CheckFailure(
                f"{where} has no 'data' and no parameters.binary_data_size (got "
                f"{str(parameters)[:80]}): its values cannot be found",
                requirement="SRV-083",
            )
        if offset + size > len(binary):
            raise CheckFailure(f"{where}: binary_data_size {size} overruns the "
                               f"{len(binary)} bytes of binary data", requirement="SRV-083")
        values = decode_binary(datatype, shape, binary[offset:offset + size], where)
        return InferOutput(entry["name"], datatype, shape, values, True), size
    except TensorProblem as exc:
        raise CheckFailure(str(exc), requirement=rule) from None


def infer(target: Target, model: str, tensors: Sequence[Tensor], **request: Any) -> tuple[
        Response, dict[str, Any], list[InferOutput]]:
    """POST an inference request built by :func:`infer_request`; the decoded answer."""
    body, headers = infer_request(tensors, **request)
    response = target.rest.request("POST", model_path(model) + "/infer", body, headers)
    document, outputs = read_infer_response(response)
    return response, document, outputs


def check_outputs_against_metadata(
    what: str, metadata: Mapping[str, Any], outputs: Sequence[InferOutput]
) -> None:
    """Each output has the datatype the metadata declares and a shape it allows."""
    declared = {t["name"]: t for t in declared_outputs(metadata)}
    for output in outputs:
        entry = declared.get(output.name)
        if entry is None:
            continue
        if output.datatype != entry["datatype"]:
            raise CheckFailure(f"{what}: output {output.name!r} is {output.datatype}, the model "
                               f"metadata declares {entry['datatype']}")
        shape = entry["shape"]
        if len(shape) != len(output.shape) or any(
            d != -1 and d != s for d, s in zip(shape, output.shape)
        ):
            raise CheckFailure(f"{what}: output {output.name!r} has shape {output.shape}, the "
                               f"model metadata declares {shape}")


def post_infer(
    target: Target, model: str, body: bytes, headers: dict[str, str] | None = None
) -> Response:
    """POST ``body`` (as it is) to the model's inference endpoint."""
    if headers is None:
        headers = {"Content-Type": "application/json"}
    return target.rest.request("POST", model_path(model) + "/infer", body, headers)


def pick_model(target: Target, wanted: Callable[[dict[str, Any]], bool],
               what: str) -> tuple[str, dict[str, Any]]:
    """The first model (in the order given) whose metadata satisfies ``wanted``;
    :class:`NotApplicable` naming ``what`` when none does."""
    for model in target.models:
        metadata = rest_metadata(target, model)
        if wanted(metadata):
            return model, metadata
    raise NotApplicable(f"no model given has {what}")


def any_model(target: Target) -> tuple[str, dict[str, Any]]:
    """The first model with an input, and its metadata."""
    return pick_model(target, lambda m: bool(m["inputs"]), "an input")


def same_outputs(what: str, actual: list[InferOutput], expected: list[InferOutput]) -> None:
    """``actual`` has the outputs of ``expected``, in order, with their datatypes and values."""
    wanted = {o.name: o for o in expected}
    if [o.name for o in actual] != [o.name for o in expected]:
        raise CheckFailure(f"{what}: outputs {[o.name for o in actual]}, expected "
                           f"{[o.name for o in expected]}")
    for output in actual:
        reference = wanted[output.name]
        if output.datatype != reference.datatype:
            raise CheckFailure(f"{what}: output {output.name!r} is {output.datatype}, "
                               f"{reference.datatype} before")
        problem = same_values(output.values, reference.values)
        if problem:
            raise CheckFailure(f"{what}: output {output.name!r}: {problem}")
