"""Sample models of the frameworks the suite knows, for the exporter cases and the matrix.

Each framework has a builder module (``samples/sklearn.py``, ...) with ``build() ->
list[ExportSample]``: models fitted on a fixed synthetic table, with the framework's own
predictions. The exporter cases export the samples of every framework an exporter claims
(``framework:<name>``, exporter.md EXP-010); the matrix's exporters section exports them with
every exporter that claims the model and runs them with every runtime (conformance.md CONF-054).
A builder whose framework is not installed returns ``[]``. Adding a framework is one module and
one line in :data:`BUILDERS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["BUILDERS", "ExportSample", "known_samples", "samples_for"]

#: framework name (as in ``framework:<name>``) -> the module whose ``build()`` makes its samples.
BUILDERS: dict[str, str] = {
    "sklearn": "interlock_conformance.samples.sklearn",
    "pytorch": "interlock_conformance.samples.pytorch",
    "xgboost": "interlock_conformance.samples.xgboost",
    "lightgbm": "interlock_conformance.samples.lightgbm",
}


@dataclass
class ExportSample:
    """A fitted framework model, the rows it predicts, and what the framework predicts."""

    #: Unique within its framework (``"classifier"``); the matrix shows ``framework-name``.
    name: str
    framework: str
    model: Any
    #: The rows as an Arrow table (feature columns ``f0``, ``f1``, ...) and as a NumPy matrix.
    table: pa.Table
    matrix: np.ndarray
    #: Output column -> the framework's own values, with how close a runtime must come
    #: (``None``: exactly, for labels). Empty when the output column's name is the exporter's
    #: choice (a transformer's output): the matrix then leaves the sample out.
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    tolerance: dict[str, tuple[float, float] | None] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``framework-name``, as the matrix shows it."""
        return f"{self.framework}-{self.name}"


@cache
def samples_for(framework: str) -> tuple[ExportSample, ...]:
    """The samples of ``framework`` (empty when the suite does not know it, or when the
    framework is not installed); built once per process."""
    module = BUILDERS.get(framework)
    if module is None:
        return ()
    samples: list[ExportSample] = importlib.import_module(module).build()
    return tuple(samples)


def known_samples() -> list[ExportSample]:
    """Every sample of every framework the suite knows and finds installed."""
    return [sample for framework in BUILDERS for sample in samples_for(framework)]
