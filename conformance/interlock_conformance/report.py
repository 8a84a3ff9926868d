"""The certification report (``report.json``): its model, its verdict rules and its files.

The JSON Schema of :class:`Report` is published as ``specs/v1/schemas/report.schema.json``
(spec: conformance.md). ``junit.xml`` and ``summary.md`` are written from the same object.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from interlock_conformance.requirements import Requirement

__all__ = [
    "REPORT_FILES",
    "REPORT_VERSION",
    "CaseFailure",
    "CaseResult",
    "ComponentSummary",
    "Counts",
    "Environment",
    "Observation",
    "PluginSummary",
    "ProfileResult",
    "Report",
    "RequirementResult",
    "SupportRow",
    "judge_requirements",
    "read_report",
    "write_file",
    "write_reports",
]

REPORT_VERSION: Final = "1"

#: The files a certification run writes, in its report directory.
REPORT_FILES = ("report.json", "junit.xml", "summary.md")

RequirementStatus = Literal["passed", "failed", "blocked", "not claimed", "not tested"]
CaseOutcome = Literal["passed", "failed", "not claimed"]
#: What one case says about one requirement: its outcome, or "blocked" (CONF-025).
_Evidence = Literal["passed", "failed", "not claimed", "blocked"]
Verdict = Literal["certified", "not certified"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginSummary(_Strict):
    """The plugin under test, as its entry point and distribution describe it."""

    name: str = Field(description="Entry-point name in the 'interlock' group.")
    distribution: str | None = Field(description="Distribution that registers it.")
    version: str | None = Field(description="Version of that distribution.")
    module: str = Field(description="What the entry point refers to.")
    status: str = Field(description="Load status: 'loaded' or why not (see plugins.md).")
    error: str | None = Field(default=None, description="Why it failed to load, if it did.")


class ComponentSummary(_Strict):
    """One component the plugin provides."""

    kind: str
    name: str
    capabilities: list[str] = Field(description="Capabilities it claims, sorted.")
    description: str = ""


class Environment(_Strict):
    """Where the suite ran."""

    python: str = Field(description="Python version and implementation.")
    platform: str
    packages: dict[str, str] = Field(
        description="Versions of interlock and the libraries it builds on."
    )


def current_environment(packages: Iterable[str]) -> Environment:
    """Describe this interpreter and the installed versions of ``packages`` (absent ones left out)."""
    import platform
    import sys
    from importlib import metadata

    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return Environment(
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=f"{sys.platform} ({platform.platform()})",
        packages=versions,
    )


class CaseFailure(_Strict):
    """Why one case failed."""

    case: str
    component: str | None
    message: str


class CaseResult(_Strict):
    """One conformance case run against one component (or deselected as not claimed)."""

    id: str = Field(description="module::function[parameters], stable across runs.")
    kind: str = Field(description="Component kind the case targets, or 'plugin'.")
    component: str | None = Field(description="Component name; null for plugin-wide cases.")
    requirements: list[str] = Field(description="Requirement IDs the case checks.")
    capabilities: list[str] = Field(description="Capabilities the case needs.")
    outcome: CaseOutcome
    missing_capabilities: list[str] = Field(
        default_factory=list, description="For 'not claimed': the capabilities not claimed."
    )
    duration_s: float = Field(default=0.0, ge=0)
    message: str | None = Field(default=None, description="One-line reason for a failure.")
    details: str | None = Field(default=None, description="Traceback of a failure, shortened.")
    root_cause: str | None = Field(
        default=None,
        description="For a failed case whose failure is attributed to one requirement (an "
        "interlock error naming the rule a component broke, or the case's own attribution; "
        "conformance.md CONF-024): its ID. The case counts as a failure of that requirement "
        "only, cited or not, and as no evidence for the other requirements it cites.",
    )
    profile: str | None = Field(
        default=None,
        description="For a check of a server checked by address: the profile of serving.md "
        "whose requirements it judges (oip-core, binary-data, interlock-serving).",
    )


class RequirementResult(_Strict):
    """The verdict on one requirement of the spec."""

    id: str
    level: Literal["MUST", "SHOULD", "MAY"]
    file: str = Field(description="Spec file that defines it, relative to specs/v1.")
    text: str
    status: RequirementStatus
    cases: list[str] = Field(
        description="IDs of the cases that check it for this plugin, and of the cases whose "
        "failure is attributed to it."
    )
    failures: list[CaseFailure] = Field(default_factory=list)
    blocked_by: list[str] = Field(
        default_factory=list,
        description="For 'blocked': the requirements whose failures kept the cases citing "
        "this one from checking it (their root causes, CONF-025).",
    )


class Counts(_Strict):
    """How many requirements and cases ended each way."""

    requirements: dict[RequirementStatus, int]
    cases: dict[CaseOutcome, int]


class ProfileResult(_Strict):
    """How a server checked by address fares in one profile of serving.md."""

    name: str = Field(description="oip-core, binary-data or interlock-serving.")
    role: Literal["verdict", "advice"] = Field(
        description="'verdict': the profile decides the verdict (oip-core, the extensions the "
        "server declares, and a profile asked for); 'advice': reported only."
    )
    declared: bool = Field(description="For an extension: the server declares it.")
    status: Literal["passed", "failed", "not tested"] = Field(
        description="'failed' if a requirement failed, else 'not tested' if none passed."
    )
    tested: int = Field(ge=0, description="Requirements that passed or failed.")
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    failed_requirements: list[str] = Field(default_factory=list)
    blocked: list[str] = Field(default_factory=list,
                               description="Requirements not checked because another failed.")
    not_tested: dict[str, list[str]] = Field(
        default_factory=dict, description="Requirements not tested, by why."
    )


class Observation(_Strict):
    """What a server chose where the protocol allows several behaviours (never a failure)."""

    case: str
    requirement: str
    message: str


class SupportRow(_Strict):
    """One row of a server's support table: a requirement or feature, whether the server
    supports it, and the evidence."""

    feature: str
    profile: str
    supported: Literal["yes", "no", "not tested", "declared", "not declared"]
    evidence: str


class Report(_Strict):
    """``report.json``: the outcome of certifying one plugin against spec v1."""

    report_version: Literal["1"] = REPORT_VERSION
    spec_version: str = Field(description="Version of the written standard (specs/v<N>).")
    suite_version: str = Field(description="Version of interlock whose suite ran.")
    plugin: PluginSummary
    components: list[ComponentSummary]
    environment: Environment
    started_at: AwareDatetime
    finished_at: AwareDatetime
    duration_s: float = Field(ge=0)
    vectors_sha256: str | None = Field(
        description="sha256 of the golden vectors' CHECKSUMS.sha256: which vectors were used."
    )
    requirements: list[RequirementResult]
    cases: list[CaseResult]
    counts: Counts
    verdict: Verdict = Field(
        description="'certified' iff the run completed and no requirement failed."
    )
    error: str | None = Field(
        default=None, description="Why the run did not complete, when it did not."
    )
    untested_applicable: list[str] = Field(
        default_factory=list,
        description="Requirements that apply to a component of the plugin (conformance.md "
        "CONF-029) and that no case exercised, as 'ID (kind name)'; while one remains the "
        "verdict is 'not certified'.",
    )
    profiles: list[ProfileResult] = Field(
        default_factory=list, description="For a server checked by address: each profile."
    )
    observations: list[Observation] = Field(
        default_factory=list,
        description="For a server checked by address: its choices where the protocol allows "
        "several behaviours.",
    )
    support: list[SupportRow] = Field(
        default_factory=list, description="For a server checked by address: its support table."
    )

    def requirement(self, ident: str) -> RequirementResult:
        """The result for one requirement ID; ``KeyError`` if the spec has no such ID."""
        for result in self.requirements:
            if result.id == ident:
                return result
        raise KeyError(ident)

    def failed(self) -> list[RequirementResult]:
        """The requirements that failed."""
        return [r for r in self.requirements if r.status == "failed"]

    def blocked(self) -> list[RequirementResult]:
        """The requirements that could not be checked because another one failed first."""
        return [r for r in self.requirements if r.status == "blocked"]

    def to_json_bytes(self) -> bytes:
        """``report.json`` as written: indented, fields in model order."""
        return self.model_dump_json(indent=2).encode() + b"\n"


def judge_requirements(
    requirements: Mapping[str, Requirement], cases: Iterable[CaseResult]
) -> list[RequirementResult]:
    """Turn case outcomes into one status per requirement (spec: conformance.md CONF-021).

    A failed case with a ``root_cause`` among ``requirements`` fails that requirement only
    (cited or not) and is "blocked" for the others it cites (CONF-024, CONF-025); any other
    failed case fails every requirement it cites. A requirement then is "failed" if a case
    failed it, else "blocked" if a case citing it was blocked, else "passed" if a case citing
    it passed, else "not claimed" if every case citing it was deselected for a capability the
    component does not claim, and "not tested" if no case ran for it.
    """
    # For each requirement, the cases that bear on it and what each says about it.
    evidence: dict[str, list[tuple[CaseResult, _Evidence]]] = {ident: [] for ident in requirements}
    for case in cases:
        cause = case.root_cause if case.outcome == "failed" else None
        if cause not in requirements:
            cause = None  # an attribution to no known requirement: the case fails as cited
        for ident in case.requirements:
            said: _Evidence = "blocked" if cause is not None and ident != cause else case.outcome
            evidence.setdefault(ident, []).append((case, said))
        if cause is not None and cause not in case.requirements:
            evidence[cause].append((case, "failed"))
    results = []
    for ident, requirement in requirements.items():
        bearing = evidence[ident]
        kinds = {what for _, what in bearing}
        status: RequirementStatus
        if not bearing:
            status = "not tested"
        elif "failed" in kinds:
            status = "failed"
        elif "blocked" in kinds:
            status = "blocked"
        elif "passed" in kinds:
            status = "passed"
        else:
            status = "not claimed"
        blockers = {case.root_cause for case, what in bearing if what == "blocked"}
        results.append(
            RequirementResult(
                id=ident,
                level=requirement.level,
                file=requirement.file,
                text=requirement.text,
                status=status,
                cases=[case.id for case, _ in bearing],
                failures=[
                    CaseFailure(case=case.id, component=case.component, message=case.message or "")
                    for case, what in bearing
                    if what == "failed"
                ],
                blocked_by=sorted(b for b in blockers if b) if status == "blocked" else [],
            )
        )
    return results


def count(results: Iterable[RequirementResult], cases: Iterable[CaseResult]) -> Counts:
    """Tally requirement statuses and case outcomes (every status present, zeros included)."""
    requirement_counts: dict[RequirementStatus, int] = {
        "passed": 0,
        "failed": 0,
        "blocked": 0,
        "not claimed": 0,
        "not tested": 0,
    }
    case_counts: dict[CaseOutcome, int] = {"passed": 0, "failed": 0, "not claimed": 0}
    for result in results:
        requirement_counts[result.status] += 1
    for case in cases:
        case_counts[case.outcome] += 1
    return Counts(requirements=requirement_counts, cases=case_counts)


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees it half-written)."""
    _write_atomically(path, data)


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (a CI step, a person) never sees a half-written report.
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(staging, 0o644)  # mkstemp makes it private; reports are for CI and people
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_reports(report: Report, directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.json``, ``junit.xml`` and ``summary.md`` into ``directory`` (created if
    needed), each atomically; returns their paths by file name."""
    from interlock_conformance.junit import junit_xml
    from interlock_conformance.summary import summary_markdown

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    contents = {
        "report.json": report.to_json_bytes(),
        "junit.xml": junit_xml(report),
        "summary.md": summary_markdown(report).encode("utf-8"),
    }
    written = {}
    for name, data in contents.items():
        _write_atomically(target / name, data)
        written[name] = target / name
    return written


def read_report(path: str | os.PathLike[str]) -> Report:
    """Read and validate a ``report.json``."""
    return Report.model_validate_json(Path(path).read_bytes())
