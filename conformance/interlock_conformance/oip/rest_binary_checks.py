"""REST checks of the binary tensor data extension, of known (golden) outputs, of the bearer
token and of metrics (serving.md SRV-020, SRV-055, SRV-080 to SRV-096)."""

from __future__ import annotations

import json
import re
from typing import Any

from interlock_conformance.oip.checks import (
    Blocked,
    CheckFailure,
    NotApplicable,
    Target,
    check,
)
from interlock_conformance.oip.rest_messages import (
    InferOutput,
    Tensor,
    any_model,
    expect_error,
    infer,
    infer_request,
    model_path,
    output_names,
    pick_model,
    post_infer,
    request_tensors,
    rest_metadata,
    same_outputs,
)
from interlock_conformance.oip.tensors import encode_binary, same_values

__all__: list[str] = []

_BINARY = ("rest.binary-data",)


def _with_binary(tensors: list[Tensor], edit: dict[str, Any] | None = None,
                 tail: bytes = b"") -> tuple[bytes, dict[str, str]]:
    """A binary-input request whose JSON part is changed by ``edit`` (first input's entry)."""
    body, headers = infer_request(tensors, binary_inputs=True)
    length = int(headers["Inference-Header-Content-Length"])
    document = json.loads(body[:length])
    if edit:
        document["inputs"][0].update(edit)
    json_part = json.dumps(document).encode()
    headers["Inference-Header-Content-Length"] = str(len(json_part))
    return json_part + body[length:] + tail, headers


# -- the binary tensor data extension -----------------------------------------------------------


@check("rest", "SRV-080", "SRV-081", "SRV-082", capabilities=_BINARY, scope="model")
def check_binary_inputs(target: Target, model: str) -> None:
    """Inputs sent as binary tensor data give the same outputs as the same inputs in JSON."""
    metadata = rest_metadata(target, model)
    tensors = request_tensors(target, metadata, model)
    _, _, as_json = infer(target, model, tensors)
    response, _, as_binary = infer(target, model, tensors, binary_inputs=True)
    same_outputs(f"{response.what} (binary inputs)", as_binary, as_json)


@check("rest", "SRV-083", capabilities=_BINARY, scope="model")
def check_binary_outputs(target: Target, model: str) -> None:
    """binary_data_output returns every output as binary data with binary_data_size and no
    data; a per-output binary_data parameter overrides it; the values equal the JSON ones."""
    metadata = rest_metadata(target, model)
    names = output_names(metadata)
    tensors = request_tensors(target, metadata, model)
    _, _, as_json = infer(target, model, tensors)
    response, _, as_binary = infer(target, model, tensors, parameters={"binary_data_output": True})
    what = f"{response.what} (binary_data_output: true)"
    not_binary = [o.name for o in as_binary if not o.binary]
    if not_binary:
        raise CheckFailure(f"{what}: outputs {not_binary} came back as JSON data")
    same_outputs(what, as_binary, as_json)
    if not names:
        return
    mixed = [{"name": names[0], "parameters": {"binary_data": False}},
             *({"name": n} for n in names[1:])]
    response, _, outputs = infer(target, model, tensors, outputs=mixed,
                                 parameters={"binary_data_output": True})
    kinds = {o.name: o.binary for o in outputs}
    wanted = {n: n != names[0] for n in names}
    if kinds != wanted:
        raise CheckFailure(f"{response.what}: with binary_data_output true and binary_data false "
                           f"on {names[0]!r}, outputs came back binary={kinds}, expected {wanted}")
    same_outputs(f"{response.what} (mixed outputs)", outputs, as_json)


@check("rest", "SRV-074", capabilities=_BINARY, scope="model")
def check_json_numbers_round_trip(target: Target, model: str) -> None:
    """Numbers written as JSON data parse back to exactly the values sent as binary data
    (non-finite values as null)."""
    metadata = rest_metadata(target, model)
    golden = target.expected_model(model) is not None
    tensors = request_tensors(target, metadata, model, golden=golden)
    response, _, as_json = infer(target, model, tensors, binary_inputs=True)
    try:
        _, _, as_binary = infer(target, model, tensors, binary_inputs=True,
                                parameters={"binary_data_output": True})
    except CheckFailure as exc:
        raise Blocked(("SRV-083",), str(exc)) from None
    if golden:
        # Binary outputs that are not the known ones cannot tell whether the JSON is right.
        problem = _golden_problem(target, model, as_binary)
        if problem is not None and _golden_problem(target, model, as_json) is None:
            raise Blocked(("SRV-083",), f"{response.what} (binary_data_output: true): {problem}")
    for json_output, binary_output in zip(as_json, as_binary):
        reference = binary_output.values
        got = json_output.values
        if reference.dtype.kind == "f":
            import numpy as np

            finite = np.isfinite(reference)
            same = (np.array_equal(got[finite], reference[finite])
                    and np.array_equal(np.signbit(got[finite]), np.signbit(reference[finite]))
                    and bool(np.all(np.isnan(got[~finite]))))
        else:
            same = got.tolist() == reference.tolist()
        if not same:
            raise CheckFailure(f"{response.what}: output {json_output.name!r} in JSON "
                               f"{got.reshape(-1)[:6].tolist()} differs from its binary data "
                               f"{reference.reshape(-1)[:6].tolist()}")


