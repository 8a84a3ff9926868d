"""``junit.xml``: the report in the JUnit XML dialect that CI systems display.

One ``testsuite`` for the run, one ``testcase`` per case; each case lists the requirement IDs
it checks as ``property`` elements (and, for a failure attributed to one requirement, that ID
as the ``root_cause`` property). A case deselected because its capability is not claimed is
a ``skipped`` element whose message says so (JUnit has no other word for "did not run").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # report.py writes this file: types only, so that neither imports the other
    from interlock_conformance.report import CaseResult, Report

__all__ = ["junit_xml"]


def _property(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "property", {"name": name, "value": value})


def _xml_text(text: str) -> str:
    # XML 1.0 cannot hold most control characters, which tracebacks occasionally contain.
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else f"\\x{ord(c):02x}" for c in text)


def _testcase(suite: ET.Element, case: CaseResult) -> None:
    """One ``testcase`` element: the case's requirements, capabilities, component and root
    cause as properties, and a ``failure`` or ``skipped`` element by its outcome."""
    module, _, name = case.id.partition("::")
    element = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": f"interlock_conformance.{module}",
            "name": name,
            "time": f"{case.duration_s:.3f}",
        },
    )
    case_properties = ET.SubElement(element, "properties")
    for ident in case.requirements:
        _property(case_properties, "requirement", ident)
    for capability in case.capabilities:
        _property(case_properties, "capability", capability)
    if case.component is not None:
        _property(case_properties, "component", case.component)
    if case.root_cause is not None:
        _property(case_properties, "root_cause", case.root_cause)
    if case.outcome == "failed":
        failure = ET.SubElement(element, "failure", {"message": _xml_text(case.message or "")})
        failure.text = _xml_text(case.details or case.message or "")
    elif case.outcome == "not claimed":
        missing = ", ".join(case.missing_capabilities)
        ET.SubElement(
            element,
            "skipped",
            {
                "type": "not claimed",
                "message": f"not claimed: {case.component} does not claim {missing}",
            },
        )


def junit_xml(report: Report) -> bytes:
    """The report as JUnit XML (UTF-8, with an XML declaration)."""
    counts = report.counts.cases
    suites = ET.Element("testsuites", {"name": f"interlock conformance: {report.plugin.name}"})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"interlock conformance: {report.plugin.name}",
            "tests": str(len(report.cases)),
            "failures": str(counts["failed"]),
            "errors": "0",
            "skipped": str(counts["not claimed"]),
            "time": f"{report.duration_s:.3f}",
            "timestamp": report.started_at.isoformat(),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("plugin", report.plugin.name),
        ("distribution", report.plugin.distribution or ""),
        ("version", report.plugin.version or ""),
        ("spec_version", report.spec_version),
        ("suite_version", report.suite_version),
        ("verdict", report.verdict),
    ):
        _property(properties, name, value)
    for case in report.cases:
        _testcase(suite, case)
    ET.indent(suites)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True)) + b"\n"
