"""JSON Schemas of the OpenLineage events interlock emits, for tests/test_lineage.py.

No package on the index ships OpenLineage's ``OpenLineage.json`` or its facet schemas
(openlineage-python, its sdist and openlineage-integration-common were checked: the client
carries only the generated classes and the schema URLs), and the tests may not download. So
the rules below are written here, in our words, from the OpenLineage specification: the 2-0-2
object model (``BaseEvent``, ``RunEvent``, ``Run``, ``Job``, ``Dataset``, ``InputDataset``,
``OutputDataset``, the facet bases with their required ``_producer`` and ``_schemaURL``) and
each standard facet at the version whose ``_schemaURL`` the installed client writes. They are
registered under OpenLineage's own URLs, so that a facet's ``_schemaURL`` picks the rules it is
checked against, and our published ``interlock_model`` schema (specs/v1/schemas) resolves its
``$ref`` to ``DatasetFacet`` exactly as a consumer holding OpenLineage's files would.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from interlock.lineage import MODEL_FACET_SCHEMA_URL, MODEL_FACET_VERSION

ROOT = Path(__file__).resolve().parent.parent
DIALECT = "https://json-schema.org/draft/2020-12/schema"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
FACETS = "https://openlineage.io/spec/facets/"
RUN_EVENT = f"{CORE}#/$defs/RunEvent"

_STRING = {"type": "string"}
_URI = {"type": "string", "format": "uri"}


def _base(kind: str) -> dict[str, Any]:
    return {"$ref": f"{CORE}#/$defs/{kind}"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _facets_of(kind: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": _base(kind)}


CORE_SCHEMA: dict[str, Any] = {
    "$schema": DIALECT,
    "$id": CORE,
    "$defs": {
        "BaseEvent": _object(
            {"eventTime": {"type": "string", "format": "date-time"}, "producer": _URI,
             "schemaURL": _URI},
            ["eventTime", "producer", "schemaURL"],
        ),
        "RunEvent": {"allOf": [_base("BaseEvent"), _object({
            "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
            "run": _base("Run"), "job": _base("Job"),
            "inputs": {"type": "array", "items": _base("InputDataset")},
            "outputs": {"type": "array", "items": _base("OutputDataset")},
        }, ["run", "job"])]},
        "Run": _object({"runId": {"type": "string", "format": "uuid"},
                        "facets": _facets_of("RunFacet")}, ["runId"]),
        "Job": _object({"namespace": _STRING, "name": _STRING, "facets": _facets_of("JobFacet")},
                       ["namespace", "name"]),
        "Dataset": _object(
            {"namespace": _STRING, "name": _STRING, "facets": _facets_of("DatasetFacet")},
            ["namespace", "name"],
        ),
        "InputDataset": {"allOf": [_base("Dataset"), _object(
            {"inputFacets": _facets_of("InputDatasetFacet")})]},
        "OutputDataset": {"allOf": [_base("Dataset"), _object(
            {"outputFacets": _facets_of("OutputDatasetFacet")})]},
        "BaseFacet": _object({"_producer": _URI, "_schemaURL": _URI}, ["_producer", "_schemaURL"]),
        "RunFacet": {"allOf": [_base("BaseFacet")]},
        "JobFacet": {"allOf": [_base("BaseFacet"), _object({"_deleted": {"type": "boolean"}})]},
        "DatasetFacet": {"allOf": [_base("BaseFacet"),
                                   _object({"_deleted": {"type": "boolean"}})]},
        "InputDatasetFacet": {"allOf": [_base("BaseFacet")]},
        "OutputDatasetFacet": {"allOf": [_base("BaseFacet")]},
    },
}

_SCHEMA_FIELD: dict[str, Any] = _object({
    "name": _STRING, "type": _STRING, "description": _STRING,
    "ordinal_position": {"type": "integer", "minimum": 1},
    "fields": {"type": "array", "items": {"$ref": "#/$defs/SchemaDatasetFacetFields"}},
}, ["name"])

#: (version, facet name, its base, its own rules, extra definitions)
_STANDARD_FACETS: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    ("1-2-0", "SchemaDatasetFacet", "DatasetFacet", _object({
        "fields": {"type": "array", "items": {"$ref": "#/$defs/SchemaDatasetFacetFields"}},
    }), {"SchemaDatasetFacetFields": _SCHEMA_FIELD}),
    ("1-0-1", "DatasetVersionDatasetFacet", "DatasetFacet",
     _object({"datasetVersion": _STRING}, ["datasetVersion"]), {}),
    ("1-0-2", "OutputStatisticsOutputDatasetFacet", "OutputDatasetFacet", _object({
        "rowCount": {"type": "integer"}, "size": {"type": "integer"},
        "fileCount": {"type": "integer"},
    }), {}),
    ("1-0-1", "ErrorMessageRunFacet", "RunFacet", _object(
        {"message": _STRING, "programmingLanguage": _STRING, "stackTrace": _STRING},
        ["message", "programmingLanguage"],
    ), {}),
    ("1-1-1", "ProcessingEngineRunFacet", "RunFacet", _object(
        {"version": _STRING, "name": _STRING, "openlineageAdapterVersion": _STRING},
        ["version"],
    ), {}),
    ("2-0-4", "JobTypeJobFacet", "JobFacet", _object(
        {"processingType": {"enum": ["BATCH", "STREAMING", "SERVICE"]}, "integration": _STRING,
         "jobType": _STRING, "emissionPattern": {"type": "object"}},
        ["processingType", "integration"],
    ), {}),
    ("1-2-0", "ParentRunFacet", "RunFacet", _object({
        "run": _object({"runId": {"type": "string", "format": "uuid"}}, ["runId"]),
        "job": _object({"namespace": _STRING, "name": _STRING}, ["namespace", "name"]),
        "root": _object({
            "run": _object({"runId": {"type": "string", "format": "uuid"}}, ["runId"]),
            "job": _object({"namespace": _STRING, "name": _STRING}, ["namespace", "name"]),
        }, ["run", "job"]),
    }, ["run", "job"]), {}),
    # added by the client itself to every run event (its version, as a tag)
    ("1-0-0", "TagsRunFacet", "RunFacet", _object({"tags": {"type": "array", "items": _object(
        {"key": _STRING, "value": _STRING, "source": _STRING}, ["key", "value"])}}), {}),
]


def _facet_resources() -> list[tuple[str, Resource[Any]]]:
    resources = []
    for version, name, base, rules, extra in _STANDARD_FACETS:
        url = f"{FACETS}{version}/{name}.json"
        schema = {"$schema": DIALECT, "$id": url, "$defs": {
            name: {"allOf": [_base(base), rules]}, **extra}}
        resources.append((url, Resource.from_contents(schema)))
    return resources


def _model_schema() -> dict[str, Any]:
    path = ROOT / "specs" / "v1" / "schemas" / f"interlock_model-facet-{MODEL_FACET_VERSION}.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


MODEL_SCHEMA = _model_schema()
REGISTRY: Registry[Any] = Registry().with_resources([
    (CORE, Resource.from_contents(CORE_SCHEMA)),
    (MODEL_SCHEMA["$id"], Resource.from_contents(MODEL_SCHEMA)),
    *_facet_resources(),
])


def _date_time(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None  # RFC 3339 needs the offset


def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and " " not in value


def _uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(_date_time)
FORMATS.checks("uri")(_uri)
FORMATS.checks("uuid")(_uuid)


def _check(instance: Any, ref: str, what: str) -> None:
    validator = jsonschema.Draft202012Validator(
        {"$ref": ref}, registry=REGISTRY, format_checker=FORMATS
    )
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    except Unresolvable as exc:
        raise AssertionError(f"{what}: no schema known for {ref} ({exc})") from exc
    assert not errors, f"{what} is invalid: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
    )


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"run facet {k}", v) for k, v in event["run"].get("facets", {}).items()]
    found += [(f"job facet {k}", v) for k, v in event["job"].get("facets", {}).items()]
    for side in ("inputs", "outputs"):
        for dataset in event.get(side, []):
            for group in ("facets", "inputFacets", "outputFacets"):
                found += [(f"{side} {dataset['name']} {group} {k}", v)
                          for k, v in dataset.get(group, {}).items()]
    return found


def validate_event(event: dict[str, Any]) -> None:
    """Assert that ``event`` is a valid OpenLineage 2-0-2 RunEvent and that every facet in it
    is valid against the schema its ``_schemaURL`` names (which this module must know)."""
    assert event.get("schemaURL") == RUN_EVENT, event.get("schemaURL")
    _check(event, RUN_EVENT, f"{event.get('eventType')} event")
    for where, facet in _facets(event):
        _check(facet, facet["_schemaURL"], where)


def validate_model_facet(facet: dict[str, Any]) -> None:
    """Assert that ``facet`` is a valid ``interlock_model`` facet of the published version."""
    assert facet.get("_schemaURL") == MODEL_FACET_SCHEMA_URL, facet.get("_schemaURL")
    _check(facet, MODEL_FACET_SCHEMA_URL, "interlock_model facet")
