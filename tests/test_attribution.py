"""A conformance failure lands on the requirement that was broken (spec: conformance.md
CONF-021, CONF-024 to CONF-026, CONF-031 to CONF-033).

interlock's core names the rule a component broke on the ``InterlockError`` it raises
(``requirement``); a case can attribute its own checks (``checking``); the session finds the
innermost attribution in a failed case's exception chain and records it as the case's root
cause; the verdict counts that requirement as failed and the others the case cites as blocked.
Deliberately broken plugins show the whole chain in test_broken_plugins.py.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from runtime_models import mlp, save

import interlock
from interlock import InterlockError, PluginError, Predictor, SpecViolation
from interlock.plugins import Registry
from interlock_conformance import (
    checking,
    judge_requirements,
    load_requirements,
    read_report,
    requirement,
    root_cause,
    write_reports,
)
from interlock_conformance.oip.checks import Blocked, CheckFailure
from interlock_conformance.report import (
    CaseOutcome,
    CaseResult,
    Environment,
    PluginSummary,
    Report,
    count,
)
from interlock_conformance.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "specs" / "v1" / "schemas" / "report.schema.json"
_ID = re.compile(r"^[A-Z]+-\d{3}$")


# -- finding the root cause -----------------------------------------------------------------------


@requirement("CONF-024")
def test_the_innermost_named_requirement_is_the_root_cause() -> None:
    core = SpecViolation("wrong dtype", requirement="RT-020")
    try:
        try:
            raise core
        except SpecViolation as exc:
            raise AssertionError("the case gave up") from exc
    except AssertionError as outer:
        assert root_cause(outer) == "RT-020"
    # An implicit context counts, unless ``from None`` suppressed it.
    try:
        try:
            raise SpecViolation("x", requirement="PLG-010")
        except SpecViolation:
            raise KeyError("k")
    except KeyError as implicit:
        assert root_cause(implicit) == "PLG-010"
    try:
        try:
            raise SpecViolation("x", requirement="PLG-010")
        except SpecViolation:
            raise KeyError("k") from None
    except KeyError as suppressed:
        assert root_cause(suppressed) is None
    assert root_cause(InterlockError("a user's mistake")) is None
    assert root_cause(ValueError("plain")) is None


@requirement("CONF-024")
def test_checking_attributes_what_fails_inside_it_and_keeps_the_cores_finding() -> None:
    with pytest.raises(AssertionError) as caught, checking("SRV-051"):
        assert 200 == 503, "not ready answered 200"
    assert root_cause(caught.value) == "SRV-051"
    # pytest's "DID NOT RAISE" is not an Exception; it is attributed too.
    with pytest.raises(pytest.fail.Exception) as failed, checking("DS-045"):
        with pytest.raises(ValueError):
            pass
    assert root_cause(failed.value) == "DS-045"
    # The core's finding is more precise than the case's guess, and nested blocks keep the
    # innermost attribution.
    with pytest.raises(SpecViolation) as core, checking("RT-004"):
        raise SpecViolation("wrong dtype", requirement="RT-020")
    assert root_cause(core.value) == "RT-020" and core.value.requirement == "RT-020"
    with pytest.raises(AssertionError) as nested, checking("BAT-020"), checking("BAT-006"):
        raise AssertionError("summary")
    assert root_cause(nested.value) == "BAT-006"
    # An InterlockError the case attributes keeps requirement None: that field is the core's.
    with pytest.raises(PluginError) as plugin, checking("RT-006"):
        raise PluginError("RuntimeError: no GPU")
    assert root_cause(plugin.value) == "RT-006" and plugin.value.requirement is None


@requirement("CONF-026")
def test_checker_failures_carry_their_requirement() -> None:
    failure = CheckFailure("0 raw_output_contents entries", requirement="SRV-136")
    assert failure.requirement == "SRV-136" and root_cause(failure) == "SRV-136"
    blocked = Blocked(("SRV-053",), "metadata unusable")
    assert blocked.requirement == "SRV-053" and root_cause(blocked) == "SRV-053"
    assert CheckFailure("plain").requirement is None and root_cause(CheckFailure("p")) is None


# -- the core names the rule ----------------------------------------------------------------------


class _Float64Outputs(Predictor):
    """Returns float64 where the signature declares float32."""

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": inputs["x"].astype(np.float64)}


@requirement("CONF-024", "RT-020")
def test_a_wrong_output_names_rt_020() -> None:
    spec = {"name": "x", "dtype": "float32", "shape": ["batch", 3]}
    signature = interlock.Signature(inputs=[spec], outputs=[{**spec, "name": "y"}])
    predictor = _Float64Outputs(signature, runtime_name="upcasting", model="m:1")
    with pytest.raises(SpecViolation) as caught:
        predictor.infer({"x": np.ones((2, 3), np.float32)})
    assert caught.value.requirement == "RT-020" and caught.value.component == "upcasting"
    with pytest.raises(interlock.SignatureMismatch) as mistake:
        predictor.infer({"x": np.ones((2, 3), np.float64)})
    assert mistake.value.requirement is None, "a user's mistake names no rule of a component"


class _NotAPredictorRuntime(interlock.Runtime):
    name = "not-a-predictor"

    def load(self, artifact: interlock.Artifact, device: str, options: dict[str, Any]) -> Any:
        return "a predictor, honestly"


class _CarelessExporter(interlock.Exporter):
    name = "careless"

    def __init__(self, result: Any) -> None:
        self.result = result

    def can_export(self, model: object) -> bool:
        return False

    def export(self, model: object, sample: object, options: dict[str, Any]) -> Any:
        return self.result(model) if callable(self.result) else self.result


@requirement("CONF-024", "RT-003", "EXP-024")
def test_contract_checks_of_loads_and_exports_name_their_rule(tmp_path: Path) -> None:
    registry = interlock.get_registry()
    registry.register(SimpleNamespace(interlock_runtimes=interlock.hookimpl(
        lambda: [_NotAPredictorRuntime()])), name="not-a-predictor")
    artifact = save(tmp_path / "store", mlp(features=4))
    with pytest.raises(SpecViolation) as loaded:
        interlock.load_predictor(artifact, runtime="not-a-predictor")
    assert loaded.value.requirement == "RT-003"

    graph = mlp(features=4)
    good = interlock.load_artifact(artifact.ref, str(tmp_path / "store"))
    crossed = interlock.ColumnMapping(inputs=[], outputs=[])
    for result, rule in (
        ("not an exported model", "EXP-003"),
        (interlock.ExportedModel(graph, good.signature, crossed, {}), "EXP-005"),
    ):
        name = f"careless-{rule.lower()}"
        exporter = type(name, (_CarelessExporter,), {"name": name})(result)
        registry.register(SimpleNamespace(interlock_exporters=interlock.hookimpl(
            lambda e=exporter: [e])), name=name)
        with pytest.raises(SpecViolation) as exported:
            interlock.export(object(), np.zeros((2, 4)), name="m", store=str(tmp_path / "s"),
                             exporter=name)
        assert exported.value.requirement == rule, exported.value


@requirement("CONF-024", "PLG-003", "PLG-010", "PLG-011")
@pytest.mark.parametrize(
    ("hooks", "rule"),
    [
        ({"interlock_runtime": lambda: []}, "PLG-003"),
        ({"interlock_runtimes": lambda: "not a list"}, "PLG-010"),
        ({"interlock_runtimes": lambda: [object()]}, "PLG-010"),
    ],
    ids=["unknown-hook", "not-a-list", "not-a-component"],
)
def test_a_refused_plugin_names_the_rule_it_broke(hooks: dict[str, object], rule: str) -> None:
    plugin = SimpleNamespace(**{name: interlock.hookimpl(f) for name, f in hooks.items()})
    registry = Registry(autoload=False)
    with pytest.raises(PluginError) as caught:
        registry.register(plugin, name="refused")
    assert caught.value.requirement == rule
    assert registry.plugins[-1].status == "error" and registry.plugins[-1].requirement == rule


def test_a_plugin_that_crashes_names_no_rule() -> None:
    def crash() -> list[object]:
        raise RuntimeError("boom")

    registry = Registry(autoload=False)
    with pytest.raises(PluginError) as caught:
        registry.register(SimpleNamespace(interlock_runtimes=interlock.hookimpl(crash)), "crash")
    assert caught.value.requirement is None and registry.plugins[-1].requirement is None


def _literals(path: Path, keyword: str, calls: tuple[str, ...]) -> set[str]:
    """String literals given as ``keyword=`` or as the first argument of ``calls`` in
    ``path``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == keyword and isinstance(kw.value, ast.Constant):
                found.add(str(kw.value.value))
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in calls and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant):
                found.add(str(first.value))
            elif isinstance(first, ast.Tuple | ast.List):
                found |= {str(e.value) for e in first.elts if isinstance(e, ast.Constant)}
    return found


