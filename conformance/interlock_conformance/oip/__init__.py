"""The server checker: certify any running Open Inference Protocol server by its address
(``interlock certify --server URL --grpc HOST:PORT``).

::

    from interlock_conformance.oip import check_server
    report = check_server("http://127.0.0.1:8000", "127.0.0.1:8001", model="mlp")
    print(report.verdict, [r.id for r in report.failed()])

The package holds the building blocks of a check (:mod:`~interlock_conformance.oip.checks`:
a check, how it fails, the target it runs against), the protocol's messages as the checker
builds and judges them (``rest_messages``, ``grpc_messages``, ``tensors``), the checks of each
protocol (``rest_checks``, ``rest_binary_checks``, ``grpc_checks``) and the run that turns them
into a report (:mod:`~interlock_conformance.oip.checker`). The wire itself is spoken by the
serving kit's client, :mod:`interlock.serving.oip.client`; everything the checker concludes
about what comes back is its own. Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock import lazy_exports

# public name -> module of this package that defines it
_EXPORTS: dict[str, str] = {
    "certify_server": "checker",
    "check_server": "checker",
    "registered_checks": "checker",
    "run_check": "checker",
    "Blocked": "checks",
    "Check": "checks",
    "CheckFailure": "checks",
    "Expectations": "checks",
    "ExpectedModel": "checks",
    "NotApplicable": "checks",
    "Target": "checks",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock_conformance.oip.checker import (
        certify_server as certify_server,
        check_server as check_server,
        registered_checks as registered_checks,
        run_check as run_check,
    )
    from interlock_conformance.oip.checks import (
        Blocked as Blocked,
        Check as Check,
        CheckFailure as CheckFailure,
        Expectations as Expectations,
        ExpectedModel as ExpectedModel,
        NotApplicable as NotApplicable,
        Target as Target,
    )
