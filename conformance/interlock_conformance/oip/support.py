"""A server's support table: each requirement of the protocol core and its extensions, and the
features around them, with whether the server supports it and the evidence (written as
``support.md`` beside the other report files by ``interlock certify --server``), and the
side-by-side table of several servers that ``docs/conformance.md`` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from interlock_conformance.oip.profiles import CORE, EXTENSIONS, INTERLOCK, profile_of
from interlock_conformance.report import (
    CaseResult,
    Observation,
    Report,
    RequirementResult,
    SupportRow,
)

__all__ = ["SUPPORT_FILE", "ServerFacts", "side_by_side", "support_markdown", "support_rows"]

#: The support table's file, beside report.json, junit.xml and summary.md.
SUPPORT_FILE = "support.md"

#: Short names of the requirements of the core and extension profiles, for the tables.
LABELS = {
    "SRV-050": "REST server live `{\"live\": true}`",
    "SRV-200": "REST server ready",
    "SRV-201": "REST server metadata",
    "SRV-202": "REST model metadata",
    "SRV-203": "REST model ready `{\"name\", \"ready\"}`",
    "SRV-204": "REST errors: error status and `{\"error\": ...}`",
    "SRV-205": "REST inference, JSON data",
    "SRV-206": "REST nested tensor data",
    "SRV-207": "REST requested outputs only",
    "SRV-210": "binary tensor data: inputs",
    "SRV-211": "binary tensor data: outputs",
    "SRV-100": "gRPC service definition",
    "SRV-110": "gRPC ServerLive",
    "SRV-111": "gRPC ServerReady",
    "SRV-130": "gRPC raw input contents",
    "SRV-220": "gRPC ServerMetadata",
    "SRV-221": "gRPC ModelMetadata",
    "SRV-222": "gRPC ModelReady",
    "SRV-223": "gRPC inference, typed or raw outputs",
    "SRV-224": "gRPC errors: a status other than OK",
}


@dataclass(frozen=True)
class ServerFacts:
    """What the checker learnt about a server besides its checks."""

    discovery: str
    extensions: list[str] = field(default_factory=list)
    asked: set[str] = field(default_factory=set)


def _supported(status: str) -> str:
    return {"passed": "yes", "failed": "no"}.get(status, "not tested")


def _evidence(result: RequirementResult, cases: Sequence[CaseResult],
              observations: Sequence[Observation]) -> str:
    if result.failures:
        return result.failures[0].message
    if result.status == "blocked":
        return f"blocked by {', '.join(result.blocked_by)}"
    ran = [c for c in cases if result.id in c.requirements and c.outcome == "passed"
           and c.profile == profile_of(result.id)]
    seen = [o.message for o in observations if o.requirement == result.id]
    if not ran:
        return "no check ran (nothing to send it, or not claimed)"
    return f"{len(ran)} check(s) passed" + (f"; observed: {'; '.join(seen[:3])}" if seen else "")


def support_rows(results: Iterable[RequirementResult], cases: Sequence[CaseResult],
                 observations: Sequence[Observation], facts: ServerFacts) -> list[SupportRow]:
    """The rows of a server's support table."""
    results = list(results)
    rows = [
        SupportRow(feature=f"{r.id} {LABELS.get(r.id, '')}".strip(), profile=profile_of(r.id),
                   supported=_supported(r.status),  # type: ignore[arg-type]
                   evidence=_evidence(r, cases, observations))
        for r in results if profile_of(r.id) != INTERLOCK and r.id in LABELS
    ]
    for name, profile in EXTENSIONS.items():
        rows.append(SupportRow(
            feature=f"extension `{name}`", profile=profile,
            supported="declared" if name in facts.extensions else "not declared",
            evidence=f"GET /v2 extensions: {facts.extensions}"))
    for name in facts.extensions:
        if name not in EXTENSIONS:
            rows.append(SupportRow(
                feature=f"extension `{name}`", profile="-", supported="declared",
                evidence="spec v1 has no requirements for this extension: not certified "
                         "either way"))
    discovered = ("not tested" if facts.discovery.startswith("given")
                  else "yes" if "found by" in facts.discovery else "no")
    rows.append(SupportRow(feature="model discovery (repository index)", profile=CORE,
                           supported=discovered,  # type: ignore[arg-type]
                           evidence=facts.discovery))
    strict = [r for r in results if profile_of(r.id) == INTERLOCK]
    failed = [r.id for r in strict if r.status == "failed"]
    passed = sum(1 for r in strict if r.status == "passed")
    rows.append(SupportRow(
        feature="interlock-serving profile (advice)", profile=INTERLOCK,
        supported="no" if failed else "yes" if passed else "not tested",
        evidence=f"{passed} passed, {len(failed)} failed" + (
            f": {', '.join(failed)}" if failed else "")))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def support_markdown(report: Report) -> str:
    """``support.md``: one server's support table."""
    lines = [f"# Support table: {report.plugin.name}", "",
             f"{report.plugin.version or 'version unknown'}; verdict: **{report.verdict}**"
             + (f" ({report.error})" if report.error else ""), "",
             "| requirement or feature | profile | supported | evidence |", "|---|---|---|---|"]
    lines += [f"| {_cell(r.feature)} | {r.profile} | {r.supported} | {_cell(r.evidence)[:300]} |"
              for r in report.support]
    return "\n".join(lines) + "\n"


def side_by_side(reports: Mapping[str, Report]) -> str:
    """The support tables of several servers side by side (rows: features; a cell ``yes``,
    ``no`` with a numbered note giving the evidence, or ``-``)."""
    names = list(reports)
    features: list[str] = []
    for report in reports.values():
        features += [r.feature for r in report.support if r.feature not in features]
    lines = ["| requirement or feature | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    notes: list[str] = []
    for feature in features:
        cells = []
        for name in names:
            row = next((r for r in reports[name].support if r.feature == feature), None)
            if row is None:
                cells.append("-")
            elif row.supported == "no":
                notes.append(f"{len(notes) + 1}. {name}, {feature}: {row.evidence[:240]}")
                cells.append(f"**no** ({len(notes)})")
            else:
                cells.append(row.supported)
        lines.append(f"| {_cell(feature)} | " + " | ".join(cells) + " |")
    verdicts = ", ".join(f"{n}: {r.verdict}" for n, r in reports.items())
    return "\n".join([*lines, "", f"Verdicts: {verdicts}.", "", *map(_cell, notes)]) + "\n"
