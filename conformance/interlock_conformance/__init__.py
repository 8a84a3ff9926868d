"""interlock's conformance suite: certify one plugin against the written standard (specs/v1).

::

    from interlock_conformance import certify
    report = certify("acme", "conformance-report")   # or: pytest --interlock-plugin acme
    print(report.verdict)

Everything is imported on first use: pytest loads this package's plugin in every run, so
importing it must cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "certify": "certify",
    "pytest_command": "certify",
    "check_server": "oip.checker",
    "certify_server": "oip.checker",
    "Report": "report",
    "RequirementResult": "report",
    "CaseResult": "report",
    "read_report": "report",
    "write_reports": "report",
    "judge_requirements": "report",
    "Requirement": "requirements",
    "RequirementsError": "requirements",
    "load_requirements": "requirements",
    "check_citations": "requirements",
    "requirement": "markers",
    "capability": "markers",
    "component_kind": "markers",
    "when_unclaimed": "markers",
    "checking": "attribution",
    "root_cause": "attribution",
    "case_citations": "markers",
    "source_citations": "markers",
    "SPEC_VERSION": "locations",
    "specs_dir": "locations",
    "vectors_dir": "locations",
    "VectorIndex": "vectors",
    "load_vector_index": "vectors",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from interlock_conformance.attribution import (
        checking as checking,
        root_cause as root_cause,
    )
    from interlock_conformance.certify import certify as certify, pytest_command as pytest_command
    from interlock_conformance.locations import (
        SPEC_VERSION as SPEC_VERSION,
        specs_dir as specs_dir,
        vectors_dir as vectors_dir,
    )
    from interlock_conformance.oip.checker import (
        certify_server as certify_server,
        check_server as check_server,
    )
    from interlock_conformance.markers import (
        capability as capability,
        case_citations as case_citations,
        component_kind as component_kind,
        requirement as requirement,
        source_citations as source_citations,
        when_unclaimed as when_unclaimed,
    )
    from interlock_conformance.report import (
        CaseResult as CaseResult,
        Report as Report,
        RequirementResult as RequirementResult,
        judge_requirements as judge_requirements,
        read_report as read_report,
        write_reports as write_reports,
    )
    from interlock_conformance.requirements import (
        Requirement as Requirement,
        RequirementsError as RequirementsError,
        check_citations as check_citations,
        load_requirements as load_requirements,
    )
    from interlock_conformance.vectors import (
        VectorIndex as VectorIndex,
        load_vector_index as load_vector_index,
    )
