"""``summary.md``: the report as a page a person reads (or a CI job posts on a pull request)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # report.py writes this file: types only, so that neither imports the other
    from interlock_conformance.report import Report, RequirementResult

__all__ = ["summary_markdown"]

_MARK = {
    "passed": "passed",
    "failed": "**FAILED**",
    "blocked": "blocked",
    "not claimed": "not claimed",
    "not tested": "not tested",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status(result: RequirementResult) -> str:
    if result.status == "blocked" and result.blocked_by:
        return f"blocked by {', '.join(result.blocked_by)}"
    return _MARK[result.status]


def _requirement_row(result: RequirementResult) -> str:
    return (
        f"| {result.id} | {result.level} | {_status(result)} | {len(result.cases)} | "
        f"{_cell(_short(result.text))} |"
    )


def _components(report: Report) -> list[str]:
    """The "Components" section, with a blank line before it."""
    lines = ["", "## Components", "", "| kind | name | capabilities |", "|---|---|---|"]
    for component in report.components:
        capabilities = ", ".join(f"`{c}`" for c in component.capabilities) or "none"
        lines.append(f"| {component.kind} | `{component.name}` | {capabilities} |")
    return lines


def _failures(report: Report) -> list[str]:
    """The "Failures" section (none without failures)."""
    lines: list[str] = []
    failed = report.failed()
    if failed:
        lines += ["", "## Failures", ""]
        # A server checked by address: each failure's profile, and whether it is advice.
        profiles = {ident: f", {p.name}" + (" (advice)" if p.role == "advice" else "")
                    for p in report.profiles for ident in p.failed_requirements}
        for result in failed:
            profile = profiles.get(result.id, "")
            lines.append(f"### {result.id} ({result.level}, {result.file}{profile})")
            lines += ["", f"> {_cell(result.text)}", ""]
            for failure in result.failures:
                where = f" on `{failure.component}`" if failure.component else ""
                lines.append(f"- `{failure.case}`{where}: {_cell(_short(failure.message, 400))}")
            lines.append("")
    return lines


def _blocked(report: Report, *, after_blank: bool) -> list[str]:
    """The "Blocked" section (none without blocked requirements)."""
    lines: list[str] = []
    blocked = report.blocked()
    if blocked:
        if not after_blank:
            lines.append("")
        lines += [
            "## Blocked",
            "",
            "These requirements could not be checked: the cases that check them failed first on "
            "the requirement named, which is listed under Failures. Fix that one and certify "
            "again.",
            "",
        ]
        by_blocker: dict[str, list[str]] = {}
        for result in blocked:
            by_blocker.setdefault(", ".join(result.blocked_by), []).append(result.id)
        lines += [f"- by {blocker}: {', '.join(ids)}" for blocker, ids in by_blocker.items()]
    return lines


def _requirements(report: Report) -> list[str]:
    """The "Requirements" table, and the requirements not tested."""
    checked = [r for r in report.requirements if r.status != "not tested"]
    lines = [
        "",
        "## Requirements",
        "",
        "| ID | level | status | cases | requirement |",
        "|---|---|---|---|---|",
    ]
    lines += [_requirement_row(result) for result in checked]
    untested = [r.id for r in report.requirements if r.status == "not tested"]
    if untested:
        lines += [
            "",
            f"Not tested for this plugin's components ({len(untested)}): {', '.join(untested)}.",
        ]
    return lines


def _profiles(report: Report) -> list[str]:
    """A server checked by address: each profile's role, status and counts, then the
    observations (choices the protocol allows)."""
    if not report.profiles:
        return []
    lines = ["", "## Profiles", "",
             "| profile | role | status | passed | failed | not tested |", "|---|---|---|---|---|---|"]
    for profile in report.profiles:
        untested = sum(len(ids) for ids in profile.not_tested.values()) + len(profile.blocked)
        lines.append(f"| {profile.name} | {profile.role} | {profile.status} | {profile.passed} | "
                     f"{profile.failed} | {untested} |")
    for profile in report.profiles:
        for why, ids in profile.not_tested.items():
            lines.append(f"\n{profile.name}, not tested ({why}): {', '.join(ids)}.")
    if report.observations:
        lines += ["", "## Observations (allowed by the protocol; not failures)", ""]
        lines += [f"- {o.requirement} ({o.case}): {_cell(o.message)}" for o in report.observations]
    return lines


def summary_markdown(report: Report) -> str:
    """The report as Markdown: verdict, plugin, components, failures, the requirements they
    blocked, and every requirement checked with its status."""
    plugin = report.plugin
    verdict = "CERTIFIED" if report.verdict == "certified" else "NOT CERTIFIED"
    requirements = report.counts.requirements
    cases = report.counts.cases
    lines = [
        f"# interlock conformance: {plugin.name}",
        "",
        f"**Verdict: {verdict}** against interlock spec v{report.spec_version}",
        "",
        "| | |",
        "|---|---|",
        f"| plugin | `{plugin.name}` ({plugin.module}) |",
        f"| distribution | {plugin.distribution or 'unknown'} {plugin.version or ''} |",
        f"| suite | interlock {report.suite_version} |",
        f"| python | {report.environment.python} on {report.environment.platform} |",
        f"| run | {report.started_at.isoformat()} ({report.duration_s:.1f} s) |",
        f"| requirements | {requirements['passed']} passed, {requirements['failed']} failed, "
        f"{requirements['blocked']} blocked, {requirements['not claimed']} not claimed, "
        f"{requirements['not tested']} not tested |",
        f"| cases | {cases['passed']} passed, {cases['failed']} failed, "
        f"{cases['not claimed']} not claimed |",
    ]
    if report.untested_applicable:
        lines += ["", "**Not tested, though they apply to a component (CONF-029):** "
                  + ", ".join(report.untested_applicable)]
    if report.error and report.profiles:
        lines += ["", f"**{report.error}**"]
    elif report.error:
        lines += ["", f"**The run did not complete:** {report.error}"]
    lines += _components(report)
    lines += _profiles(report)
    lines += _failures(report)
    lines += _blocked(report, after_blank=not lines[-1])
    lines += _requirements(report)
    return "\n".join(lines).rstrip() + "\n"