@check("rest", "SRV-084", capabilities=_BINARY)
def check_binary_response_headers(target: Target, model: str) -> None:
    """A response with binary data carries Inference-Header-Content-Length (the JSON part's
    length) and Content-Type application/octet-stream; one without is application/json."""
    model, metadata = any_model(target)
    body, headers = infer_request(request_tensors(target, metadata, model))
    plain = post_infer(target, model, body, headers)
    content_type = (plain.header("content-type") or "").split(";")[0].strip()
    if plain.status != 200 or content_type != "application/json" or plain.header(
            "inference-header-content-length") is not None:
        raise CheckFailure(f"{plain.what} (JSON outputs) answered {plain.status} with "
                           f"Content-Type {content_type!r} and Inference-Header-Content-Length "
                           f"{plain.header('inference-header-content-length')!r}; expected "
                           "application/json and no such header")
    body, headers = infer_request(request_tensors(target, metadata, model),
                                  parameters={"binary_data_output": True})
    binary = post_infer(target, model, body, headers)
    length = binary.header("inference-header-content-length")
    content_type = (binary.header("content-type") or "").split(";")[0].strip()
    if binary.status != 200 or content_type != "application/octet-stream":
        raise CheckFailure(f"{binary.what} (binary outputs) answered {binary.status} with "
                           f"Content-Type {content_type!r}, expected application/octet-stream")
    if length is None or not length.isdigit() or int(length) > len(binary.body):
        raise CheckFailure(f"{binary.what} (binary outputs): Inference-Header-Content-Length is "
                           f"{length!r} for a body of {len(binary.body)} bytes")
    try:
        json.loads(binary.body[: int(length)])
    except ValueError:
        raise CheckFailure(f"{binary.what}: the first {length} bytes are not the JSON "
                           "response") from None


@check("rest", "SRV-085", "SRV-090", capabilities=_BINARY)
def check_binary_flags_are_booleans(target: Target, model: str) -> None:
    """binary_data and binary_data_output that are not JSON booleans answer 400."""
    model, metadata = pick_model(target, lambda m: bool(output_names(m)), "a declared output")
    first = output_names(metadata)[0]
    tensors = request_tensors(target, metadata, model)
    for request, why in (
        ({"parameters": {"binary_data_output": "yes"}}, "(binary_data_output 'yes')"),
        ({"outputs": [{"name": first, "parameters": {"binary_data": 1}}]}, "(binary_data 1)"),
    ):
        body, headers = infer_request(tensors, **request)
        expect_error(post_infer(target, model, body, headers), 400, why)


@check("rest", "SRV-080", "SRV-090", capabilities=_BINARY)
def check_bad_header_length(target: Target, model: str) -> None:
    """An Inference-Header-Content-Length that is not a non-negative integer, or exceeds the
    body, answers 400."""
    model, metadata = any_model(target)
    body, headers = _with_binary(request_tensors(target, metadata, model))
    for value in ("abc", "-1", str(len(body) + 1)):
        bad = {**headers, "Inference-Header-Content-Length": value}
        expect_error(post_infer(target, model, body, bad), 400,
                     f"(Inference-Header-Content-Length {value})")


@check("rest", "SRV-081", "SRV-090", capabilities=_BINARY)
def check_bad_binary_sizes(target: Target, model: str) -> None:
    """A binary_data_size that overruns the binary part, bytes no input claims, and an input
    with both data and binary_data_size answer 400."""
    model, metadata = any_model(target)
    tensors = request_tensors(target, metadata, model)
    total = sum(len(encode_binary(a, d)) for _, d, a in tensors)
    first_size = len(encode_binary(tensors[0][2], tensors[0][1]))
    overrun = {"parameters": {"binary_data_size": first_size + total + 8}}
    expect_error(post_infer(target, model, *_with_binary(tensors, overrun)), 400, "(size overruns)")
    expect_error(post_infer(target, model, *_with_binary(tensors, tail=b"\x00" * 8)), 400,
                 "(8 bytes left unclaimed)")
    both = {"data": json.loads(infer_request(tensors[:1])[0])["inputs"][0]["data"]}
    expect_error(post_infer(target, model, *_with_binary(tensors, both)), 400,
                 "(data and binary_data_size)")