@requirement("CONF-024")
def test_every_attributed_requirement_exists() -> None:
    """Each rule the core, the checker or a case names is a requirement of specs/v1."""
    defined = load_requirements()
    named: dict[str, set[str]] = {}
    for path in sorted((ROOT / "sdk" / "interlock").rglob("*.py")):
        named[str(path.relative_to(ROOT))] = _literals(path, "requirement", ())
    for path in sorted((ROOT / "conformance" / "interlock_conformance").rglob("*.py")):
        named[str(path.relative_to(ROOT))] = _literals(path, "requirement", ("checking", "Blocked"))
    unknown = {f: sorted(i for i in ids if _ID.match(i) and i not in defined)
               for f, ids in named.items()}
    assert not {f: ids for f, ids in unknown.items() if ids}, unknown
    assert {"RT-003", "PLG-010", "PLG-011", "EXP-003", "BAT-006", "DS-016"} <= set().union(
        *named.values())


# -- judging ---------------------------------------------------------------------------------------


def _case(ident: str, outcome: CaseOutcome, *ids: str, cause: str | None = None) -> CaseResult:
    return CaseResult(id=ident, kind="runtime", component="r", requirements=list(ids),
                      capabilities=[], outcome=outcome, message=f"{ident} says so",
                      root_cause=cause)


