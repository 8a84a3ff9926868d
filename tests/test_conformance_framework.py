"""The conformance suite's machinery: requirements, case metadata, verdicts, reports, the pytest
plugin and ``certify`` (spec: conformance.md).

The reference plugins must be certified; a deliberately broken plugin, installed as its own
distribution, must fail exactly the requirement it breaks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlock
from interlock_conformance import (
    Report,
    Requirement,
    RequirementsError,
    case_citations,
    certify,
    check_citations,
    judge_requirements,
    load_requirements,
    read_report,
    requirement,
    source_citations,
    write_reports,
)
from interlock_conformance.report import (
    CaseOutcome,
    CaseResult,
    Environment,
    PluginSummary,
    count,
)
from interlock_conformance.requirements import parse_requirements

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "specs" / "v1" / "schemas" / "report.schema.json"

# -- requirements ---------------------------------------------------------------------------------

SPEC = """\
# Title

Status: v1

- **AB-001** A thing MUST be done,
  and the text goes on here.
- **AB-002** It SHOULD NOT happen, though it MUST sometimes.
  - a nested bullet is part of the text
- **AB-003** It MAY be optional.
- **AB-004** `FOO` is a list of names.

Some prose mentioning **AB-001** again.

```
- **AB-999** inside a code block: not a requirement
```
- **AB-005** Items are RECOMMENDED.
"""


@requirement("CONF-001", "CONF-002")
def test_requirements_are_parsed_with_their_level_and_full_text() -> None:
    found = {r.id: r for r in parse_requirements(SPEC, "ab.md")}
    assert list(found) == ["AB-001", "AB-002", "AB-003", "AB-004", "AB-005"]
    assert found["AB-001"].text == "A thing MUST be done, and the text goes on here."
    assert found["AB-002"].text.endswith("- a nested bullet is part of the text")
    levels = {ident: (r.level, r.keyword) for ident, r in found.items()}
    assert levels == {
        "AB-001": ("MUST", "MUST"),
        "AB-002": ("SHOULD", "SHOULD NOT"),
        "AB-003": ("MAY", "MAY"),
        "AB-004": ("MUST", None),
        "AB-005": ("SHOULD", "RECOMMENDED"),
    }
    assert found["AB-001"].file == "ab.md" and found["AB-001"].prefix == "AB"


@requirement("CONF-001")
@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        ({"a.md": "- **AB-001** x MUST y\n", "b.md": "- **AB-001** z MUST w\n"}, "defined twice"),
        ({"a.md": "- **AB-001** x MUST y\n", "b.md": "- **AB-002** z MUST w\n"}, "used in both"),
        ({"a.md": "- **AB-1** x MUST y\n"}, "is not PREFIX-NNN"),
    ],
    ids=["duplicate", "prefix-in-two-files", "malformed"],
)
def test_malformed_specs_are_refused(tmp_path: Path, files: dict[str, str], complaint: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(RequirementsError) as caught:
        load_requirements(tmp_path)
    assert complaint in str(caught.value)
    assert caught.value.hint


@requirement("CONF-001")
def test_the_specs_of_v1_load() -> None:
    requirements = load_requirements()
    prefixes = {r.prefix: r.file for r in requirements.values()}
    assert prefixes["PLG"] == "plugins.md"
    assert prefixes["DS"] == "dataset.md"
    assert prefixes["ART"] == "artifact.md"
    assert prefixes["CONF"] == "conformance.md"
    assert requirements["CONF-022"].level == "MUST"


def test_check_citations_reports_unknown_silent_and_uncited() -> None:
    requirements = {
        i: Requirement(i, "MUST", "text", "x.md") for i in ("AB-001", "AB-002", "CD-001")
    }
    problems = check_citations(requirements, {"case_a": ["AB-001", "ZZ-009"], "case_b": []})
    assert problems.unknown == {"case_a": ["ZZ-009"]}
    assert problems.citing_nothing == ["case_b"]
    assert problems.uncited == ["AB-002", "CD-001"]
    assert "ZZ-009" in problems.describe()
    only_cd = check_citations(requirements, {"case": ["AB-001", "AB-002"]}, prefixes=["CD"])
    assert only_cd.uncited == ["CD-001"] and only_cd


@requirement("CONF-003")
def test_every_packaged_case_cites_requirements_that_exist() -> None:
    citations = case_citations()
    assert any(c.startswith("dataset_format::") for c in citations)
    assert any(c.startswith("artifact_store::") for c in citations)
    problems = check_citations(load_requirements(), citations, prefixes=[])
    assert not problems, problems.describe()


def test_citations_are_read_from_test_sources(tmp_path: Path) -> None:
    source = tmp_path / "test_core.py"
    source.write_text(
        textwrap.dedent("""
        import pytest
        from interlock_conformance import requirement

        pytestmark = pytest.mark.interlock_requirements("AB-009")

        @requirement("AB-001", "AB-002")
        def test_one():
            pass

        @pytest.mark.parametrize("x", [pytest.param(1, marks=requirement("AB-003"))])
        def test_two(x):
            pass

        def helper():
            requirement("AB-004")
    """)
    )
    assert source_citations([source]) == {
        "test_core.py::test_one": {"AB-001", "AB-002", "AB-009"},
        "test_core.py::test_two": {"AB-003", "AB-009"},
    }


@requirement("CONF-004")
def test_every_conformance_requirement_is_checked() -> None:
    """The part of CONF-004 that holds today: the suite's own spec (CONF-) is fully cited by the
    cases and interlock's tests. Extend ``prefixes`` as each area's cases land."""
    citations = {**case_citations(), **source_citations(sorted((ROOT / "tests").glob("test_*.py")))}
    problems = check_citations(load_requirements(), citations, prefixes=["CONF"])
    assert not problems, problems.describe()


def test_specs_ship_inside_the_package_of_a_wheel(tmp_path: Path) -> None:
    """The wheel force-includes specs/ as interlock_conformance/specs; that copy is preferred."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"specs" = "interlock_conformance/specs"' in pyproject
    site = tmp_path / "site"
    package = site / "interlock_conformance"
    shutil.copytree(
        ROOT / "conformance" / "interlock_conformance",
        package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(ROOT / "specs", package / "specs")
    probe = (
        "from interlock_conformance import specs_dir, load_requirements, load_vector_index\n"
        "print(specs_dir()); print(len(load_requirements())); print(load_vector_index().digest)\n"
    )
    done = _run(["-c", probe], cwd=tmp_path, path=site)
    assert done.returncode == 0, done.stderr
    where, count, digest = done.stdout.split()
    assert where == str(package / "specs" / "v1")
    assert int(count) == len(load_requirements())
    assert digest.startswith("sha256:")


# -- verdicts -------------------------------------------------------------------------------------


def _case(ident: str, outcome: CaseOutcome, *ids: str, message: str | None = None) -> CaseResult:
    return CaseResult(
        id=ident,
        kind="dataset_format",
        component="x",
        requirements=list(ids),
        capabilities=[],
        outcome=outcome,
        message=message,
    )


@requirement("CONF-021")
def test_requirement_status_follows_the_cases_that_cite_it() -> None:
    requirements = {
        i: Requirement(i, "MUST", "text", "x.md")
        for i in ("AB-001", "AB-002", "AB-003", "AB-004", "AB-005")
    }
    cases = [
        _case("m::ok", "passed", "AB-001", "AB-002"),
        _case("m::bad", "failed", "AB-002", message="boom"),
        _case("m::unclaimed", "not claimed", "AB-003", "AB-004"),
        _case("m::ok2", "passed", "AB-004"),
    ]
    results = {r.id: r for r in judge_requirements(requirements, cases)}
    assert {i: r.status for i, r in results.items()} == {
        "AB-001": "passed",
        "AB-002": "failed",
        "AB-003": "not claimed",
        "AB-004": "passed",
        "AB-005": "not tested",
    }
    assert [(f.case, f.message) for f in results["AB-002"].failures] == [("m::bad", "boom")]
    assert results["AB-002"].cases == ["m::ok", "m::bad"]


# -- report files ---------------------------------------------------------------------------------


def _report(cases: list[CaseResult]) -> Report:
    requirements = {i: Requirement(i, "MUST", f"text of {i}", "x.md") for i in ("AB-001", "AB-002")}
    results = judge_requirements(requirements, cases)
    now = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    return Report(
        spec_version="1",
        suite_version=interlock.__version__,
        plugin=PluginSummary(
            name="acme",
            distribution="acme-interlock",
            version="1.0",
            module="acme.plugin",
            status="loaded",
        ),
        components=[],
        environment=Environment(python="CPython 3", platform="test", packages={}),
        started_at=now,
        finished_at=now,
        duration_s=0.5,
        vectors_sha256=None,
        requirements=results,
        cases=cases,
        counts=count(results, cases),
        verdict="not certified",
    )


@requirement("CONF-030", "CONF-032", "CONF-033")
def test_reports_are_written_together_and_describe_every_case(tmp_path: Path) -> None:
    report = _report(
        [
            _case("m::ok", "passed", "AB-001"),
            _case("m::bad", "failed", "AB-002", message="value <1> & \x01 differs"),
            CaseResult(
                id="m::needs[x]",
                kind="dataset_format",
                component="x",
                requirements=["AB-001"],
                capabilities=["write"],
                outcome="not claimed",
                missing_capabilities=["write"],
            ),
        ]
    )
    paths = write_reports(report, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "junit.xml",
        "report.json",
        "summary.md",
    ]
    assert read_report(paths["report.json"]) == report

    suite = ET.parse(paths["junit.xml"]).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert [
        p.get("value") for p in cases["ok"].iter("property") if p.get("name") == "requirement"
    ] == ["AB-001"]
    failure = cases["bad"].find("failure")
    assert failure is not None and "value <1> &" in (failure.get("message") or "")
    skipped = cases["needs[x]"].find("skipped")
    assert skipped is not None and (skipped.get("message") or "").startswith("not claimed")

    summary = paths["summary.md"].read_text(encoding="utf-8")
    assert "**Verdict: NOT CERTIFIED**" in summary
    assert "### AB-002" in summary and "`m::bad` on `x`: value <1>" in summary
    assert "| AB-001 | MUST | passed |" in summary


@requirement("CONF-031")
def test_report_json_schema_is_published_and_closed() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["title"] == "interlock conformance report (report.json), spec v1"
    assert set(schema["properties"]) == set(Report.model_fields)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"plugin", "requirements", "cases", "verdict", "spec_version"}
    statuses = schema["$defs"]["RequirementResult"]["properties"]["status"]["enum"]
    assert statuses == ["passed", "failed", "blocked", "not claimed", "not tested"]


