"""One conformance run inside pytest: which cases run against which components, what happened,
and the reports (spec: conformance.md).

Registered by :mod:`interlock_conformance.pytest_plugin` only when ``--interlock-plugin`` is
given. It isolates the run from the user's interlock settings, collects the packaged cases,
parametrizes them over the plugin's components, deselects (never skips) cases whose capability
is not claimed, records every outcome (with the requirement a failure is attributed to, when
its exception names one: :mod:`interlock_conformance.attribution`) and writes ``report.json``,
``junit.xml`` and ``summary.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

import interlock
from interlock.plugins import ComponentClaim, PluginInfo

from interlock_conformance.applicability import applicable_untested
from interlock_conformance.attribution import root_cause
from interlock_conformance.locations import SPEC_VERSION, cases_dir, vectors_dir
from interlock_conformance.markers import (
    CAPABILITY_MARK,
    KIND_MARK,
    PLUGIN_KIND,
    REQUIREMENT_MARK,
    UNCLAIMED_MARK,
)
from interlock_conformance.report import (
    current_environment,
    CaseResult,
    ComponentSummary,
    PluginSummary,
    Report,
    count,
    judge_requirements,
    write_reports,
)
from interlock_conformance.requirements import Requirement, load_requirements

__all__ = ["NO_COMPONENT", "ConformanceSession"]

#: Versions recorded in the report's environment.
_PACKAGES = ("interlock", "pyarrow", "numpy", "onnx", "onnxruntime", "fsspec", "pydantic", "pytest")
_DETAILS_LIMIT = 4000
_MESSAGE_LIMIT = 500
#: The message of a selected case until it reports: a case that never ran has not passed.
_NOT_RUN = "did not run"


class _NoComponent:
    """Stands for "the plugin provides no component of this kind"; such items are dropped."""

    name = "none"
    capabilities: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return "<no component>"


NO_COMPONENT = _NoComponent()


def _case_id(item: pytest.Item) -> str:
    # Independent of where the suite is installed and of the rootdir: "module::name[params]".
    module = item.path.stem
    return f"{module}::{item.nodeid.split('::', 1)[1]}" if "::" in item.nodeid else module


def _failure_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or "") or report.longreprtext
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # A case's own assertion message says what is wrong; pytest's explanation of the assert
    # statement that follows it only repeats it. Without a message, the explanation is all.
    explained = [i for i, line in enumerate(lines) if line.startswith("assert ")]
    if explained and explained[0] > 0:
        lines = lines[: explained[0]]
    lines = lines[:6]
    message = " ".join(lines) or f"{report.when} failed"
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


class ConformanceSession:
    """The pytest plugin object of one ``--interlock-plugin NAME`` run."""

    def __init__(self, config: pytest.Config, plugin_name: str) -> None:
        self.config = config
        self.plugin_name = plugin_name
        self.report_dir = Path(str(config.getoption("--interlock-report")))
        self.store_root: str | None = config.getoption("--interlock-store-root")
        cases = config.getoption("--interlock-cases")
        self.cases_root = Path(cases).resolve() if cases else cases_dir()
        self.started = dt.datetime.now(dt.timezone.utc)
        self.requirements: dict[str, Requirement] = load_requirements()
        self.cases: dict[str, CaseResult] = {}  # nodeid -> result, in collection order
        self.report: Report | None = None
        self.report_paths: dict[str, Path] = {}
        self.collection_errors: list[str] = []
        # (nodeid, phase) -> the requirement a failure of that phase is attributed to
        self._root_causes: dict[tuple[str, str], str | None] = {}
        self._saved_env: dict[str, str] = {}
        self._scratch = Path(tempfile.mkdtemp(prefix="interlock-conformance-"))
        self._isolate_environment()
        try:
            self.plugin = self._load_plugin()
            self._prefer_plugin_under_test()
            self._collect_only_the_cases()
        except BaseException:
            self._restore_environment()  # pytest stops here; leave nothing behind
            raise
        from interlock_conformance import fixtures

        config.stash[fixtures.SESSION] = self
        config.pluginmanager.register(fixtures, "interlock-conformance-fixtures")

    # -- set-up ----------------------------------------------------------------------------

    def _isolate_environment(self) -> None:
        """Run without the user's interlock settings, with a private default store and cache."""
        for variable in [v for v in os.environ if v.startswith("INTERLOCK_")]:
            self._saved_env[variable] = os.environ.pop(variable)
        os.environ["INTERLOCK_STORE"] = str(self._scratch / "store")
        os.environ["INTERLOCK_CACHE_DIR"] = str(self._scratch / "cache")
        interlock.reset_registry()

    def _load_plugin(self) -> PluginInfo:
        registry = interlock.get_registry()
        for info in registry.plugins:
            if info.name == self.plugin_name:
                return info
        installed = ", ".join(sorted(i.name for i in registry.plugins)) or "none"
        raise pytest.UsageError(
            f"no interlock plugin named {self.plugin_name!r} is installed (installed: "
            f"{installed}); name a plugin by its entry-point name, as 'interlock plugins' lists it"
        )

    def _prefer_plugin_under_test(self) -> None:
        """Resolve every name the plugin claims to the plugin's own component, even where an
        installed rival of the same name would otherwise win (plugins.md, PLG-020)."""
        keys = []
        for claim in self.plugin.components:
            keys.append(f"{claim.kind}:{claim.name}")
            keys += [f"{claim.kind}:{ext}" for ext in getattr(claim.component, "extensions", ())]
        if keys:
            os.environ["INTERLOCK_PREFER"] = ",".join(f"{key}={self.plugin_name}" for key in keys)

    def _collect_only_the_cases(self) -> None:
        """Collect the packaged cases instead of the project's tests; paths inside the cases
        directory (to run a single case file) are kept."""
        root = self.cases_root
        given = [arg for arg in self.config.args if arg]
        inside = [arg for arg in given if _within(arg.split("::", 1)[0], root)]
        explicit = self.config.args_source == pytest.Config.ArgsSource.ARGS
        if explicit and len(inside) != len(given):
            outside = [arg for arg in given if arg not in inside]
            raise pytest.UsageError(
                f"--interlock-plugin runs interlock's conformance cases, not {', '.join(outside)}; "
                "select cases with -k instead of paths"
            )
        self.config.args = inside if explicit else [str(root)]

    # -- collection --------------------------------------------------------------------------

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Module | None:
        """Collect the case modules whatever the project's ``python_files`` setting is."""
        root = self.cases_root
        if file_path.suffix != ".py" or file_path.parent != root:
            return None
        if file_path.name.startswith("_") or file_path.name == "conftest.py":
            return None
        patterns = parent.config.getini("python_files")
        if parent.session.isinitpath(file_path) or any(
            fnmatch(file_path.name, pattern) for pattern in patterns
        ):
            return None  # pytest's own collector takes it
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module

    def claims(self, kind: str) -> list[ComponentClaim]:
        """The plugin's components of one kind."""
        return [claim for claim in self.plugin.components if claim.kind == kind]

    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each component case once per component of its kind."""
        mark = metafunc.definition.get_closest_marker(KIND_MARK)
        if mark is None or mark.args[0] == PLUGIN_KIND or "component" not in metafunc.fixturenames:
            return
        claims = self.claims(str(mark.args[0]))
        if claims:
            metafunc.parametrize(
                "component", [c.component for c in claims], ids=[c.name for c in claims]
            )
        else:
            # An empty parameter set would make pytest skip the case; a placeholder lets the
            # item be dropped at collection instead, and its requirements read "not tested".
            metafunc.parametrize("component", [NO_COMPONENT], ids=["no-component"])

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Deselect the cases the plugin's components do not claim, and record them."""
        kept: list[pytest.Item] = []
        deselected: list[pytest.Item] = []
        for item in items:
            result = self._describe(item)
            if result is None:
                deselected.append(item)
                continue
            self.cases[item.nodeid] = result
            (deselected if result.outcome == "not claimed" else kept).append(item)
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept

    def _describe(self, item: pytest.Item) -> CaseResult | None:
        kind_mark = item.get_closest_marker(KIND_MARK)
        if kind_mark is None:
            raise pytest.UsageError(
                f"conformance case {item.nodeid} declares no component kind; add "
                "pytestmark = component_kind(...) to its module"
            )
        kind = str(kind_mark.args[0])
        requirements = sorted({str(a) for m in item.iter_markers(REQUIREMENT_MARK) for a in m.args})
        unknown = [ident for ident in requirements if ident not in self.requirements]
        if not requirements or unknown:
            problem = f"cites unknown {', '.join(unknown)}" if unknown else "cites no requirement"
            raise pytest.UsageError(f"conformance case {item.nodeid} {problem}")
        needed = sorted({str(a) for m in item.iter_markers(CAPABILITY_MARK) for a in m.args})
        params: dict[str, Any] = getattr(getattr(item, "callspec", None), "params", {})
        component = params.get("component")
        if component is NO_COMPONENT:
            return None
        claimed = set(getattr(component, "capabilities", ()))
        applies_if_unclaimed = {str(a) for m in item.iter_markers(UNCLAIMED_MARK) for a in m.args}
        if applies_if_unclaimed and applies_if_unclaimed <= claimed:
            return None  # the case is about components that lack one of these
        missing = [name for name in needed if name not in claimed] if component is not None else []
        return CaseResult(
            id=_case_id(item),
            kind=kind,
            component=str(component.name) if component is not None else None,
            requirements=requirements,
            capabilities=needed,
            # A selected case has failed until its call phase reports otherwise, so that a
            # case which never ran (an interrupted run, -x) cannot count as passed.
            outcome="not claimed" if missing else "failed",
            missing_capabilities=missing,
            message=None if missing else _NOT_RUN,
        )

    # -- outcomes ----------------------------------------------------------------------------

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Remember collection errors: a case module that cannot be imported is a failure."""
        if report.failed:
            self.collection_errors.append(report.nodeid or "(session)")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Any:
        """Note the requirement a failing phase's exception is attributed to (CONF-024); the
        report pytest builds keeps only the exception's text."""
        report = yield
        if call.excinfo is not None and item.nodeid in self.cases:
            cause = root_cause(call.excinfo.value)
            self._root_causes[(item.nodeid, call.when)] = (
                cause if cause in self.requirements else None
            )
        return report

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold the set-up, call and tear-down reports of each case into one outcome."""
        result = self.cases.get(report.nodeid)
        cause = self._root_causes.pop((report.nodeid, report.when), None)
        if result is None:
            return
        result.duration_s += report.duration
        if report.failed:
            if result.outcome == "failed" and result.message != _NOT_RUN:
                return  # keep the first failure (a tear-down error after a failed call)
            result.outcome = "failed"
            message = _failure_message(report)
            result.message = (
                message if report.when == "call" else f"{report.when} failed: {message}"
            )
            result.details = report.longreprtext[-_DETAILS_LIMIT:]
            result.root_cause = cause
        elif report.skipped:
            # The suite never skips; a case that skips itself vouches for nothing.
            reason = (
                report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            )
            result.outcome = "failed"
            result.message = f"the case skipped itself ({reason}); conformance cases must not skip"
        elif report.when == "call" and result.message == _NOT_RUN:
            result.outcome = "passed"
            result.message = None

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Judge, write the reports and make the exit status agree with the verdict."""
        if self.config.option.collectonly:
            return
        incomplete = {
            pytest.ExitCode.INTERRUPTED: "the run was interrupted",
            pytest.ExitCode.INTERNAL_ERROR: "pytest hit an internal error",
            pytest.ExitCode.USAGE_ERROR: "pytest was misused",
        }
        error = incomplete.get(pytest.ExitCode(exitstatus)) if exitstatus in incomplete else None
        if self.collection_errors:
            error = f"cases could not be collected: {', '.join(self.collection_errors)}"
        self.report = self._build_report(error)
        self.report_paths = write_reports(self.report, self.report_dir)
        if self.report.verdict == "certified":
            if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
                session.exitstatus = pytest.ExitCode.OK
        elif exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _narrowed(self) -> bool:
        """Whether the run was narrowed to some cases (``-k``, ``-m``): a development run,
        not a certificate, so that no requirement is held untested against it."""
        option = self.config.option
        return bool(getattr(option, "keyword", "") or getattr(option, "markexpr", ""))

    def _build_report(self, error: str | None) -> Report:
        finished = dt.datetime.now(dt.timezone.utc)
        cases = list(self.cases.values())
        results = judge_requirements(self.requirements, cases)
        counts = count(results, cases)
        info = self.plugin
        components = [
            ComponentSummary(
                kind=claim.kind,
                name=claim.name,
                capabilities=sorted(claim.component.capabilities),
                description=str(claim.component.description or ""),
            )
            for claim in info.components
        ]
        untested = [] if self._narrowed() else applicable_untested(results, components)
        failed = counts.requirements["failed"] or counts.cases["failed"] or untested
        return Report(
            spec_version=SPEC_VERSION,
            suite_version=interlock.__version__,
            plugin=PluginSummary(
                name=info.name,
                distribution=info.distribution,
                version=info.version,
                module=info.module,
                status=info.status,
                error=info.error,
            ),
            components=components,
            environment=current_environment(_PACKAGES),
            started_at=self.started,
            finished_at=finished,
            duration_s=(finished - self.started).total_seconds(),
            vectors_sha256=_vectors_digest(),
            requirements=results,
            cases=cases,
            counts=counts,
            verdict="not certified" if failed or error else "certified",
            error=error,
            untested_applicable=untested,
        )

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the verdict and where the reports are."""
        report = self.report
        if report is None:
            return
        write = terminalreporter.write_line
        terminalreporter.section(f"interlock conformance: {report.plugin.name}")
        tally = report.counts.requirements
        write(
            f"requirements: {tally['passed']} passed, {tally['failed']} failed, "
            f"{tally['blocked']} blocked, {tally['not claimed']} not claimed, "
            f"{tally['not tested']} not tested"
        )
        cases = report.counts.cases  # what report.json counts, deselected cases included
        write(f"cases: {cases['passed']} passed, {cases['failed']} failed, "
              f"{cases['not claimed']} not claimed")
        for result in report.failed():
            write(f"FAILED {result.id} ({result.level}): {result.text[:100]}", red=True)
            for failure in result.failures[:3]:
                write(f"    {failure.case}: {failure.message[:200]}")
        blocked = report.blocked()
        if blocked:
            shown = ", ".join(f"{r.id} (by {', '.join(r.blocked_by)})" for r in blocked[:12])
            more = f" and {len(blocked) - 12} more" if len(blocked) > 12 else ""
            write(f"blocked, not checked because of a failure above: {shown}{more}")
        for ident in report.untested_applicable:
            write(f"NOT TESTED {ident}: it applies to the component, and no case exercised it "
                  "(conformance.md CONF-029)", red=True)
        if report.error:
            write(f"run incomplete: {report.error}", red=True)
        write(f"reports: {', '.join(str(p) for p in self.report_paths.values())}")
        certified = report.verdict == "certified"
        write(f"verdict: {report.verdict.upper()}", green=certified, red=not certified, bold=True)

    @pytest.hookimpl
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Give the user's interlock settings back and remove the scratch directory."""
        self._restore_environment()

    def _restore_environment(self) -> None:
        for variable in [v for v in os.environ if v.startswith("INTERLOCK_")]:
            del os.environ[variable]
        os.environ.update(self._saved_env)
        interlock.reset_registry()
        shutil.rmtree(self._scratch, ignore_errors=True)


def _within(arg: str, root: Path) -> bool:
    try:
        Path(arg).resolve().relative_to(root)
    except ValueError:
        return False
    return True




def _vectors_digest() -> str | None:
    checksums = vectors_dir() / "CHECKSUMS.sha256"
    if not checksums.is_file():
        return None
    return "sha256:" + hashlib.sha256(checksums.read_bytes()).hexdigest()
