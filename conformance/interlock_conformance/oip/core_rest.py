"""The REST checks of the Open Inference Protocol core (``oip-core``) and of the binary tensor
data extension (``binary-data``): serving.md SRV-050 and SRV-200 to SRV-211.

They hold a server to what the protocol's text requires and nothing more, and read every
answer the text allows (no ``model_version``, an empty ``platform``, an ``id`` the request did
not send, a 422 or a 500 carrying ``{"error": ...}``). Where the text lets a server choose,
what it chose is recorded as an observation (:meth:`Target.observe`), never a failure. Each
failure says what was sent, what came back and which sentence of which document it breaks.
They run by address only (``check_server``); interlock's stricter checks are the others.
"""

from __future__ import annotations

import json
from typing import Any

from interlock_conformance.oip.checks import Blocked, CheckFailure, NotApplicable, Target, check
from interlock_conformance.oip.profiles import CORE, cite
from interlock_conformance.oip.rest_messages import (
    InferOutput,
    check_outputs_against_metadata,
    infer_request,
    json_document,
    model_path,
    output_names,
    read_infer_response,
    request_tensors,
    same_outputs,
)
from interlock_conformance.oip.tensors import DATATYPES

__all__: list[str] = []

_NO_SUCH = "interlock-check-no-such-model"
_BINARY = ("rest.binary-data",)


def _body(response: Any) -> str:
    return repr(response.body[:120]) if response.body else "no body"


def _object(response: Any, ident: str, expected: str) -> dict[str, Any]:
    """The answer as a 200 JSON object; a failure of ``ident`` naming what came back."""
    if response.status != 200:
        raise CheckFailure(f"{response.what} answered {response.status} ({_body(response)}); "
                           f"expected 200 with {expected} ({cite(ident)})")
    try:
        document = json_document(response)
    except CheckFailure:
        document = None
    if not isinstance(document, dict):
        raise CheckFailure(f"{response.what} answered 200 with {_body(response)}, not the JSON "
                           f"object {expected} ({cite(ident)})")
    return document


def _metadata(target: Target, model: str) -> dict[str, Any]:
    """The model's metadata, once; :class:`Blocked` by SRV-202 when no request can be built
    from it."""
    cache: dict[str, dict[str, Any]] = target.cache.setdefault("core-rest-metadata", {})
    if model not in cache:
        response = target.rest.request("GET", model_path(model))
        document = _object(response, "SRV-202", "the model metadata")
        try:
            _check_tensors(response.what, document, ("inputs",))
        except CheckFailure as problem:
            raise Blocked(("SRV-202",), f"{problem}; so no request can be built") from None
        cache[model] = document
    return cache[model]


def _check_tensors(what: str, document: dict[str, Any],
                   keys: tuple[str, ...] = ("inputs", "outputs")) -> None:
    for key in keys:
        tensors = document.get(key)
        if not isinstance(tensors, list):
            raise CheckFailure(f"{what}: '{key}' is {str(tensors)[:80]}, not a list of "
                               f"$metadata_tensor ({cite('SRV-202')})")
        for entry in tensors:
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                    and entry.get("datatype") in DATATYPES and isinstance(shape, list)
                    and all(type(d) is int and d >= -1 for d in shape)):
                raise CheckFailure(
                    f"{what}: the {key[:-1]} {str(entry)[:120]} is not {{\"name\": $string, "
                    f"\"datatype\": one of {', '.join(DATATYPES)}, \"shape\": integers, -1 "
                    f"for a variable size}} ({cite('SRV-202')})")


def _read(response: Any, ident: str) -> tuple[dict[str, Any], list[InferOutput]]:
    """A 200 inference answer decoded (JSON ``data`` or binary outputs), every problem a
    failure of ``ident``."""
    try:
        return read_infer_response(response)
    except NotApplicable:
        raise
    except CheckFailure as problem:
        raise CheckFailure(f"{problem} ({cite(ident)})") from None