_SPEC = {i: Requirement(i, "MUST", f"text of {i}", "x.md")
         for i in ("AB-001", "AB-002", "AB-003", "AB-004", "AB-005", "AB-006")}


@requirement("CONF-021", "CONF-024", "CONF-025")
def test_a_root_cause_fails_one_requirement_and_blocks_the_others() -> None:
    cases = [
        # fails AB-001 (cited) and blocks AB-002
        _case("m::structure", "failed", "AB-001", "AB-002", cause="AB-001"),
        # fails AB-005, which it does not cite, and blocks AB-003 and AB-002
        _case("m::values", "failed", "AB-002", "AB-003", cause="AB-005"),
        # AB-003 also passed elsewhere: blocked wins, it was not fully checked
        _case("m::other", "passed", "AB-003"),
        # a plain failure fails everything it cites
        _case("m::plain", "failed", "AB-004"),
        # a root cause that names no requirement of the spec: a plain failure
        _case("m::typo", "failed", "AB-006", cause="ZZ-999"),
    ]
    results = {r.id: r for r in judge_requirements(_SPEC, cases)}
    statuses = {i: r.status for i, r in results.items()}
    assert statuses == {"AB-001": "failed", "AB-002": "blocked", "AB-003": "blocked",
                        "AB-004": "failed", "AB-005": "failed", "AB-006": "failed"}
    assert results["AB-002"].blocked_by == ["AB-001", "AB-005"]
    assert results["AB-003"].blocked_by == ["AB-005"]
    assert results["AB-001"].blocked_by == [] and results["AB-004"].blocked_by == []
    assert [f.case for f in results["AB-005"].failures] == ["m::values"]
    assert results["AB-005"].cases == ["m::values"]
    assert results["AB-002"].failures == []
    assert count(results.values(), cases).requirements == {
        "passed": 0, "failed": 4, "blocked": 2, "not claimed": 0, "not tested": 0}


def _report(cases: list[CaseResult]) -> Report:
    results = judge_requirements(_SPEC, cases)
    now = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    return Report(
        spec_version="1", suite_version=interlock.__version__,
        plugin=PluginSummary(name="acme", distribution="acme", version="1", module="acme",
                             status="loaded"),
        components=[], environment=Environment(python="CPython 3", platform="t", packages={}),
        started_at=now, finished_at=now, duration_s=0.1, vectors_sha256=None,
        requirements=results, cases=cases, counts=count(results, cases),
        verdict="not certified",
    )


