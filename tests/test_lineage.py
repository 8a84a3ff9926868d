"""OpenLineage run events from ``predict_dataset`` and ``export`` (spec: lineage.md).

Real jobs (the local executor, Parquet in and out, a small scikit-learn model) are run with the
client's own transports configured the way a user configures them: ``OPENLINEAGE__TRANSPORT__*``
variables, an ``openlineage.yml`` in the working directory or named by ``OPENLINEAGE_CONFIG``,
``OPENLINEAGE_URL`` against a real HTTP server on 127.0.0.1. Every event is validated with
``jsonschema`` against the OpenLineage schemas (see ``lineage_schemas.py``: no installable
package ships OpenLineage.json, so the rules of the 2-0-2 model and of the facets we emit are
written there from the specification) and against our published ``interlock_model`` schema.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from lineage_schemas import validate_event, validate_model_facet
from sklearn.linear_model import LogisticRegression

import interlock
from interlock.lineage import (
    MODEL_FACET_NAME,
    PRODUCER,
    LineageDataset,
    dataset_name,
    lineage_configuration,
    run_events,
)
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ["a", "b", "c"]


@pytest.fixture(autouse=True)
def _no_openlineage_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No OpenLineage setting of the machine leaks in, and none of ours leaks out (the client
    itself adds ``OPENLINEAGE__TRANSPORT__TRANSPORTS__*`` variables when it sees
    ``OPENLINEAGE_URL``)."""
    for variable in list(os.environ):
        if variable.startswith("OPENLINEAGE"):
            monkeypatch.delenv(variable)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield
    for variable in list(os.environ):
        if variable.startswith("OPENLINEAGE"):
            del os.environ[variable]


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    x = np.random.default_rng(7).normal(size=(200, 3))
    return LogisticRegression().fit(x, (x[:, 0] > x[:, 2]).astype(np.int64))


def _table(rows: int = 60) -> pa.Table:
    x = np.random.default_rng(8).normal(size=(rows, 3))
    return pa.table({"key": np.arange(rows), **{n: x[:, i] for i, n in enumerate(FEATURES)}})


