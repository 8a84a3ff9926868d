"""The interop matrix: every installed component checked with every other (spec:
conformance.md, CONF-050 to CONF-057).

::

    from interlock_conformance.matrix import run_matrix

    result = run_matrix("interlock-matrix")      # writes matrix.json and matrix.md there
    print(result.passed)

The package holds the run and its result (:mod:`~interlock_conformance.matrix.run`), the cells
and their context (:mod:`~interlock_conformance.matrix.cells`), one module per section
(``datasets``, ``runtimes``: stores, runtimes and executors, ``exporters``, ``servers``,
``text``) and
the tables (:mod:`~interlock_conformance.matrix.render`). Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock import lazy_exports

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

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)


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