@requirement("CONF-031", "CONF-032", "CONF-033")
def test_reports_show_root_causes_and_what_they_blocked(tmp_path: Path) -> None:
    report = _report([_case("m::structure", "failed", "AB-001", "AB-002", cause="AB-003"),
                      _case("m::fine", "passed", "AB-004")])
    paths = write_reports(report, tmp_path)
    again = read_report(paths["report.json"])
    assert again == report and again.cases[0].root_cause == "AB-003"
    assert [r.id for r in again.blocked()] == ["AB-001", "AB-002"]
    assert again.requirement("AB-001").blocked_by == ["AB-003"]
    suite = ET.parse(paths["junit.xml"]).getroot().find("testsuite")
    assert suite is not None
    case = next(c for c in suite.iter("testcase") if c.get("name") == "structure")
    props = [(p.get("name"), p.get("value")) for p in case.iter("property")]
    assert ("root_cause", "AB-003") in props and ("requirement", "AB-001") in props
    summary = paths["summary.md"].read_text(encoding="utf-8")
    assert "1 failed, 2 blocked" in summary
    assert "## Blocked" in summary and "- by AB-003: AB-001, AB-002" in summary
    assert "| AB-001 | MUST | blocked by AB-003 |" in summary
    assert "### AB-003" in summary and "`m::structure` on `r`" in summary
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert "root_cause" in schema["$defs"]["CaseResult"]["properties"]
    assert "blocked_by" in schema["$defs"]["RequirementResult"]["properties"]


# -- a run ---------------------------------------------------------------------------------------

ATTRIBUTED_CASES = """
import pytest
from interlock import SpecViolation
from interlock_conformance import checking, component_kind, requirement

pytestmark = component_kind("dataset_format")


@requirement("PLG-001", "PLG-002")
def test_core_finding(component):
    try:
        raise SpecViolation("the format returned a str", requirement="DS-016")
    except SpecViolation as exc:
        raise AssertionError("could not go on") from exc


@requirement("PLG-004", "PLG-005")
def test_own_attribution(component):
    with checking("PLG-005"):
        assert component.name == "nobody", "deliberately wrong"


@requirement("PLG-006")
def test_passes(component):
    pass


@pytest.fixture
def broken_setup():
    with checking("PLG-012"):
        raise RuntimeError("set-up broke")


@requirement("PLG-013")
def test_blocked_in_setup(component, broken_setup):
    pass
"""


@requirement("CONF-020", "CONF-021", "CONF-022", "CONF-024", "CONF-025")
def test_a_run_records_root_causes(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "attributed.py").write_text(textwrap.dedent(ATTRIBUTED_CASES), encoding="utf-8")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERLOCK_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k", "arrow",
         "--interlock-plugin", "interlock_formats", "--interlock-cases", str(cases),
         "--interlock-report", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "blocked, not checked because of a failure above" in done.stdout
    report = read_report(out / "report.json")
    causes = {c.id: c.root_cause for c in report.cases}
    assert causes == {
        "attributed::test_core_finding[arrow]": "DS-016",
        "attributed::test_own_attribution[arrow]": "PLG-005",
        "attributed::test_passes[arrow]": None,
        "attributed::test_blocked_in_setup[arrow]": "PLG-012",
    }
    statuses = {i: report.requirement(i).status for i in (
        "DS-016", "PLG-001", "PLG-002", "PLG-004", "PLG-005", "PLG-006", "PLG-012", "PLG-013")}
    assert statuses == {
        "DS-016": "failed", "PLG-001": "blocked", "PLG-002": "blocked", "PLG-004": "blocked",
        "PLG-005": "failed", "PLG-006": "passed", "PLG-012": "failed", "PLG-013": "blocked",
    }
    assert report.requirement("PLG-001").blocked_by == ["DS-016"]
    assert "could not go on" in report.requirement("DS-016").failures[0].message
    assert report.verdict == "not certified" and report.error is None
