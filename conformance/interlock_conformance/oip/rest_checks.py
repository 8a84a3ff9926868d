"""The REST checks of the server checker, each tied to the serving.md IDs it verifies.

Every check builds its requests from the protocol and from the model metadata the server
reports, so it applies to any Open Inference Protocol server; where the caller knows more (the
golden models interlock's suite serves), the ``golden_*`` checks compare values too.
"""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

from interlock_conformance.oip.checks import (
    CheckFailure,
    Target,
    check,
)
from interlock_conformance.oip.rest_messages import (
    any_model,
    check_outputs_against_metadata,
    expect_error,
    infer,
    infer_request,
    json_object,
    model_path,
    output_names,
    pick_model,
    post_infer,
    read_infer_response,
    request_tensors,
    rest_metadata,
    same_outputs,
)

__all__: list[str] = []

_BINARY = ("rest.binary-data",)
_NO_SUCH = "interlock-check-no-such-model"


def _numeric_input(metadata: dict[str, Any]) -> dict[str, Any] | None:
    for entry in metadata["inputs"]:
        if entry["datatype"] not in ("BYTES", "BOOL", "BF16"):
            return dict(entry)
    return None


# -- health and server metadata ----------------------------------------------------------------


@check("rest", "SRV-050", needs_models=False)
def check_health_live(target: Target, model: str) -> None:
    """GET /v2/health/live answers 200 {"live": true}."""
    response = target.rest.request("GET", "/v2/health/live", auth=False)
    if response.status != 200:
        raise CheckFailure(f"{response.what} answered {response.status}, expected 200")
    if not response.body:
        raise CheckFailure(f'{response.what} answered 200 without a body; expected '
                           f'{{"live": true}}')
    document = json_object(response)
    if document.get("live") is not True:
        raise CheckFailure(f'{response.what} answered {response.body[:80]!r}, expected '
                           f'{{"live": true}}')


@check("rest", "SRV-051", needs_models=False)
def check_health_ready(target: Target, model: str) -> None:
    """GET /v2/health/ready answers 200 {"ready": true} once the models are loaded."""
    response = target.rest.request("GET", "/v2/health/ready", auth=False)
    if response.status != 200:
        raise CheckFailure(f"{response.what} answered {response.status}, expected 200 (ready)")
    if not response.body or json_object(response).get("ready") is not True:
        raise CheckFailure(f'{response.what} answered {response.body[:80]!r}, expected '
                           f'{{"ready": true}}')


@check("rest", "SRV-052", needs_models=False)
def check_server_metadata(target: Target, model: str) -> None:
    """GET /v2 answers {name, version, extensions}; binary_tensor_data when claimed."""
    response = target.rest.request("GET", "/v2")
    if response.status != 200:
        raise CheckFailure(f"{response.what} answered {response.status}, expected 200")
    document = json_object(response)
    for key in ("name", "version"):
        if not isinstance(document.get(key), str):
            raise CheckFailure(f"{response.what}: '{key}' is {document.get(key)!r}, not a string")
        if not document[key]:
            raise CheckFailure(f"{response.what}: '{key}' is the empty string; interlock's "
                               f"serving profile wants the server's {key} (the protocol allows "
                               "it empty, SRV-201)")
    extensions = document.get("extensions")
    if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
        raise CheckFailure(f"{response.what}: 'extensions' is {extensions!r}, not a list of "
                           f"strings")
    if "rest.binary-data" in target.claims and "binary_tensor_data" not in extensions:
        raise CheckFailure(f"{response.what}: 'extensions' {extensions} lacks binary_tensor_data, "
                           "but the server claims the binary tensor data extension")
    expected = target.expected
    if expected is not None:
        for key, value in (("name", expected.server_name), ("version", expected.server_version)):
            if value is not None and document[key] != value:
                raise CheckFailure(f"{response.what}: '{key}' is {document[key]!r}, expected "
                                   f"{value!r}")