# -- the pytest plugin ----------------------------------------------------------------------------


def _run(
    args: list[str], *, cwd: Path, path: Path | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "PYTEST_"))}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_pytest_plugin_is_inert_without_its_option(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(
        textwrap.dedent("""
        import sys

        def test_probe(pytestconfig):
            assert pytestconfig.pluginmanager.get_plugin("interlock") is not None
            loaded = [m for m in ("interlock_conformance.session", "pyarrow", "interlock.plugins._registry")
                      if m in sys.modules]
            assert loaded == [], loaded
    """)
    )
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_probe.py"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@requirement("CONF-010")
def test_an_unknown_plugin_is_refused_with_the_installed_ones(tmp_path: Path) -> None:
    done = _run(
        ["-m", "pytest", "-p", "no:cacheprovider", "--interlock-plugin", "no_such_plugin"],
        cwd=tmp_path,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "no interlock plugin named 'no_such_plugin'" in done.stderr
    assert "interlock_formats" in done.stderr
    with pytest.raises(interlock.PluginError) as caught:
        certify("no_such_plugin", tmp_path / "out")
    assert "interlock_formats" in str(caught.value) and caught.value.hint
    assert not (tmp_path / "out").exists()


# A dataset format that silently turns nulls into zeros and empty strings: a plugin that breaks
# DS-071 and nothing else, installed the way pip installs a distribution.
LOSSY_PLUGIN = """
from interlock import hookimpl
from interlock_formats.formats import ArrowIpcFormat


class LossyFormat(ArrowIpcFormat):
    name = "lossy"
    extensions = (".lossy",)
    priority = 0
    capabilities = frozenset({"read", "write"}) | frozenset(
        c for c in ArrowIpcFormat.capabilities if c.startswith("types:")
    )
    description = "Arrow IPC that drops nulls on write (deliberately broken)"

    def write(self, data, path, filesystem, *, options):
        import pyarrow as pa
        import pyarrow.compute as pc

        def fill(column):
            kind = column.type
            if pa.types.is_integer(kind) or pa.types.is_floating(kind):
                return pc.fill_null(column, 0)
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                return pc.fill_null(column, "")
            if pa.types.is_boolean(kind):
                return pc.fill_null(column, False)
            return column

        batches = (
            pa.RecordBatch.from_arrays([fill(c) for c in batch.columns], schema=batch.schema)
            for batch in data
        )
        reader = pa.RecordBatchReader.from_batches(data.schema, batches)
        super().write(reader, path, filesystem, options=options)


@hookimpl
def interlock_dataset_formats():
    return [LossyFormat()]
"""


@pytest.fixture
def lossy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The lossy plugin as the distribution ``lossy-interlock`` 0.3, on PYTHONPATH."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "lossy_formats.py").write_text(LOSSY_PLUGIN, encoding="utf-8")
    info = site / "lossy_interlock-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lossy-interlock\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[interlock]\nlossy = lossy_formats\n")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.syspath_prepend(str(site))
    yield site


SYNTHETIC_CASES = """
import pytest
from interlock_conformance import capability, component_kind, requirement

pytestmark = component_kind("dataset_format")


@requirement("PLG-001")
def test_passes(component):
    assert component.name == "lossy"


@requirement("PLG-001", "PLG-002")
def test_fails(component):
    assert 1 + 1 == 3, "deliberate failure"


@requirement("PLG-003")
@capability("append")
def test_needs_append(component):
    raise AssertionError("must not run: append is not claimed")


@requirement("PLG-004")
def test_skips_itself(component):
    pytest.skip("cases may not skip")


@pytest.fixture
def broken():
    raise RuntimeError("set-up broke")


@requirement("PLG-005")
def test_setup_error(component, broken):
    pass


@requirement("PLG-006")
@pytest.mark.parametrize("n", [1, pytest.param(2, marks=capability("partitioned"))])
def test_param_capability(component, n):
    assert n == 1
"""

RUNTIME_CASES = """
from interlock_conformance import component_kind, requirement

pytestmark = component_kind("runtime")


@requirement("PLG-007")
def test_runtime_thing(component):
    raise AssertionError("the plugin has no runtime: this must not run")
"""


@requirement("CONF-011", "CONF-012", "CONF-020", "CONF-021", "CONF-022", "CONF-023")
def test_outcomes_become_statuses_without_skips(tmp_path: Path, lossy_plugin: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "synthetic.py").write_text(SYNTHETIC_CASES, encoding="utf-8")
    (cases / "runtime_cases.py").write_text(RUNTIME_CASES, encoding="utf-8")
    out = tmp_path / "out"
    done = _run(
        [
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--interlock-plugin",
            "lossy",
            "--interlock-cases",
            str(cases),
            "--interlock-report",
            str(out),
        ],
        cwd=tmp_path,
        path=lossy_plugin,
    )
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "verdict: NOT CERTIFIED" in done.stdout
    report = read_report(out / "report.json")
    outcomes = {c.id: c.outcome for c in report.cases}
    assert outcomes == {
        "synthetic::test_passes[lossy]": "passed",
        "synthetic::test_fails[lossy]": "failed",
        "synthetic::test_needs_append[lossy]": "not claimed",
        "synthetic::test_skips_itself[lossy]": "failed",
        "synthetic::test_setup_error[lossy]": "failed",
        "synthetic::test_param_capability[lossy-1]": "passed",
        "synthetic::test_param_capability[lossy-2]": "not claimed",
    }
    statuses = {i: report.requirement(i).status for i in [f"PLG-00{n}" for n in range(1, 8)]}
    assert statuses == {
        "PLG-001": "failed",
        "PLG-002": "failed",
        "PLG-003": "not claimed",
        "PLG-004": "failed",
        "PLG-005": "failed",
        "PLG-006": "passed",
        "PLG-007": "not tested",
    }
    messages = {c.id: c.message for c in report.cases}
    assert "deliberate failure" in (messages["synthetic::test_fails[lossy]"] or "")
    assert "must not skip" in (messages["synthetic::test_skips_itself[lossy]"] or "")
    assert (messages["synthetic::test_setup_error[lossy]"] or "").startswith(
        "setup failed: RuntimeError: set-up broke"
    )
    missing = {c.id: c.missing_capabilities for c in report.cases if c.outcome == "not claimed"}
    assert missing == {
        "synthetic::test_needs_append[lossy]": ["append"],
        "synthetic::test_param_capability[lossy-2]": ["partitioned"],
    }
    assert report.plugin.distribution == "lossy-interlock" and report.plugin.version == "0.3"
    assert report.verdict == "not certified" and report.error is None


@requirement("CONF-003")
def test_a_case_citing_an_unknown_requirement_is_refused(
    tmp_path: Path, lossy_plugin: Path
) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "bad.py").write_text(
        textwrap.dedent("""
        from interlock_conformance import component_kind, requirement
        pytestmark = component_kind("dataset_format")

        @requirement("DS-999")
        def test_cites_nothing_real(component):
            pass
    """),
        encoding="utf-8",
    )
    done = _run(
        [
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--interlock-plugin",
            "lossy",
            "--interlock-cases",
            str(cases),
            "--interlock-report",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        path=lossy_plugin,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "cites unknown DS-999" in done.stderr


# -- certification of real plugins ----------------------------------------------------------------


def _check_files(out: Path, report: Report) -> None:
    assert read_report(out / "report.json") == report
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(report.cases))
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f"# interlock conformance: {report.plugin.name}" in summary


@requirement("CONF-010", "CONF-014", "CONF-015", "CONF-022", "CONF-030", "CONF-031")
def test_reference_formats_are_certified(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    report = certify("interlock_formats", tmp_path / "out")
    shown = capfd.readouterr().out
    assert "verdict: CERTIFIED" in shown and "%]" in shown, "pytest's progress was not shown"
    failed = [(r.id, r.failures) for r in report.failed()]
    assert report.verdict == "certified", failed
    assert report.duration_s < 60
    _check_files(tmp_path / "out", report)
    assert {c.name for c in report.components} == {"parquet", "arrow", "csv", "jsonl"}
    for ident in ("DS-071", "DS-072", "DS-022", "DS-023", "DS-025", "DS-060", "DS-090", "PLG-006"):
        assert report.requirement(ident).status == "passed", ident
    jsonl_round_trips = [
        c for c in report.cases if c.id.startswith("dataset_format::test_vector_round_trips[jsonl-")
    ]
    assert jsonl_round_trips and {c.outcome for c in jsonl_round_trips} == {"not claimed"}
    # The terminal counts cases as report.json does, the not-claimed ones included.
    cases = report.counts.cases
    assert cases["not claimed"] >= len(jsonl_round_trips) > 0
    assert (f"cases: {cases['passed']} passed, {cases['failed']} failed, "
            f"{cases['not claimed']} not claimed") in shown
    assert (
        report.requirement("SRV-001" if "SRV-001" in load_requirements() else "PLG-020").status
        == "not tested"
    )
    assert report.vectors_sha256 and report.vectors_sha256.startswith("sha256:")


@requirement("CONF-011", "CONF-013")
def test_reference_store_is_certified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_STORE", str(tmp_path / "user-store"))
    report = certify("interlock_fsstore", tmp_path / "out")
    assert report.verdict == "certified", [(r.id, r.failures) for r in report.failed()]
    _check_files(tmp_path / "out", report)
    assert report.requirement("ART-071").status == "passed"
    race = [c for c in report.cases if "concurrent" in c.id]
    assert (
        race
        and race[0].outcome == "not claimed"
        and race[0].missing_capabilities == ["race-safe-publish"]
    )
    assert not (tmp_path / "user-store").exists(), "the run used the user's default store"


@requirement("CONF-021", "CONF-022", "CONF-023")
def test_a_format_that_drops_nulls_fails_exactly_the_round_trip(
    tmp_path: Path, lossy_plugin: Path
) -> None:
    report = certify("lossy", tmp_path / "out")
    assert report.verdict == "not certified"
    assert [r.id for r in report.failed()] == ["DS-071"]
    failures = report.requirement("DS-071").failures
    assert failures and all(f.component == "lossy" for f in failures)
    assert any(
        "read back 0, written None" in f.message or "read back '', written None" in f.message
        for f in failures
    ), [f.message for f in failures]
    assert report.requirement("DS-053").status == "not claimed"
    _check_files(tmp_path / "out", report)
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "**Verdict: NOT CERTIFIED**" in summary and "### DS-071" in summary
    junit = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    failed = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert failed and all("test_vector_round_trips" in (c.get("name") or "") for c in failed)


# -- the package's layout --------------------------------------------------------------------------

_SUITE = Path(__file__).resolve().parent.parent / "conformance" / "interlock_conformance"
_FACADES = ["interlock_conformance", "interlock_conformance.oip", "interlock_conformance.matrix"]


@pytest.mark.parametrize("facade", _FACADES)
def test_the_suites_facades_export_what_type_checkers_see(facade: str) -> None:
    import ast
    import importlib

    module = importlib.import_module(facade)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{facade}.{name}"
    imported: dict[str, str] = {}
    for node in ast.walk(ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names:
                    assert alias.asname == alias.name, "re-export with 'X as X' for strict mypy"
                    imported[alias.name] = stmt.module.removeprefix(f"{facade}.")
    assert imported == module._EXPORTS


def test_the_suite_imports_public_modules_only() -> None:
    """No module of the suite imports a private module of interlock (``interlock._x``,
    ``interlock.serving._x``) or anything of a plugin package (``interlock_grpc``): it checks
    plugins through the public API, as it would a vendor's."""
    import ast

    offenders = []
    for path in sorted(_SUITE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                top, *rest = name.split(".")
                private = top == "interlock" and any(part.startswith("_") for part in rest)
                plugin = top.startswith("interlock_") and top != "interlock_conformance"
                if private or plugin:
                    offenders.append(f"{path.relative_to(_SUITE)}:{node.lineno} {name}")
    assert not offenders, offenders