def _file_transport(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    return path


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for event in events:
        validate_event(event)
    return events


def _facets(dataset: dict[str, Any]) -> dict[str, Any]:
    return dataset.get("facets", {})  # type: ignore[no-any-return]


@requirement("LIN-003", "LIN-010", "LIN-011", "LIN-012", "LIN-020", "LIN-021", "LIN-022",
             "LIN-030", "LIN-031", "LIN-040")
def test_a_local_job_emits_start_then_complete(
    model: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table()
    data = interlock.write_dataset(table, str(tmp_path / "input.parquet"))
    artifact = interlock.export(model, table.select(FEATURES), name="scorer", version="2")
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    summary = interlock.predict_dataset(data, artifact, str(tmp_path / "out.parquet"),
                                        keep_columns=["key"])
    start, complete = [e for e in _events(log) if e["job"]["name"] == "predict:scorer"]
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert uuid.UUID(start["run"]["runId"]).version == 7
    assert start["job"]["namespace"] == "interlock" and start["producer"] == PRODUCER
    assert complete["job"]["facets"]["jobType"]["jobType"] == "PREDICT"
    assert complete["run"]["facets"]["processing_engine"]["version"] == interlock.__version__
    source, model_input = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(tmp_path / "input.parquet"))
    assert _facets(source)["version"]["datasetVersion"] == data.fingerprint()
    assert [f["name"] for f in _facets(source)["schema"]["fields"]] == ["key", *FEATURES]
    assert _facets(source)["schema"]["fields"][1]["type"] == "double"
    assert (model_input["namespace"], model_input["name"]) == dataset_name(artifact.uri)
    assert _facets(model_input)["version"]["datasetVersion"] == artifact.digest
    facet = _facets(model_input)[MODEL_FACET_NAME]
    assert (facet["name"], facet["version"], facet["digest"]) == ("scorer", "2", artifact.digest)
    assert facet["producer"]["component"] == "sklearn"
    assert facet["signature"]["inputs"][0]["shape"] == ["N", 3]
    (output,) = complete["outputs"]
    written = interlock.open_dataset(str(tmp_path / "out.parquet"))
    assert output["name"] == str(tmp_path / "out.parquet")
    assert [f["name"] for f in _facets(output)["schema"]["fields"]] == written.schema.names
    statistics = output["outputFacets"]["outputStatistics"]
    assert statistics["rowCount"] == summary["rows"] == 60
    assert statistics["size"] == sum(written.filesystem.size(f) for f in written.files())
    assert statistics["fileCount"] == len(written.files())
    assert "outputStatistics" not in start["outputs"][0].get("outputFacets", {})


@requirement("LIN-001", "LIN-003", "LIN-050", "LIN-030")
def test_export_emits_the_artifact_as_its_output(
    model: LogisticRegression, tmp_path: Path
) -> None:
    table = _table()
    interlock.write_dataset(table, str(tmp_path / "train.parquet"))
    log = tmp_path / "export-events.jsonl"
    (tmp_path / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {log}\n  append: true\n", encoding="utf-8"
    )
    artifact = interlock.export(model, table.select(FEATURES), name="churn",
                                dataset="train.parquet", lineage_job="train-churn")
    start, complete = _events(log)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert complete["job"]["name"] == "train-churn"
    assert complete["job"]["facets"]["jobType"]["jobType"] == "EXPORT"
    (training,) = complete["inputs"]
    assert training["name"] == str(tmp_path / "train.parquet")
    assert _facets(training)["version"]["datasetVersion"] == (
        artifact.manifest.lineage[0].fingerprint)
    assert start["outputs"] == []
    (saved,) = complete["outputs"]
    assert (saved["namespace"], saved["name"]) == dataset_name(artifact.uri)
    assert _facets(saved)[MODEL_FACET_NAME]["digest"] == artifact.digest


@requirement("LIN-010", "LIN-013", "LIN-004")
def test_a_failed_job_emits_fail_with_the_error_message(
    model: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table()
    artifact = interlock.export(model, table.select(FEATURES), name="scorer")
    holed = table.set_column(1, "a", pa.array([None, *table["a"].to_pylist()[1:]], pa.float64()))
    data = interlock.write_dataset(holed, str(tmp_path / "holed.parquet"))
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    with pytest.raises(interlock.InterlockError) as raised:
        interlock.predict_dataset(data, artifact, str(tmp_path / "out.parquet"))
    assert not (tmp_path / "out.parquet").exists()
    start, fail = _events(log)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"].startswith(type(raised.value).__name__ + ": ")
    assert str(raised.value) in error["message"] and "null" in error["message"]
    assert error["programmingLanguage"] == "PYTHON"
    assert "Traceback" in error["stackTrace"]
    assert "outputStatistics" not in fail["outputs"][0].get("outputFacets", {})


@requirement("LIN-010", "LIN-013")
def test_an_interrupted_run_emits_abort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    with pytest.raises(KeyboardInterrupt), run_events(
        "nightly", inputs=[LineageDataset(uri="s3://lake/events/", version="v1")]
    ) as run:
        assert run.enabled
        raise KeyboardInterrupt
    start, abort = _events(log)
    assert abort["eventType"] == "ABORT"
    assert abort["run"]["facets"]["errorMessage"]["message"].startswith("KeyboardInterrupt")
    assert (abort["inputs"][0]["namespace"], abort["inputs"][0]["name"]) == ("s3://lake",
                                                                           "events")


@requirement("LIN-003")
def test_the_console_transport_from_openlineage_config(
    model: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "conf" / "lineage.yml"
    config.parent.mkdir()
    config.write_text("transport:\n  type: console\n", encoding="utf-8")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    caplog.set_level(logging.INFO, logger="openlineage.client.transport.console")
    interlock.export(model, _table().select(FEATURES), name="printed")
    printed = [json.loads(r.getMessage()) for r in caplog.records
               if r.name == "openlineage.client.transport.console"]
    assert [e["eventType"] for e in printed] == ["START", "COMPLETE"]
    for event in printed:
        validate_event(event)


class _Collector(BaseHTTPRequestHandler):
    """A lineage collector that keeps what it is sent."""

    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@requirement("LIN-001", "LIN-003")
def test_the_http_transport_posts_to_a_real_collector(
    model: LogisticRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        interlock.export(model, _table().select(FEATURES), name="posted")
    finally:
        server.shutdown()
        server.server_close()
    posted = _Collector.received
    assert [path for path, _ in posted] == ["/api/v1/lineage"] * 2
    assert [event["eventType"] for _, event in posted] == ["START", "COMPLETE"]
    for _, event in posted:
        validate_event(event)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@requirement("LIN-004")
def test_a_collector_that_is_down_never_fails_the_job(
    model: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = _table()
    data = interlock.write_dataset(table, str(tmp_path / "input.parquet"))
    artifact = interlock.export(model, table.select(FEATURES), name="scorer")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TIMEOUT", "1")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0, "connect": 0}')
    caplog.set_level(logging.WARNING, logger="interlock.lineage")
    for attempt in range(2):
        summary = interlock.predict_dataset(data, artifact, str(tmp_path / f"out{attempt}.pq"),
                                            output_format="parquet")
        assert summary["rows"] == 60
    warnings = [r for r in caplog.records if r.name == "interlock.lineage"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "predict:scorer" in message and "OPENLINEAGE__TRANSPORT__TYPE=http" in message
    assert "OPENLINEAGE_DISABLED=true" in message


@pytest.mark.parametrize(
    ("environ", "files", "enabled"),
    [
        ({}, {}, False),
        ({"OPENLINEAGE_URL": "http://127.0.0.1:5000"}, {}, True),
        ({"OPENLINEAGE_URL": "http://h", "OPENLINEAGE_DISABLED": "True"}, {}, False),
        ({"OPENLINEAGE__TRANSPORT__TYPE": "console"}, {}, True),
        ({"OPENLINEAGE__TRANSPORT__URL": "http://h"}, {}, False),
        ({}, {"cwd/openlineage.yml": "transport:\n  type: console\n"}, True),
        ({}, {"home/.openlineage/openlineage.yml": "transport: {type: file}\n"}, True),
        ({}, {"cwd/openlineage.yml": "facets:\n  environment_variables: [USER]\n"}, False),
        ({}, {"cwd/openlineage.yml": "transport: [unclosed\n"}, True),
        ({"OPENLINEAGE_CONFIG": "{root}/named.yml"},
         {"named.yml": "transport:\n  type: console\n"}, True),
        ({"OPENLINEAGE_CONFIG": "{root}/missing.yml"},
         {"cwd/openlineage.yml": "transport:\n  type: console\n"}, True),
        ({"OPENLINEAGE_CONFIG": "{root}/named.yml"},
         {"named.yml": "{}\n", "cwd/openlineage.yml": "transport: {type: console}\n"}, False),
    ],
)
@requirement("LIN-001")
def test_what_switches_lineage_on(
    environ: dict[str, str], files: dict[str, str], enabled: bool, tmp_path: Path
) -> None:
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    env = {key: value.format(root=tmp_path) for key, value in environ.items()}
    (tmp_path / "cwd").mkdir(exist_ok=True)
    decided = lineage_configuration(env, cwd=tmp_path / "cwd", home=tmp_path / "home")
    assert decided.enabled is enabled, decided
    assert (decided.source is not None) is enabled


@requirement("LIN-001", "LIN-002")
def test_off_by_default_emits_nothing_and_imports_no_openlineage(tmp_path: Path) -> None:
    script = (
        "import sys, numpy as np, pyarrow as pa, interlock\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "x = np.random.default_rng(1).normal(size=(40, 2))\n"
        "t = pa.table({'a': x[:, 0], 'b': x[:, 1]})\n"
        "m = LogisticRegression().fit(x, (x[:, 0] > 0).astype('int64'))\n"
        "art = interlock.export(m, t, name='quiet', store='store')\n"
        "interlock.write_dataset(t, 'in.parquet')\n"
        "interlock.predict_dataset('in.parquet', art, 'out.parquet')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('openlineage')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "[]\n"
    assert "openlineage" not in done.stderr.lower()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/data/in.parquet", ("file", "/data/in.parquet")),
        ("file:///data/dir/", ("file", "/data/dir")),
        ("file://nas.local/share/x.csv", ("file://nas.local", "/share/x.csv")),
        ("s3://lake/events/2024/", ("s3://lake", "events/2024")),
        ("s3a://lake/events?versionId=3", ("s3://lake", "events")),
        ("gcs://bucket/t.parquet", ("gs://bucket", "t.parquet")),
        ("abfss://c@acct.dfs.core.windows.net/p/q", ("abfss://c@acct.dfs.core.windows.net", "p/q")),
        ("hdfs://nn:8020/warehouse/t", ("hdfs://nn:8020", "/warehouse/t")),
        ("simplecache::s3://lake/k.parquet", ("s3://lake", "k.parquet")),
        ("memory://scratch/t.arrow", ("memory://scratch", "/t.arrow")),
    ],
)
@requirement("LIN-020")
def test_dataset_names_follow_openlineage_naming(uri: str, expected: tuple[str, str]) -> None:
    assert dataset_name(uri) == expected


@requirement("LIN-020")
def test_a_relative_path_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    assert dataset_name("scores/out.parquet") == ("file", str(tmp_path / "scores" / "out.parquet"))


@requirement("LIN-011")
def test_the_job_namespace_and_name_can_be_chosen(
    model: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table()
    artifact = interlock.export(model, table.select(FEATURES), name="scorer")
    data = interlock.write_dataset(table, str(tmp_path / "input.parquet"))
    with pytest.raises(interlock.InterlockError, match="lineage_job must be a non-empty"):
        interlock.predict_dataset(data, artifact, str(tmp_path / "a.parquet"), lineage_job=" ")
    assert not (tmp_path / "a.parquet").exists()
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "team-scoring")
    interlock.predict_dataset(data, artifact, str(tmp_path / "b.parquet"), lineage_job="nightly")
    jobs = {(e["job"]["namespace"], e["job"]["name"]) for e in _events(log)}
    assert jobs == {("team-scoring", "nightly")}


@requirement("LIN-031", "LIN-032", "LIN-033")
def test_the_model_facet_schema_is_published_and_strict(
    model: LogisticRegression, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from interlock.lineage import MODEL_FACET_SCHEMA_URL, MODEL_FACET_VERSION, UNKNOWN_DIMENSION
    from interlock.tensors import DTYPES

    path = ROOT / "specs" / "v1" / "schemas" / f"interlock_model-facet-{MODEL_FACET_VERSION}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert MODEL_FACET_SCHEMA_URL == schema["$id"] + "#/$defs/InterlockModelDatasetFacet"
    assert schema["$defs"]["Tensor"]["properties"]["dtype"]["enum"] == list(DTYPES)
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    interlock.export(model, _table().select(FEATURES), name="scorer")
    facet = _facets(_events(log)[-1]["outputs"][0])[MODEL_FACET_NAME]
    validate_model_facet(facet)
    facet["signature"]["inputs"][0]["shape"] = [UNKNOWN_DIMENSION, 3]
    validate_model_facet(facet)
    for broken in ({"digest": "md5:00"}, {"signature": {"inputs": []}}, {"producer": {}}):
        with pytest.raises(AssertionError):
            validate_model_facet({**facet, **broken})
    with pytest.raises(AssertionError):
        validate_model_facet({k: v for k, v in facet.items() if k != "_schemaURL"})


@pytest.mark.parametrize(
    "breaks",
    [
        lambda e: e["run"].__setitem__("runId", "run-1"),
        lambda e: e.__setitem__("eventTime", "2026-12-02T10:00:00"),  # no offset
        lambda e: e["job"].pop("namespace"),
        lambda e: e["inputs"][0]["facets"]["version"].pop("datasetVersion"),
        lambda e: e["inputs"][0]["facets"]["schema"]["fields"][0].pop("name"),
        lambda e: e["run"]["facets"]["processing_engine"].pop("_producer"),
        lambda e: e["outputs"][0]["facets"]["schema"].__setitem__("_schemaURL", "https://x/y"),
    ],
)
@requirement("LIN-010")
def test_the_schemas_reject_a_broken_event(
    breaks: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validation above can fail: each of these defects is caught."""
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    schema = pa.schema([("id", pa.int64()), ("x", pa.struct([("y", pa.float32())]))])
    with run_events("checked", inputs=[LineageDataset(uri="/d/in", schema=schema, version="v")],
                    outputs=[LineageDataset(uri="/d/out", schema=schema, row_count=3)]):
        pass
    event = _events(log)[-1]
    assert event["inputs"][0]["facets"]["schema"]["fields"][1]["fields"][0]["type"] == "float"
    breaks(event)
    with pytest.raises(AssertionError):
        validate_event(event)


# -- docs/batch.md, section "Lineage events (OpenLineage)" ------------------------------------

DOCS = ROOT / "docs" / "batch.md"
DOCS_SECTION = "## Lineage events (OpenLineage)"


def _docs_blocks() -> dict[str, str]:
    """The first yaml, python and json blocks of the lineage section of docs/batch.md."""
    text = DOCS.read_text(encoding="utf-8")
    assert DOCS_SECTION in text, f"docs/batch.md has no section {DOCS_SECTION!r}"
    section = text.split(DOCS_SECTION, 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    for chunk in section.split("\n```")[1::2]:
        info, _, body = chunk.partition("\n")
        blocks.setdefault(info.strip(), body + "\n")
    return blocks


def _shown(event: dict[str, Any], workspace: Path) -> str:
    """``event`` as the page shows it: what changes from run to run (ids, times, paths, hashes
    and sizes that depend on library versions) written as placeholders."""
    import re

    from openlineage.client.constants import __version__ as client_version

    event["eventTime"] = "<RFC 3339 time>"
    event["run"]["runId"] = "<UUIDv7>"
    for dataset in event["outputs"]:
        dataset["outputFacets"]["outputStatistics"]["size"] = "<bytes>"
    text = json.dumps(event, indent=2, sort_keys=True)
    text = text.replace(str(workspace), "<cwd>").replace(client_version, "<client version>")
    return re.sub(r"sha256:[0-9a-f]{64}", "sha256:<hex>", text) + "\n"


@requirement("LIN-001", "LIN-040")
def test_the_event_shown_in_the_docs_is_what_the_example_emits(tmp_path: Path) -> None:
    blocks = _docs_blocks()
    workspace = tmp_path / "work"
    workspace.mkdir()
    (workspace / "openlineage.yml").write_text(blocks["yaml"], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    done = subprocess.run([sys.executable, "-c", blocks["python"]], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    events = _events(workspace / "lineage.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"] * 2
    shown = _shown(events[-1], workspace)
    assert blocks["json"] == shown, f"docs/batch.md should show:\n{shown}"


class _VendorExecutor(interlock.Executor):
    """A third party's executor: it knows nothing of lineage."""

    name = "vendor-lineage"

    def run(self, job: interlock.BatchJob) -> dict[str, Any]:
        reader = job.dataset.to_reader(columns=job.keep_columns)
        schema = reader.schema.with_metadata(job.schema_metadata())
        interlock.write_dataset(pa.Table.from_batches(list(reader), schema), job.output_uri)
        return {"rows": 60, "batches": 1, "seconds": 0.1, "rows_per_second": 600.0,
                "output_uri": job.output_uri}


@pytest.mark.parametrize("executor", ["dask", "vendor-lineage"])
@requirement("LIN-040")
def test_every_executor_gets_the_events(
    executor: str, model: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events come from predict_dataset around the executor call: a real dask cluster and
    a vendor's executor emit the same START and COMPLETE as local, with nothing of their own."""

    class Plugin:
        @interlock.hookimpl
        def interlock_executors(self) -> list[interlock.Executor]:
            return [_VendorExecutor()]

    interlock.get_registry().register(Plugin(), name="vendor")
    table = _table()
    data = interlock.write_dataset(table, str(tmp_path / "input.parquet"))
    artifact = interlock.export(model, table.select(FEATURES), name="scorer")
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    options = {"n_workers": 1, "threads_per_worker": 1} if executor == "dask" else {}
    interlock.predict_dataset(data, artifact, str(tmp_path / "out.parquet"), keep_columns=["key"],
                              executor=executor, executor_options=options)
    events = _events(log)
    assert [e["job"]["name"] for e in events] == ["predict:scorer"] * 2, "none from workers"
    start, complete = events
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 60
    assert [d["name"] for d in complete["inputs"]] == [data.uri, dataset_name(artifact.uri)[1]]


@requirement("LIN-014")
def test_a_job_started_by_an_orchestrator_names_its_parent_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _file_transport(monkeypatch, tmp_path / "events.jsonl")
    parent, root = str(uuid.uuid4()), str(uuid.uuid4())
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", f"airflow-prod/scoring.predict/{parent}")
    monkeypatch.setenv("OPENLINEAGE_ROOT_PARENT_ID", f"airflow-prod/scoring/{root}")
    with run_events("child"):
        pass
    monkeypatch.setenv("OPENLINEAGE_PARENT_ID", "airflow-prod/scoring.predict/not-a-uuid")
    with run_events("orphan"):
        pass
    events = _events(log)
    facet = events[0]["run"]["facets"]["parent"]
    assert facet["run"]["runId"] == parent
    assert (facet["job"]["namespace"], facet["job"]["name"]) == ("airflow-prod", "scoring.predict")
    assert facet["root"]["run"]["runId"] == root
    assert (facet["root"]["job"]["namespace"], facet["root"]["job"]["name"]) == (
        "airflow-prod", "scoring")
    assert all(e["run"]["facets"]["parent"] == facet for e in events[:2])
    assert all("parent" not in e["run"]["facets"] for e in events[2:])