@check("rest", "SRV-059", "SRV-090", needs_models=False)
def check_unknown_path(target: Target, model: str) -> None:
    """A path that is no endpoint answers 404 with an error body."""
    expect_error(target.rest.request("GET", "/v2/interlock-check/no-such-endpoint"), 404,
                 "(no such endpoint)")


@check("rest", "SRV-059", "SRV-090", needs_models=False)
def check_wrong_method(target: Target, model: str) -> None:
    """A method an endpoint does not take answers 405 with an Allow header."""
    for method, path, allowed in (("POST", "/v2/health/live", "GET"), ("DELETE", "/v2", "GET")):
        response = target.rest.request(method, path, b"{}" if method == "POST" else None)
        expect_error(response, 405, "(wrong method)")
        allow = response.header("allow") or ""
        if allowed not in [m.strip().upper() for m in allow.split(",")]:
            raise CheckFailure(f"{response.what} answered 405 with Allow {allow!r}; it must list "
                               f"{allowed}")


# -- model metadata and readiness -----------------------------------------------------------------


def _check_tensor_list(what: str, key: str, value: object) -> None:
    if not isinstance(value, list):
        raise CheckFailure(f"{what}: '{key}' is {value!r}, not a list")
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CheckFailure(f"{what}: an entry of '{key}' is {str(entry)[:100]}, not "
                               "{name, datatype, shape}")
        from interlock_conformance.oip.tensors import DATATYPES

        if entry.get("datatype") not in DATATYPES:
            raise CheckFailure(f"{what}: {key[:-1]} {entry['name']!r} has datatype "
                               f"{entry.get('datatype')!r}, not one of {', '.join(DATATYPES)}")
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(type(d) is int and d >= -1 for d in shape):
            raise CheckFailure(f"{what}: {key[:-1]} {entry['name']!r} has shape {shape!r}; "
                               "write sizes, and -1 for a variable dimension")


@check("rest", "SRV-053", scope="model")
def check_model_metadata(target: Target, model: str) -> None:
    """GET /v2/models/{name}[/versions/{v}] answers name, versions, platform, inputs and
    outputs with protocol datatypes and -1 for variable dimensions."""
    response = target.rest.request("GET", model_path(model))
    if response.status != 200:
        raise CheckFailure(f"{response.what} answered {response.status}, expected 200")
    document = json_object(response)
    if document.get("name") != model:
        raise CheckFailure(f"{response.what}: 'name' is {document.get('name')!r}, expected "
                           f"{model!r}")
    platform, versions = document.get("platform"), document.get("versions", [])
    if not isinstance(platform, str):
        raise CheckFailure(f"{response.what}: 'platform' is {platform!r}, not a string")
    if not platform:
        raise CheckFailure(f"{response.what}: 'platform' is the empty string; interlock's "
                           "serving profile wants the model's platform (the protocol allows it "
                           "empty, SRV-202)")
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise CheckFailure(f"{response.what}: 'versions' is {versions!r}, not a list of strings")
    _check_tensor_list(response.what, "inputs", document.get("inputs"))
    _check_tensor_list(response.what, "outputs", document.get("outputs"))
    expected = target.expected
    if expected is not None and expected.rest_platform and platform != expected.rest_platform:
        raise CheckFailure(f"{response.what}: 'platform' is {platform!r}, expected "
                           f"{expected.rest_platform!r}")
    known = target.expected_model(model)
    if known is not None and known.versions is not None and versions != known.versions:
        raise CheckFailure(f"{response.what}: 'versions' is {versions}, expected {known.versions}")
    for version in versions[-1:]:
        by_version = target.rest.request("GET", model_path(model, version))
        if by_version.status != 200 or json_object(by_version).get("name") != model:
            raise CheckFailure(f"{by_version.what} answered {by_version.status} "
                               f"{by_version.body[:100]!r}, expected the metadata of {model!r}")