@check("rest", "SRV-082", "SRV-090", capabilities=_BINARY)
def check_bad_binary_elements(target: Target, model: str) -> None:
    """Binary data whose size does not match the shape, a BOOL byte other than 0 or 1, and
    BYTES that are not UTF-8 answer 400."""
    model, metadata = any_model(target)
    tensors = request_tensors(target, metadata, model)
    name, datatype, array = tensors[0]
    if datatype != "BYTES":
        raw = encode_binary(array, datatype)
        short = [(name, datatype, array), *tensors[1:]]
        body, headers = _with_binary(short, {"parameters": {"binary_data_size": len(raw) - 1}})
        # drop one byte of the first tensor so that the sizes still add up
        length = int(headers["Inference-Header-Content-Length"])
        body = body[:length] + body[length + 1:]
        expect_error(post_infer(target, model, body, headers), 400, "(one byte short of the shape)")
    for wanted, payload, why in (("BOOL", b"\x02", "(BOOL byte 2)"),
                                 ("BYTES", b"\x02\x00\x00\x00\xff\xfe", "(BYTES not UTF-8)")):
        for candidate in target.models:
            inputs = rest_metadata(target, candidate)["inputs"]
            if inputs and inputs[0]["datatype"] == wanted:
                tensors = request_tensors(target, rest_metadata(target, candidate), candidate)
                raw = encode_binary(tensors[0][2], wanted)
                bad = payload + raw[len(payload):] if wanted == "BOOL" else None
                if bad is None:  # BYTES: replace the first element by invalid UTF-8
                    rows = tensors[0][2].reshape(-1)
                    rest = encode_binary(rows[1:], "BYTES")
                    bad = payload + rest
                size = {"parameters": {"binary_data_size": len(bad)}}
                body, headers = _with_binary(tensors, size)
                length = int(headers["Inference-Header-Content-Length"])
                body = body[:length] + bad + body[length + len(raw):]
                expect_error(post_infer(target, candidate, body, headers), 400, why)
                break


# -- known outputs --------------------------------------------------------------------------------


def _golden_problem(target: Target, model: str, outputs: list[InferOutput]) -> str | None:
    """How ``outputs`` differ from the known outputs of ``model``, or None."""
    known = target.expected_model(model)
    assert known is not None
    got = {o.name: o for o in outputs}
    for name, expected in known.outputs.items():
        if name not in got:
            return f"output {name!r} is missing"
        problem = same_values(got[name].values, expected, known.rtol, known.atol)
        if got[name].values.dtype != expected.dtype:
            problem = f"dtype {got[name].values.dtype}, expected {expected.dtype}"
        if problem:
            return f"output {name!r}: {problem}"
    return None


def _finite(tensors: list[Tensor]) -> bool:
    import numpy as np

    return all(a.dtype.kind != "f" or bool(np.all(np.isfinite(a))) for _, _, a in tensors)


@check("rest", "SRV-055", "SRV-020", scope="model", needs_expectations=True)
def check_golden_outputs(target: Target, model: str) -> None:
    """Known inputs give the known outputs (JSON data; binary inputs where JSON cannot carry
    them)."""
    if target.expected_model(model) is None:
        raise NotApplicable(f"no known outputs for {model!r}")
    tensors = request_tensors(target, rest_metadata(target, model), model, golden=True)
    if _finite(tensors):
        response, _, outputs = infer(target, model, tensors)
    elif "rest.binary-data" in target.claims:
        response, _, outputs = infer(target, model, tensors, binary_inputs=True)
    else:
        raise NotApplicable(f"the known inputs of {model!r} are not finite; JSON cannot carry them")
    problem = _golden_problem(target, model, outputs)
    if problem is not None:
        # A well-formed answer (SRV-055) with other values than the model's: SRV-020.
        raise CheckFailure(f"{response.what}: {problem}", requirement="SRV-020")


@check("rest", "SRV-082", "SRV-083", capabilities=_BINARY, scope="model",
       needs_expectations=True)