def _infer(target: Target, model: str, ident: str, **request: Any) -> tuple[
        dict[str, Any], list[InferOutput], str]:
    tensors = request_tensors(target, _metadata(target, model), model)
    body, headers = infer_request(tensors, **request)
    response = target.rest.request("POST", model_path(model) + "/infer", body, headers)
    document, outputs = _read(response, ident)
    return document, outputs, response.what


# -- health and metadata --------------------------------------------------------------------------


@check("rest", "SRV-050", needs_models=False, profile=CORE)
def check_core_health_live(target: Target, model: str) -> None:
    """GET /v2/health/live answers 200 {"live": true}."""
    response = target.rest.request("GET", "/v2/health/live", auth=False)
    document = _object(response, "SRV-050", '{"live": $bool}')
    if document.get("live") is not True:
        raise CheckFailure(f"{response.what} answered {_body(response)}; expected "
                           f'{{"live": true}} ({cite("SRV-050")})')


@check("rest", "SRV-200", needs_models=False, profile=CORE)
def check_core_health_ready(target: Target, model: str) -> None:
    """GET /v2/health/ready answers 200 with a JSON object whose boolean is true."""
    response = target.rest.request("GET", "/v2/health/ready", auth=False)
    document = _object(response, "SRV-200", '{"ready": $bool}')
    member = "ready" if "ready" in document else "live"
    if document.get(member) is not True:
        raise CheckFailure(f"{response.what} answered {_body(response)}; expected "
                           f'{{"ready": true}} ({cite("SRV-200")})')
    if member == "live":
        target.observe("SRV-200", f"{response.what} names its member 'live', as the REST "
                       "text's schema writes it")


@check("rest", "SRV-201", needs_models=False, profile=CORE)
def check_core_server_metadata(target: Target, model: str) -> None:
    """GET /v2 answers {"name": $string, "version": $string, "extensions": [$string]}."""
    response = target.rest.request("GET", "/v2")
    document = _object(response, "SRV-201", "the server metadata")
    for key in ("name", "version"):
        if not isinstance(document.get(key), str):
            raise CheckFailure(f"{response.what}: '{key}' is {document.get(key)!r}, not a JSON "
                               f"string ({cite('SRV-201')})")
    extensions = document.get("extensions")
    if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
        raise CheckFailure(f"{response.what}: 'extensions' is {extensions!r}, not a list of "
                           f"strings ({cite('SRV-201')})")


@check("rest", "SRV-202", scope="model", profile=CORE)
def check_core_model_metadata(target: Target, model: str) -> None:
    """GET /v2/models/{name} answers the model's name, platform and tensors."""
    response = target.rest.request("GET", model_path(model))
    document = _object(response, "SRV-202", "the model metadata")
    if document.get("name") != model:
        raise CheckFailure(f"{response.what}: 'name' is {document.get('name')!r}, expected "
                           f"{model!r} ({cite('SRV-202')})")
    platform, versions = document.get("platform"), document.get("versions")
    if not isinstance(platform, str):
        raise CheckFailure(f"{response.what}: 'platform' is {platform!r}, not a JSON string "
                           f"({cite('SRV-202')})")
    if versions is not None and not (
            isinstance(versions, list) and all(isinstance(v, str) for v in versions)):
        raise CheckFailure(f"{response.what}: 'versions' is {versions!r}, not a list of strings "
                           f"({cite('SRV-202')})")
    _check_tensors(response.what, document)
    if platform == "":
        target.observe("SRV-202", f"{response.what}: 'platform' is the empty string")
    if "versions" in document and versions is None:
        target.observe("SRV-202", f"{response.what}: the optional 'versions' is null rather "
                       "than left out")


@check("rest", "SRV-203", scope="model", profile=CORE)
def check_core_model_ready(target: Target, model: str) -> None:
    """GET /v2/models/{name}/ready answers 200 {"name": $string, "ready": true}."""
    response = target.rest.request("GET", model_path(model) + "/ready")
    document = _object(response, "SRV-203", '{"name": $string, "ready": $bool}')
    if not isinstance(document.get("name"), str) or document.get("ready") is not True:
        raise CheckFailure(f"{response.what} answered {_body(response)}; expected "
                           f'{{"name": "{model}", "ready": true}} ({cite("SRV-203")})')


