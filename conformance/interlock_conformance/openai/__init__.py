"""Certify any OpenAI-compatible server by its address (``interlock certify --openai URL``)
against ``specs/v1/openai.md``: profile ``openai-core`` (what the OpenAI API reference says)
and ``interlock-text`` (interlock's stricter promise, advice unless asked for).

::

    from interlock_conformance.openai import check_openai_server
    report = check_openai_server("http://127.0.0.1:8000", model="tiny-llama")
    print(report.verdict, [r.id for r in report.failed()])

The checker speaks HTTP itself (:mod:`~interlock_conformance.openai.wire`: the standard
library's client, each answer read as bytes, event streams parsed as WHATWG HTML says), builds
its requests from the API reference alone (:mod:`~interlock_conformance.openai.messages`), and
runs the checks of each profile (``core_checks``, ``strict_checks``). Names are imported on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock import lazy_exports

# public name -> module of this package that defines it
_EXPORTS: dict[str, str] = {
    "NO_MODEL": "checker",
    "certify_openai_server": "checker",
    "check_openai_server": "checker",
    "discover_models": "checker",
    "registered_checks": "checker",
    "OpenAICheck": "target",
    "OpenAITarget": "target",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock_conformance.openai.checker import (
        NO_MODEL as NO_MODEL,
        certify_openai_server as certify_openai_server,
        check_openai_server as check_openai_server,
        discover_models as discover_models,
        registered_checks as registered_checks,
    )
    from interlock_conformance.openai.target import (
        OpenAICheck as OpenAICheck,
        OpenAITarget as OpenAITarget,
    )