def check_golden_outputs_binary(target: Target, model: str) -> None:
    """Known inputs as binary data give the known outputs as binary data, NaN and infinities
    included."""
    if target.expected_model(model) is None:
        raise NotApplicable(f"no known outputs for {model!r}")
    tensors = request_tensors(target, rest_metadata(target, model), model, golden=True)
    response, _, outputs = infer(target, model, tensors, binary_inputs=True,
                                 parameters={"binary_data_output": True})
    problem = _golden_problem(target, model, outputs)
    if problem is None:
        return
    # Which half is wrong: the same binary inputs with JSON outputs tell reading (SRV-082)
    # from writing (SRV-083); when both differ, either may be at fault.
    _, _, as_json = infer(target, model, tensors, binary_inputs=True)
    blame = "SRV-083" if _golden_problem(target, model, as_json) is None else None
    raise CheckFailure(f"{response.what}: {problem}", requirement=blame)


# -- bearer token and metrics ---------------------------------------------------------------------


@check("rest", "SRV-091", "SRV-090", capabilities=("rest.auth",))
def check_bearer_token(target: Target, model: str) -> None:
    """With a token, health probes need none, everything else answers 401 with
    WWW-Authenticate: Bearer without it or with a wrong one; the scheme is case-insensitive."""
    if not target.token:
        raise NotApplicable("no token was given")
    rest = target.rest
    for path in ("/v2/health/live", "/v2/health/ready"):
        probe = rest.request("GET", path, auth=False)
        if probe.status != 200:
            raise CheckFailure(f"{probe.what} without a token answered {probe.status}, expected "
                               f"200")
    model, metadata = any_model(target)
    body, headers = infer_request(request_tensors(target, metadata, model))
    for authorization in (None, "Bearer interlock-check-wrong-token", f"Basic {target.token}"):
        sent = {} if authorization is None else {"Authorization": authorization}
        for method, path, data in (("GET", "/v2", None), ("GET", model_path(model), None),
                                   ("POST", model_path(model) + "/infer", body)):
            response = rest.request(method, path, data, {**headers, **sent} if data else sent,
                                    auth=False)
            expect_error(response, 401, f"(Authorization {authorization!r})")
            challenge = response.header("www-authenticate") or ""
            if not challenge.lower().startswith("bearer"):
                raise CheckFailure(f"{response.what} answered 401 with WWW-Authenticate "
                                   f"{challenge!r}, expected Bearer")
    lower = rest.request("GET", model_path(model), None,
                         {"Authorization": f"bearer {target.token}"}, auth=False)
    if lower.status != 200:
        raise CheckFailure(f"{lower.what} with 'bearer <token>' answered {lower.status}; the "
                           "scheme is case-insensitive")


_FAMILIES = ("interlock_requests_total", "interlock_request_duration_seconds",
             "interlock_batch_size", "interlock_queue_depth")


def _metrics(target: Target) -> str:
    response = target.rest.request("GET", "/metrics")
    if response.status != 200:
        raise CheckFailure(f"{response.what} answered {response.status}, expected 200")
    return response.body.decode("utf-8", "replace")


@check("rest", "SRV-095", capabilities=("rest.metrics",))
def check_metrics(target: Target, model: str) -> None:
    """GET /metrics answers the Prometheus text format with interlock's four metrics."""
    model, metadata = any_model(target)
    infer(target, model, request_tensors(target, metadata, model))
    text = _metrics(target)
    missing = [f for f in _FAMILIES if not re.search(rf"^# TYPE {f}\b", text, re.M)]
    if missing:
        raise CheckFailure(f"GET /metrics lacks the metric(s) {missing}")
    sample = re.search(r"^interlock_requests_total\{([^}]*)\}", text, re.M)
    labels = set(re.findall(r'(\w+)="', sample.group(1))) if sample else set()
    wanted = {"protocol", "endpoint", "model", "version", "status"}
    if not wanted <= labels:
        raise CheckFailure(f"interlock_requests_total has labels {sorted(labels)}, expected "
                           f"{sorted(wanted)}")


@check("rest", "SRV-096", capabilities=("rest.metrics",), needs_models=False)
def check_metrics_ignore_unknown_models(target: Target, model: str) -> None:
    """Requests for models that are not served are counted with empty model labels."""
    name = "interlock-check-unserved-model"
    target.rest.request("GET", model_path(name))
    text = _metrics(target)
    if name in text:
        raise CheckFailure(f"GET /metrics has a label value {name!r} from a request for a model "
                           "that is not served")
    if not re.search(r'^interlock_requests_total\{[^}]*model=""', text, re.M):
        raise CheckFailure('GET /metrics counts no request with model=""')