@check("rest", "SRV-054", scope="model")
def check_model_ready(target: Target, model: str) -> None:
    """GET /v2/models/{name}[/versions/{v}]/ready answers 200 {"name": name, "ready": true}."""
    versions = rest_metadata(target, model).get("versions") or []
    for version in [None, *versions[-1:]]:
        response = target.rest.request("GET", model_path(model, version) + "/ready")
        if response.status != 200:
            raise CheckFailure(f"{response.what} answered {response.status}, expected 200")
        document = json_object(response)
        if document.get("name") != model or document.get("ready") is not True:
            raise CheckFailure(f"{response.what} answered {response.body[:100]!r}, expected "
                               f'{{"name": "{model}", "ready": true}}')


@check("rest", "SRV-090", needs_models=False)
def check_unknown_model(target: Target, model: str) -> None:
    """Metadata, readiness and inference of a model the server does not serve answer 404."""
    path = model_path(_NO_SUCH)
    body, headers = infer_request([])
    expect_error(target.rest.request("GET", path), 404, "(unknown model)")
    expect_error(target.rest.request("GET", path + "/ready"), 404, "(unknown model)")
    expect_error(target.rest.request("POST", path + "/infer", body, headers), 404,
                 "(unknown model)")


@check("rest", "SRV-090")
def check_unknown_version(target: Target, model: str) -> None:
    """Metadata, readiness and inference of a version the server does not serve answer 404."""
    model, metadata = any_model(target)
    path = model_path(model, "interlock-check-no-such-version")
    body, headers = infer_request(request_tensors(target, metadata, model))
    expect_error(target.rest.request("GET", path), 404, "(unknown version)")
    expect_error(target.rest.request("GET", path + "/ready"), 404, "(unknown version)")
    expect_error(target.rest.request("POST", path + "/infer", body, headers), 404,
                 "(unknown version)")


# -- inference over JSON --------------------------------------------------------------------------


@check("rest", "SRV-055", "SRV-070", scope="model")
def check_infer_json(target: Target, model: str) -> None:
    """Inference with JSON data for every input the metadata declares answers model_name,
    model_version, no id, and every output in metadata order with its datatype and shape."""
    metadata = rest_metadata(target, model)
    response, document, outputs = infer(target, model, request_tensors(target, metadata, model))
    what = response.what
    if document.get("model_name") != model:
        raise CheckFailure(f"{what}: model_name is {document.get('model_name')!r}, expected "
                           f"{model!r}")
    if not isinstance(document.get("model_version"), str):
        raise CheckFailure(f"{what}: model_version is {document.get('model_version')!r}, not a "
                           f"string")
    if "id" in document:
        raise CheckFailure(f"{what}: the response has id {document['id']!r}, the request had none")
    names = output_names(metadata)
    if [o.name for o in outputs] != names:
        raise CheckFailure(f"{what}: outputs {[o.name for o in outputs]}, expected every output "
                           f"in metadata order {names}")
    check_outputs_against_metadata(what, metadata, outputs)


@check("rest", "SRV-055")
def check_request_id(target: Target, model: str) -> None:
    """A request's id is echoed in the response."""
    model, metadata = any_model(target)
    ident = f"interlock-check-{uuid.uuid4().hex[:8]}"
    response, document, _ = infer(target, model, request_tensors(target, metadata, model),
                                  request_id=ident)
    if document.get("id") != ident:
        raise CheckFailure(f"{response.what}: the response id is {document.get('id')!r}, the "
                           f"request's was {ident!r}")


@check("rest", "SRV-072", scope="model")
def check_nested_data(target: Target, model: str) -> None:
    """Nested (row-major) JSON data gives the same outputs as flat data."""
    metadata = rest_metadata(target, model)
    tensors = request_tensors(target, metadata, model)
    _, _, flat = infer(target, model, tensors)
    response, _, nested = infer(target, model, tensors, nested=True)
    same_outputs(f"{response.what} (nested data)", nested, flat)


