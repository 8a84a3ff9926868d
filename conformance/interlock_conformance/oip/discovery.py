"""Finding the models a server serves when none is named (conformance.md CONF-028).

Nothing in the protocol core lists models; the model repository extension does, over REST as
``POST /v2/repository/index`` and over gRPC as the ``RepositoryIndex`` RPC of
``inference.GRPCInferenceService`` (Triton's ``grpc_service.proto``, which MLServer's
``dataplane.proto`` follows): ``RepositoryIndexRequest {string repository_name = 1; bool ready
= 2}`` answered by ``RepositoryIndexResponse {repeated ModelIndex models = 1}``, each
``ModelIndex {string name = 1; string version = 2; string state = 3; string reason = 4}``.
interlock's protocol stubs hold no such message, so the request is written and the answer
read here, on the protobuf wire format, through the client's raw layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from interlock.serving.oip.client import NoAnswerError

from interlock_conformance.oip.checks import CheckFailure, Target
from interlock_conformance.oip.rest_messages import json_document

__all__ = ["discover_models", "parse_repository_index"]

#: ``RepositoryIndexRequest {ready: true}``: field 2, varint, 1.
_READY_ONLY = b"\x10\x01"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("a varint runs past the end of the message")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of a protobuf message: an int for varints, the bytes
    of length-delimited fields; 32- and 64-bit fields are skipped."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
            yield number, data[at:at + size]
            at += size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"field {number} has wire type {wire}, which proto3 does not use")


def parse_repository_index(data: bytes) -> list[dict[str, str]]:
    """The ``models`` of a ``RepositoryIndexResponse``: ``{"name", "version", "state",
    "reason"}`` per entry (absent strings empty). ``ValueError`` for bytes that are not one."""
    names = {1: "name", 2: "version", 3: "state", 4: "reason"}
    models = []
    for number, value in _fields(data):
        if number != 1 or not isinstance(value, bytes):
            continue
        entry = dict.fromkeys(names.values(), "")
        for inner, text in _fields(value):
            if inner in names and isinstance(text, bytes):
                entry[names[inner]] = text.decode("utf-8")
        models.append(entry)
    return models


def _ready_names(entries: Iterable[object]) -> tuple[list[str], str]:
    """The names of the entries whose ``state`` is READY or not given, once each, and a note
    for states read as READY that are not written so (MLServer 1.7.1's gRPC index writes
    ``State.READY``, the name of its Python enum member)."""
    names: list[str] = []
    odd: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        state = str(entry.get("state") or "READY")
        if entry["name"] and state.rsplit(".", 1)[-1].upper() == "READY":
            if state != "READY":
                odd.add(state)
            if entry["name"] not in names:
                names.append(entry["name"])
    note = f" (state {', '.join(map(repr, sorted(odd)))} read as READY)" if odd else ""
    return names, note


def _rest_index(target: Target) -> tuple[list[str] | None, str]:
    try:
        response = target.rest.request("POST", "/v2/repository/index", b"{}",
                                       {"Content-Type": "application/json"})
        index = json_document(response) if response.status == 200 else None
        answer = f"answered {response.status}"
    except (CheckFailure, NoAnswerError) as exc:
        index, answer = None, f"failed: {exc}"
    if not isinstance(index, list):
        return None, f"POST /v2/repository/index {answer}, not a JSON array"
    names, note = _ready_names(index)
    return names, f"found by the repository index (POST /v2/repository/index): {names}{note}"


def _grpc_index(target: Target) -> tuple[list[str] | None, str]:
    what = "the RepositoryIndex RPC of inference.GRPCInferenceService"
    try:
        result = target.grpc.call_raw("RepositoryIndex", _READY_ONLY)
    except NoAnswerError as exc:
        return None, f"{what} got no answer: {exc}"
    if result.code is not None:
        return None, f"{what} ended with {result.code.name}"
    try:
        entries = parse_repository_index(bytes(result.response or b""))
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"{what} answered bytes that are no RepositoryIndexResponse: {exc}"
    names, note = _ready_names(entries)
    return names, f"found by the repository index (RepositoryIndex over gRPC): {names}{note}"


def discover_models(target: Target) -> tuple[list[str], str]:
    """The models a server serves, found the ways the protocol allows, and how: the model
    repository extension's index, over REST when the server has an HTTP address, else (or
    when REST lists none) over gRPC; models whose ``state`` is READY (``State.READY`` too, with
    a note) or not given."""
    tried = []
    for address, ask in ((target.http_url, _rest_index), (target.grpc_address, _grpc_index)):
        if not address:
            continue
        names, how = ask(target)
        if names:
            return names, how
        tried.append(how if names is None else how.replace("found by", "nothing READY in"))
    return [], "no model found: " + "; ".join(tried)
