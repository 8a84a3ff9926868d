"""The interop matrix: every installed component checked with every other (spec:
conformance.md, CONF-050 to CONF-057).

::

    from interlock_conformance.matrix import run_matrix

    result = run_matrix("interlock-matrix")      # writes matrix.json and matrix.md there
    print(result.passed)

The package holds the run and its result (:mod:`~interlock_conformance.matrix.run`), the cells
and their context (:mod:`~interlock_conformance.matrix.cells`), one module per section
(``datasets``, ``runtimes``: stores, runtimes and executors, ``exporters``, ``servers``) and
the tables (:mod:`~interlock_conformance.matrix.render`). Names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module of this package that defines it
_EXPORTS: dict[str, str] = {
    "MATRIX_FILES": "run",
    "SECTIONS": "run",
    "MatrixResult": "run",
    "read_matrix": "run",
    "run_matrix": "run",
    "write_matrix": "run",
    "MatrixCell": "cells",
    "MatrixComponent": "cells",
    "MatrixSection": "cells",
    "matrix_markdown": "render",
    "matrix_text": "render",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock_conformance.matrix.cells import (
        MatrixCell as MatrixCell,
        MatrixComponent as MatrixComponent,
        MatrixSection as MatrixSection,
    )
    from interlock_conformance.matrix.render import (
        matrix_markdown as matrix_markdown,
        matrix_text as matrix_text,
    )
    from interlock_conformance.matrix.run import (
        MATRIX_FILES as MATRIX_FILES,
        SECTIONS as SECTIONS,
        MatrixResult as MatrixResult,
        read_matrix as read_matrix,
        run_matrix as run_matrix,
        write_matrix as write_matrix,
    )