@check("rest", "SRV-056", scope="model")
def check_output_selection(target: Target, model: str) -> None:
    """A request's outputs list limits the response to those outputs, in the order asked."""
    metadata = rest_metadata(target, model)
    names = output_names(metadata)
    tensors = request_tensors(target, metadata, model)
    for wanted in ([names[-1]], names[::-1]) if names else ():
        response, _, outputs = infer(target, model, tensors, outputs=[{"name": n} for n in wanted])
        if [o.name for o in outputs] != wanted:
            raise CheckFailure(f"{response.what}: asked for outputs {wanted}, got "
                               f"{[o.name for o in outputs]}")


@check("rest", "SRV-056", "SRV-090")
def check_output_selection_errors(target: Target, model: str) -> None:
    """An unknown or repeated output name, or the classification parameter, answers 400."""
    model, metadata = pick_model(target, lambda m: bool(output_names(m)), "a declared output")
    first = output_names(metadata)[0]
    tensors = request_tensors(target, metadata, model)
    for outputs, why in (
        ([{"name": "interlock-check-no-such-output"}], "(unknown output)"),
        ([{"name": first}, {"name": first}], "(output asked twice)"),
        ([{"name": first, "parameters": {"classification": 2}}], "(classification)"),
    ):
        body, headers = infer_request(tensors, outputs=outputs)
        response = target.rest.request("POST", model_path(model) + "/infer", body, headers)
        expect_error(response, 400, why)


# -- malformed requests ---------------------------------------------------------------------------


