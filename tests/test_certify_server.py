"""``interlock certify --server URL --grpc HOST:PORT``: interlock's own server is certified, a
deliberately non-conforming one is caught deviation by deviation under the right requirement,
and every reference plugin certifies (spec: serving.md, conformance.md)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

import interlock
from interlock.cli import main
from interlock_conformance import certify, load_vector_index, read_report, requirement
from interlock_conformance import load_requirements
from interlock_conformance.oip.checker import NO_MODEL, check_server, registered_checks
from interlock_conformance.oip.checks import Expectations, ExpectedModel
from interlock_conformance.oip.profiles import PROFILES, load_profiles, profile_of
from oip_nonconforming_server import DEVIATIONS, PROFILE_OF_DEVIATION, NonconformingServer

TOKEN = "s3cret-token"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def golden_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A store with every golden model vector as NAME:1, and their names."""
    vectors = load_vector_index()
    root = str(tmp_path_factory.mktemp("golden"))
    for name in vectors.models:
        interlock.save_artifact(onnx.load_from_string(vectors.model_bytes(name)), root,
                                name=name, version="1")
    return root, sorted(vectors.models)


@pytest.fixture(scope="module")
def interlock_server(golden_models: tuple[str, list[str]]) -> Iterator[interlock.RunningServer]:
    running = interlock.serve([golden_models[0]], servers={"rest": 0, "grpc": 0}, token=TOKEN,
                              block=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def nonconforming() -> Iterator[NonconformingServer]:
    server = NonconformingServer()
    yield server
    server.stop()


CORE_IDS = ("SRV-050", "SRV-100", "SRV-110", "SRV-111", "SRV-130", "SRV-200", "SRV-201",
            "SRV-202", "SRV-203", "SRV-204", "SRV-205", "SRV-206", "SRV-207", "SRV-220",
            "SRV-221", "SRV-222", "SRV-223", "SRV-224")


@requirement("SRV-050", "SRV-053", "SRV-055", "SRV-083", "SRV-091", "SRV-115", "SRV-130",
             "SRV-143", "SRV-100", "SRV-110", "SRV-111", "SRV-200", "SRV-201", "SRV-202",
             "SRV-203", "SRV-204", "SRV-205", "SRV-206", "SRV-207", "SRV-210", "SRV-211",
             "SRV-220", "SRV-221", "SRV-222", "SRV-223", "SRV-224", "CONF-027")
def test_interlock_server_is_certified_by_address(
    interlock_server: interlock.RunningServer, golden_models: tuple[str, list[str]],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """interlock's own server passes every profile: the protocol core, the binary extension it
    declares, and interlock's serving profile when asked for."""
    models = [arg for name in golden_models[1] for arg in ("--model", name)]
    out = tmp_path / "out"
    code, stdout, stderr = run(["certify", "--server", interlock_server.url("rest"), "--grpc",
                                interlock_server.address("grpc"), "--token", TOKEN, *models,
                                "--profile", "interlock-serving", "--output", str(out)], capsys)
    report = read_report(out / "report.json")
    assert code == 0, (stderr, [(r.id, r.failures) for r in report.failed()])
    assert stdout.startswith("certified: http://") and "FAILED" not in stderr
    assert "ADVICE" not in stderr
    assert report.verdict == "certified" and report.plugin.name.startswith("http://")
    assert {c.name for c in report.components} == {"rest", "grpc"}
    profiles = {p.name: p for p in report.profiles}
    assert set(profiles) == set(PROFILES)
    for name in PROFILES:
        assert profiles[name].status == "passed" and profiles[name].role == "verdict", name
        assert profiles[name].failed == 0 and profiles[name].tested > 0
    statuses = {r.id: r.status for r in report.requirements}
    assert all(ident.startswith("SRV-") for ident in statuses)
    for ident in ("SRV-050", "SRV-052", "SRV-053", "SRV-055", "SRV-056", "SRV-070", "SRV-071",
                  "SRV-080", "SRV-081", "SRV-082", "SRV-083", "SRV-084", "SRV-085", "SRV-090",
                  "SRV-091", "SRV-110", "SRV-112", "SRV-115", "SRV-130", "SRV-132", "SRV-134",
                  "SRV-135", "SRV-136", "SRV-137", "SRV-138", "SRV-140", "SRV-143",
                  *CORE_IDS, "SRV-210", "SRV-211"):
        assert statuses[ident] == "passed", (ident, statuses[ident])
    per_model = [c for c in report.cases if c.id.startswith("rest::infer_json[")]
    assert len(per_model) == len(golden_models[1]), "not every model's datatypes were checked"
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(report.cases))
    assert "**Verdict: CERTIFIED**" in (out / "summary.md").read_text(encoding="utf-8")
    support = (out / "support.md").read_text(encoding="utf-8")
    assert "| SRV-205 REST inference, JSON data | oip-core | yes |" in support
    assert "| extension `binary_tensor_data` | binary-data | declared |" in support


@requirement("SRV-050", "SRV-053", "SRV-055", "SRV-083", "SRV-090", "SRV-094", "SRV-112",
             "SRV-135", "SRV-138", "SRV-202", "SRV-204", "SRV-205", "SRV-211", "SRV-223",
             "CONF-026", "CONF-027")
def test_every_deviation_is_found_under_its_requirement(
    nonconforming: NonconformingServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(["certify", "--server", nonconforming.http_url, "--grpc",
                                nonconforming.grpc_address, "--model", "echo",
                                "--output", str(out)], capsys)
    assert code == 1 and stdout.startswith("not certified: ")
    report = read_report(out / "report.json")
    assert {r.id for r in report.failed()} == set(DEVIATIONS), [
        (r.id, [f.message for f in r.failures]) for r in report.failed()
    ]
    for result in report.failed():  # each deviation in its profile, named on stderr
        profile = PROFILE_OF_DEVIATION[result.id]
        assert profile_of(result.id) == profile, result.id
        word = "ADVICE" if profile == "interlock-serving" else "FAILED"
        assert f"{word} [{profile}] {result.id} " in stderr, (result.id, stderr)
    profiles = {p.name: p for p in report.profiles}
    assert profiles["oip-core"].failed_requirements == ["SRV-050", "SRV-202", "SRV-204",
                                                        "SRV-205", "SRV-223"]
    assert profiles["binary-data"].failed_requirements == ["SRV-211"]
    assert profiles["binary-data"].role == "verdict" and profiles["interlock-serving"].role == (
        "advice")
    failed = {c.id: c.message or "" for c in report.cases if c.outcome == "failed"}
    assert set(failed) == {
        "rest::health_live", "rest::malformed_json", "rest::model_metadata[echo]",
        "rest::binary_outputs[echo]", "rest::unknown_model", "rest::request_id",
        "rest::json_numbers_round_trip[echo]",
        "grpc::model_ready_unknown", "grpc::infer_echoes_id_and_model",
        "grpc::unsupported_parameters",
        "rest::core_health_live", "rest::core_model_metadata[echo]", "rest::core_unknown_model",
        "rest::core_infer[echo]", "rest::core_binary_outputs[echo]", "grpc::core_infer[echo]",
    }, failed
    assert "without a body" in failed["rest::health_live"]
    assert "answered 500, expected 400" in failed["rest::malformed_json"]
    assert "'FLOAT32'" in failed["rest::model_metadata[echo]"]
    assert "binary_data_size" in failed["rest::binary_outputs[echo]"]
    # Core messages say what was sent, what came back, and the sentence broken.
    assert 'no body, not the JSON object {"live": $bool}' in failed["rest::core_health_live"]
    assert 'Server Live Response JSON Object' in failed["rest::core_health_live"]
    assert "answered 200" in failed["rest::core_unknown_model"]
    assert "with id 'interlock-check-id-7' answered" in failed["grpc::core_infer[echo]"]
    blocked = next(c for c in report.cases if c.id == "rest::json_numbers_round_trip[echo]")
    assert blocked.root_cause == "SRV-083" and "could not check" in (blocked.message or "")
    assert report.requirement("SRV-074").status == "blocked"
    assert report.requirement("SRV-074").blocked_by == ["SRV-083"]
    assert "answered 200, expected 404" in failed["rest::unknown_model"]
    assert "shared_memory_region" in failed["grpc::unsupported_parameters"]
    # A 500 carrying {"error": ...} is allowed by the protocol: an observation, not a failure.
    assert any(o.requirement == "SRV-204" and "answered 500" in o.message
               for o in report.observations)
    passed = [c for c in report.cases if c.outcome == "passed"]
    assert len(passed) > 30, "the other checks did not run"
    for ident in failed:
        assert ident in stderr, f"{ident} is not reported on stderr"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "**Verdict: NOT CERTIFIED**" in summary and "### SRV-094" in summary
    assert "| oip-core | verdict | failed |" in summary


@requirement("CONF-028")
def test_no_model_no_certificate(
    interlock_server: interlock.RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --model, a server whose models cannot be discovered is not certified, however
    many server-wide checks pass; the report says how many requirements went untested."""
    out = tmp_path / "out"
    code, stdout, stderr = run(["certify", "--server", interlock_server.url("rest"),
                                "--token", TOKEN, "--output", str(out), "--json"], capsys)
    assert code == 1
    report = read_report(out / "report.json")
    assert json.loads(stdout) == json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert f"{NO_MODEL}: http://" in stderr
    assert report.verdict == "not certified" and (report.error or "").startswith(NO_MODEL)
    core = next(p for p in report.profiles if p.name == "oip-core")
    assert core.tested >= 3 and sum(len(ids) for ids in core.not_tested.values()) >= 5


@requirement("CONF-028")
def test_grpc_only_discovers_models_by_the_repository_index(
    nonconforming: NonconformingServer, interlock_server: interlock.RunningServer,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """With only --grpc and no --model, the checker asks the RepositoryIndex RPC of the model
    repository extension, for ready models: the non-conforming server lists echo, and echo is
    checked; interlock's own server has no repository
    extension (UNIMPLEMENTED), so it is not certified for want of a model."""
    report = check_server(grpc_address=nonconforming.grpc_address, timeout_s=5)
    assert report.plugin.module.endswith(
        "models found by the repository index (RepositoryIndex over gRPC): ['echo']")
    assert any(c.id == "grpc::core_infer[echo]" for c in report.cases), [c.id for c in
                                                                       report.cases]
    assert (report.error or "") == "" and report.requirement("SRV-223").status == "failed"
    out = tmp_path / "out"
    code, stdout, stderr = run(["certify", "--grpc", interlock_server.address("grpc"), "--token",
                           TOKEN, "--output", str(out)], capsys)
    saved = read_report(out / "report.json")
    assert code == 1 and saved.verdict == "not certified"
    assert (saved.error or "").startswith(NO_MODEL), saved.error
    assert ("the RepositoryIndex RPC of inference.GRPCInferenceService ended with "
            "UNIMPLEMENTED") in stderr
    assert stdout.startswith(f"{NO_MODEL}: "), stdout


def test_repository_index_messages_are_read_from_the_wire() -> None:
    """The gRPC repository index is read from the protobuf wire format as tritonclient's
    generated messages write it; bytes that are not a message are refused."""
    from tritonclient.grpc import service_pb2 as triton

    from interlock_conformance.oip.discovery import parse_repository_index

    entry = triton.RepositoryIndexResponse.ModelIndex
    wire = triton.RepositoryIndexResponse(models=[
        entry(name="a", version="2", state="READY"), entry(name="b", state="UNAVAILABLE",
                                                           reason="loading"),
        entry(name="c\u00e9")]).SerializeToString()
    assert parse_repository_index(wire) == [
        {"name": "a", "version": "2", "state": "READY", "reason": ""},
        {"name": "b", "version": "", "state": "UNAVAILABLE", "reason": "loading"},
        {"name": "c\u00e9", "version": "", "state": "", "reason": ""}]
    assert parse_repository_index(b"") == []
    for garbage in (b"\x0a\x05ab", b"\xff\xff\xff", b"\x0b"):
        with pytest.raises(ValueError):
            parse_repository_index(garbage)


@requirement("CONF-027")
def test_profiles_cover_every_serving_requirement_and_check() -> None:
    """serving.md's profile table lists every SRV requirement once, with a source; each check
    of the core and its extensions cites only requirements of its own profile."""
    requirements = {i for i, r in load_requirements().items() if r.file == "serving.md"}
    table = load_profiles()
    assert set(table) == requirements
    for entry in table.values():
        assert entry.profile in PROFILES and entry.source, entry
        if entry.profile != "interlock-serving":
            assert any(word in entry.source for word in ("REST", "gRPC", "binary")), entry
    for check in registered_checks(by_address=True):
        if check.by_address:
            assert {profile_of(i) for i in check.requirements} == {check.profile}, check.id
    plugin_checks = {c.id for c in registered_checks()}
    assert not any(c.by_address for c in registered_checks()) and plugin_checks


@requirement("SRV-055", "SRV-139")
def test_known_outputs_are_compared(
    interlock_server: interlock.RunningServer, golden_models: tuple[str, list[str]]
) -> None:
    """Given golden values, the checker compares them, and catches wrong ones."""
    vectors = load_vector_index()
    right = Expectations(models={"mlp_float32": ExpectedModel(
        vectors.inputs("mlp_float32"), vectors.outputs("mlp_float32"), 1e-5, 1e-6, ["1"])})
    report = check_server(interlock_server.url("rest"), interlock_server.address("grpc"),
                          model="mlp_float32", token=TOKEN, expected=right)
    assert report.verdict == "certified", [(r.id, r.failures) for r in report.failed()]
    assert report.requirement("SRV-139").status == "passed"
    wrong_outputs = {k: v + np.float32(1) for k, v in vectors.outputs("mlp_float32").items()}
    wrong = Expectations(models={"mlp_float32": ExpectedModel(
        vectors.inputs("mlp_float32"), wrong_outputs, 1e-5, 1e-6, ["1", "2"])})
    report = check_server(interlock_server.url("rest"), interlock_server.address("grpc"),
                          model="mlp_float32", token=TOKEN, expected=wrong)
    # Wrong values fail the requirements about values; the JSON answers are well formed
    # (SRV-055 is not judged on values: blocked by SRV-020).
    assert {r.id for r in report.failed()} == {"SRV-020", "SRV-053", "SRV-082", "SRV-083",
                                               "SRV-115", "SRV-139"}
    assert report.requirement("SRV-055").blocked_by == ["SRV-020"]


def test_a_server_that_wants_a_token_fails_without_one(
    interlock_server: interlock.RunningServer,
) -> None:
    """A checker without the token reports the 401s it gets, naming the requirement."""
    report = check_server(interlock_server.url("rest"), model="mlp_float32")
    assert report.requirement("SRV-091").status == "not claimed"
    failing = report.requirement("SRV-053")
    assert failing.status == "failed" and "401" in failing.failures[0].message


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(["certify", "interlock_rest", "--profile", "oip-core"], capsys)
    assert code == 2 and "--profile" in err
    code, _, err = run(["certify", "--server", "http://127.0.0.1:9", "--profile", "x"], capsys)
    assert code == 2 and "interlock-serving" in err
    code, _, err = run(["certify", "interlock_rest", "--server", "http://127.0.0.1:9"], capsys)
    assert code == 2 and "not both" in err
    code, _, err = run(["certify"], capsys)
    assert code == 2 and "--server" in err
    code, _, err = run(["certify", "interlock_rest", "--model", "x"], capsys)
    assert code == 2 and "--model" in err
    code, _, err = run(["certify", "--server", "http://127.0.0.1:9", "--output",
                        str(tmp_path / "o")], capsys)
    assert code == 1 and "no server answers at http://127.0.0.1:9" in err
    assert not (tmp_path / "o" / "report.json").exists()


@pytest.mark.parametrize("plugin", ["interlock_onnxruntime", "interlock_reference",
                                    "interlock_sklearn", "interlock_local", "interlock_rest",
                                    "interlock_grpc"])
@requirement("CONF-011", "CONF-015", "CONF-022")
def test_reference_plugins_are_certified(plugin: str, tmp_path: Path) -> None:
    report = certify(plugin, tmp_path / "out")
    assert report.verdict == "certified", [(r.id, [f.message for f in r.failures])
                                           for r in report.failed()]
    assert report.duration_s < 60
    kinds = {c.kind for c in report.cases} - {"plugin"}
    passed = [c for c in report.cases if c.outcome == "passed" and c.kind in kinds]
    assert kinds and len(passed) >= 8, f"{plugin}: only {len(passed)} component cases passed"
    json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))


@requirement("DS-041", "DS-005", "CONF-022")
def test_a_format_that_buffers_its_input_fails_exactly_ds041(tmp_path: Path) -> None:
    """A format whose writer reads the whole input first (otherwise the reference Arrow IPC
    format) is certified by a vendor's command and fails DS-041 alone, caught by the memory
    it holds while a 64 MiB stream is produced; DS-005 passes for it."""
    from distributions import BROKEN_PLUGINS, install, run_cli

    name = "broken_buffering_writer"
    install(BROKEN_PLUGINS / name, tmp_path / "site")
    done = run_cli(["certify", name, "--output", "report"], cwd=tmp_path,
                   sites=[tmp_path / "site"])
    report = read_report(tmp_path / "report" / "report.json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert {r.id for r in report.failed()} == {"DS-041"}, [
        (r.id, [f.message[:200] for f in r.failures]) for r in report.failed()]
    assert "of Arrow memory at peak" in report.requirement("DS-041").failures[0].message
    assert report.requirement("DS-005").status == "passed"


@requirement("CONF-029", "DS-041", "DS-005")
def test_no_certificate_while_an_applicable_requirement_is_untested(tmp_path: Path) -> None:
    """The suite of before this issue (no DS-041/DS-005 case) certified formats that were never
    checked on them; with the applicability table it cannot: run the packaged cases without
    dataset_streaming.py against the reference formats."""
    import shutil
    import subprocess
    import sys

    from interlock_conformance.applicability import applicable_untested, load_applicability
    from interlock_conformance.locations import cases_dir
    from interlock_conformance.report import ComponentSummary, RequirementResult

    rules = {r.requirement for r in load_applicability()}
    assert {"DS-005", "DS-041"} <= rules <= set(load_requirements())
    plain = ComponentSummary(kind="dataset_format", name="x", capabilities=["read", "write"])
    logged = ComponentSummary(kind="dataset_format", name="d",
                              capabilities=["read", "transactional", "write"])
    untested = [RequirementResult(id=i, level="MUST", file="dataset.md", text="", cases=[],
                                  status="not tested") for i in ("DS-005", "DS-041")]
    assert applicable_untested(untested, [plain, logged]) == [
        "DS-005 (dataset_format 'x')", "DS-041 (dataset_format 'x')",
        "DS-041 (dataset_format 'd')"]
    cases = tmp_path / "cases"
    shutil.copytree(cases_dir(), cases, ignore=shutil.ignore_patterns(
        "dataset_streaming.py", "__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--interlock-plugin",
         "interlock_formats", "--interlock-cases", str(cases), "--interlock-report",
         str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    report = read_report(tmp_path / "out" / "report.json")
    assert done.returncode != 0 and report.verdict == "not certified", done.stdout[-2000:]
    assert not report.failed() and "NOT TESTED DS-041" in done.stdout
    assert "DS-041 (dataset_format 'parquet')" in report.untested_applicable
    assert "DS-005 (dataset_format 'csv')" in report.untested_applicable