# -- errors ---------------------------------------------------------------------------------------


def _expect_failure(target: Target, response: Any, why: str) -> None:
    """An HTTP error status and ``{"error": $string}`` (SRV-204); the status is observed."""
    if response.status < 400:
        raise CheckFailure(f"{response.what} {why} answered {response.status} "
                           f"({_body(response)}), not an error status ({cite('SRV-204')})")
    try:
        document = json_document(response)
    except CheckFailure:
        document = None
    if not (isinstance(document, dict) and isinstance(document.get("error"), str)):
        raise CheckFailure(f"{response.what} {why} answered {response.status} with "
                           f'{_body(response)}, not the JSON object {{"error": $string}} '
                           f"({cite('SRV-204')})")
    if response.status != 400:
        target.observe("SRV-204", f"{response.what} {why} answered {response.status} (the text "
                       "says 'typically 400')")


@check("rest", "SRV-204", needs_models=False, profile=CORE)
def check_core_unknown_model(target: Target, model: str) -> None:
    """Metadata and inference of a model the server does not serve fail with an error
    status and {"error": $string}."""
    body, headers = infer_request([])
    path = model_path(_NO_SUCH)
    _expect_failure(target, target.rest.request("GET", path), "(a model not served)")
    _expect_failure(target, target.rest.request("POST", path + "/infer", body, headers),
                    "(a model not served)")


@check("rest", "SRV-204", profile=CORE)
def check_core_bad_requests(target: Target, model: str) -> None:
    """A body that is not JSON, or that lacks a required input, fails with an error status and
    {"error": $string}; a string element in a number tensor may be coerced (observed). Every
    request is sent, and the failure lists each one answered otherwise."""
    metadata = _metadata(target, model)
    if not metadata["inputs"]:
        raise NotApplicable(f"{model!r} has no input")
    tensors = request_tensors(target, metadata, model)
    document = json.loads(infer_request(tensors)[0])
    bodies = [(b'{"inputs": [', "(a body that is not JSON)"),
              (json.dumps({**document, "inputs": document["inputs"][1:]}).encode(),
               f"(input {tensors[0][0]!r} missing)")]
    numeric = next((e for e in document["inputs"] if e["datatype"].startswith("FP")), None)
    if numeric is not None:
        numeric["data"] = [str(numeric["data"][0]), *numeric["data"][1:]]
        bodies.append((json.dumps(document).encode(), "(a string element in a number tensor)"))
    problems = []
    for body, why in bodies:
        response = target.rest.request("POST", model_path(model) + "/infer", body,
                                       {"Content-Type": "application/json"})
        if response.status == 200 and numeric is not None and why.startswith("(a string"):
            target.observe("SRV-204", f"{response.what} coerces the string element "
                           f"{numeric['data'][0]!r} of a {numeric['datatype']} input (the text "
                           "allows coercing or refusing)")
            continue
        try:
            _expect_failure(target, response, why)
        except CheckFailure as problem:
            problems.append(str(problem).removesuffix(f" ({cite('SRV-204')})"))
    if problems:
        raise CheckFailure("; ".join(problems) + f" ({cite('SRV-204')})")


# -- inference ------------------------------------------------------------------------------------