def _document(tensors: list[tuple[str, str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(infer_request(tensors)[0])
    return document


@check("rest", "SRV-090", "SRV-094")
def check_malformed_json(target: Target, model: str) -> None:
    """A body that is not JSON, or not a JSON object, answers 400 (never 5xx)."""
    model, _ = any_model(target)
    for body, why in ((b'{"inputs": [', "(body not JSON)"), (b"[1, 2]", "(body not an object)"),
                      (b'{"inputs": 7}', "('inputs' not a list)")):
        response = post_infer(target, model, body)
        try:
            expect_error(response, 400, why)
        except CheckFailure as failure:
            if failure.requirement is None and not 500 <= response.status < 600:
                # Another status than 400, but no 5xx: SRV-094 holds for this body.
                raise CheckFailure(str(failure), requirement="SRV-090") from None
            raise


@check("rest", "SRV-090")
def check_signature_errors(target: Target, model: str) -> None:
    """A missing input, or an input the model does not declare, answers 400."""
    model, metadata = any_model(target)
    document = _document(request_tensors(target, metadata, model))
    missing = {**document, "inputs": document["inputs"][1:]}
    extra = {**document, "inputs": [*document["inputs"],
                                   {**document["inputs"][0], "name": "interlock_check_extra"}]}
    expect_error(post_infer(target, model, json.dumps(missing).encode()), 400, "(missing input)")
    expect_error(post_infer(target, model, json.dumps(extra).encode()), 400, "(undeclared input)")


@check("rest", "SRV-071", "SRV-090")
def check_wrong_datatype(target: Target, model: str) -> None:
    """An input whose datatype differs from the model's answers 400."""
    model, metadata = any_model(target)
    document = _document(request_tensors(target, metadata, model))
    declared = document["inputs"][0]["datatype"]
    other = "INT32" if declared == "FP32" else "FP32"
    document["inputs"][0]["datatype"] = other
    expect_error(post_infer(target, model, json.dumps(document).encode()), 400,
                 f"(a {declared} input sent as {other})")


@check("rest", "SRV-070", "SRV-090")
def check_bf16_refused(target: Target, model: str) -> None:
    """A BF16 input answers 400."""
    model, metadata = any_model(target)
    document = _document(request_tensors(target, metadata, model))
    document["inputs"][0]["datatype"] = "BF16"
    expect_error(post_infer(target, model, json.dumps(document).encode()), 400, "(a BF16 input)")


@check("rest", "SRV-071", "SRV-090")
def check_bad_shape(target: Target, model: str) -> None:
    """A shape that is not a list of non-negative integers answers 400."""
    model, metadata = any_model(target)
    for shape in ([-1, 3], [2.5], "2"):
        document = _document(request_tensors(target, metadata, model))
        document["inputs"][0]["shape"] = shape
        expect_error(post_infer(target, model, json.dumps(document).encode()), 400,
                     f"(shape {shape!r})")


@check("rest", "SRV-072", "SRV-090")
def check_element_count(target: Target, model: str) -> None:
    """Data whose element count differs from the shape's product, or ragged nested data,
    answers 400."""
    model, metadata = any_model(target)
    document = _document(request_tensors(target, metadata, model))
    entry = document["inputs"][0]
    short = {**document, "inputs": [{**entry, "data": entry["data"][:-1]}, *document["inputs"][1:]]}
    expect_error(post_infer(target, model, json.dumps(short).encode()), 400, "(one element short)")
    data = entry["data"]
    ragged = {**document,
              "inputs": [{**entry, "data": [data[:1], data[1:]]}, *document["inputs"][1:]]}
    if len(data) > 2:
        expect_error(post_infer(target, model, json.dumps(ragged).encode()), 400, "(ragged data)")


@check("rest", "SRV-073", "SRV-090")
def check_bad_elements(target: Target, model: str) -> None:
    """Strings, null or objects in a numeric tensor, and fractions or out-of-range integers in
    an integer tensor, answer 400."""
    model, metadata = pick_model(target, lambda m: _numeric_input(m) is not None, "a numeric input")
    declared = _numeric_input(metadata)
    assert declared is not None
    document = _document(request_tensors(target, metadata, model))
    index = next(i for i, e in enumerate(document["inputs"]) if e["name"] == declared["name"])
    bad: list[object] = ["1", None, {"v": 1}]
    if not declared["datatype"].startswith("FP"):
        bad += [0.5, 2**64]
    for value in bad:
        entry = document["inputs"][index]
        changed = [value, *entry["data"][1:]]
        broken = {**document, "inputs": [
            *document["inputs"][:index], {**entry, "data": changed}, *document["inputs"][index + 1:]
        ]}
        expect_error(post_infer(target, model, json.dumps(broken).encode()), 400,
                     f"({value!r} in a {declared['datatype']} input)")


@check("rest", "SRV-057")
def check_parameters(target: Target, model: str) -> None:
    """Unknown request and input parameters are ignored; a parameters value that is not an
    object answers 400."""
    model, metadata = any_model(target)
    document = _document(request_tensors(target, metadata, model))
    document["parameters"] = {"interlock_check_unknown": 1, "priority": 3}
    document["inputs"][0]["parameters"] = {"interlock_check_unknown": "x"}
    read_infer_response(post_infer(target, model, json.dumps(document).encode()))
    document["parameters"] = [1, 2]
    expect_error(post_infer(target, model, json.dumps(document).encode()), 400,
                 "('parameters' not an object)")


@check("rest", "SRV-058")
def check_content_type_and_encoding(target: Target, model: str) -> None:
    """JSON is accepted without or with any Content-Type, gzip bodies are decoded, and an
    unknown Content-Encoding answers 400."""
    model, metadata = any_model(target)
    body, _ = infer_request(request_tensors(target, metadata, model))
    read_infer_response(post_infer(target, model, body, {}))
    read_infer_response(post_infer(target, model, body, {"Content-Type": "text/plain"}))
    gzipped = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    read_infer_response(post_infer(target, model, gzip.compress(body), gzipped))
    unknown = {"Content-Encoding": "interlock-check-codec"}
    expect_error(post_infer(target, model, body, unknown), 400, "(unknown Content-Encoding)")


@check("rest", "SRV-092", "SRV-090")
def check_huge_declared_body(target: Target, model: str) -> None:
    """A declared Content-Length far above any limit answers 413 before the body is sent."""
    model, _ = any_model(target)
    response = target.rest.send_headers(
        "POST", model_path(model) + "/infer",
        {"Content-Type": "application/json", "Content-Length": str(1 << 40)},
    )
    expect_error(response, 413, "(a declared body of 1 TiB)")