@check("rest", "SRV-205", scope="model", profile=CORE)
def check_core_infer(target: Target, model: str) -> None:
    """Inference with JSON data answers model_name, the request id, and every output with
    its declared datatype and a shape it allows."""
    metadata = _metadata(target, model)
    document, outputs, what = _infer(target, model, "SRV-205")
    if document.get("model_name") != model:
        raise CheckFailure(f"{what}: model_name is {document.get('model_name')!r}, expected "
                           f"{model!r} ({cite('SRV-205')})")
    version = document.get("model_version")
    if version is not None and not isinstance(version, str):
        raise CheckFailure(f"{what}: model_version is {version!r}, not a JSON string "
                           f"({cite('SRV-205')})")
    declared = output_names(metadata)
    names = [o.name for o in outputs]
    if sorted(names) != sorted(declared):
        raise CheckFailure(f"{what} (no 'outputs' asked): outputs {names}, expected every "
                           f"output of the metadata {declared} ({cite('SRV-205')})")
    try:
        check_outputs_against_metadata(what, metadata, outputs)
    except CheckFailure as problem:
        raise CheckFailure(f"{problem} ({cite('SRV-205')})") from None
    if names != declared:
        target.observe("SRV-205", f"{what}: outputs in the order {names}, the metadata lists "
                       f"{declared}")
    if "id" in document:
        target.observe("SRV-205", f"{what}: the answer carries an id though the request had "
                       "none")
    ident = "interlock-check-id-7"
    document, _, what = _infer(target, model, "SRV-205", request_id=ident)
    if document.get("id") != ident:
        raise CheckFailure(f"{what} with id {ident!r} answered id {document.get('id')!r} "
                           f"({cite('SRV-205')})")


@check("rest", "SRV-206", scope="model", profile=CORE)
def check_core_nested_data(target: Target, model: str) -> None:
    """Nested JSON data gives the outputs of flat data."""
    _, flat, _ = _infer(target, model, "SRV-205")
    _, nested, what = _infer(target, model, "SRV-206", nested=True)
    try:
        same_outputs(f"{what} (data nested in the shape)", nested, flat)
    except CheckFailure as problem:
        raise CheckFailure(f"{problem} ({cite('SRV-206')})") from None


@check("rest", "SRV-207", scope="model", profile=CORE)
def check_core_output_selection(target: Target, model: str) -> None:
    """A request listing outputs is answered with exactly those outputs."""
    names = output_names(_metadata(target, model))
    if not names:
        raise NotApplicable(f"{model!r} declares no output")
    for wanted in ([names[-1]], names[::-1]):
        _, outputs, what = _infer(target, model, "SRV-207",
                                  outputs=[{"name": n} for n in wanted])
        got = [o.name for o in outputs]
        if sorted(got) != sorted(wanted):
            raise CheckFailure(f"{what} asking for outputs {wanted} answered {got} "
                               f"({cite('SRV-207')})")
        if got != wanted:
            target.observe("SRV-207", f"{what} asking for {wanted} answered them in the order "
                           f"{got}")


# -- the binary tensor data extension ---------------------------------------------------------------


@check("rest", "SRV-210", capabilities=_BINARY, scope="model", profile="binary-data")
def check_core_binary_inputs(target: Target, model: str) -> None:
    """Inputs as binary tensor data give the outputs of the same inputs in JSON."""
    _, as_json, _ = _infer(target, model, "SRV-205")
    _, as_binary, what = _infer(target, model, "SRV-210", binary_inputs=True)
    try:
        same_outputs(f"{what} (inputs as binary data)", as_binary, as_json)
    except CheckFailure as problem:
        raise CheckFailure(f"{problem} ({cite('SRV-210')})") from None


@check("rest", "SRV-211", capabilities=_BINARY, scope="model", profile="binary-data")
def check_core_binary_outputs(target: Target, model: str) -> None:
    """binary_data_output: true answers every output as binary data, with the JSON values."""
    _, as_json, _ = _infer(target, model, "SRV-205")
    _, as_binary, what = _infer(target, model, "SRV-211",
                                parameters={"binary_data_output": True})
    json_outputs = [o.name for o in as_binary if not o.binary]
    if json_outputs:
        raise CheckFailure(f"{what} with binary_data_output true answered {json_outputs} as "
                           f"JSON data ({cite('SRV-211')})")
    try:
        same_outputs(f"{what} (binary_data_output true)", as_binary, as_json)
    except CheckFailure as problem:
        raise CheckFailure(f"{problem} ({cite('SRV-211')})") from None
