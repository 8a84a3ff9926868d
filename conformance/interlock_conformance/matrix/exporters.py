"""The exporters section of the interop matrix (conformance.md CONF-054): models of the
frameworks the suite knows, exported by every exporter that claims them, run by every runtime
and compared with the framework's own predictions (exporter.md EXP-010).

The samples come from :mod:`interlock_conformance.samples` (every framework the suite knows and
finds installed); an exporter of a framework the suite has no sample of gets "not applicable"
cells.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import interlock
from interlock.errors import UnsupportedModelError

from interlock_conformance.samples import ExportSample, known_samples
from interlock_conformance.matrix.cells import (
    CellFailure,
    ComponentRef,
    MatrixContext,
    MatrixSection,
    NotApplicable,
    evaluate,
    stage,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from interlock import Artifact

__all__ = ["exporter_section"]

def _sample_input(exporter: ComponentRef, sample: ExportSample) -> object:
    claims = exporter.capabilities
    if "sample:arrow" in claims:
        return sample.table
    if "sample:numpy" in claims:
        return sample.matrix
    raise NotApplicable(f"exporter {exporter.name!r} claims neither sample:arrow nor sample:numpy")


class _Exports:
    """Each sample exported once by each exporter into a scratch store."""

    def __init__(self, context: MatrixContext) -> None:
        self.context = context
        self.samples = [sample for sample in known_samples() if sample.expected]
        self.artifacts: dict[tuple[str, str], Artifact] = {}

    def for_exporter(self, exporter: ComponentRef) -> list[tuple[ExportSample, Artifact]]:
        component = exporter.require()
        chosen = []
        for sample in self.samples:
            with stage("EXP-002", f"asking {exporter.name} whether it exports {sample.label}"):
                claimed = component.can_export(sample.model)
            if claimed is True:
                chosen.append(sample)
        if not chosen:
            raise NotApplicable(
                f"the suite has no sample model of a framework exporter {exporter.name!r} handles"
            )
        root = str(self.context.directory("exports", exporter.name))
        exported = []
        for sample in chosen:
            key = (exporter.name, sample.label)
            artifact = self.artifacts.get(key)
            if artifact is None:
                with stage("EXP-003", f"exporting {sample.label} with {exporter.name}"):
                    artifact = interlock.export(
                        sample.model,
                        _sample_input(exporter, sample),
                        name=sample.label,
                        version="1",
                        store=root,
                        exporter=exporter.name,
                    )
                self.artifacts[key] = artifact
            exported.append((sample, artifact))
        return exported


def _agrees(sample: ExportSample, column: str, got: Any) -> str | None:
    import numpy as np

    want = sample.expected[column]
    got = np.asarray(got)
    if got.shape != want.shape:
        return (
            f"column {column!r} has shape {list(got.shape)}, the framework gives "
            f"{list(want.shape)}"
        )
    tolerance = sample.tolerance.get(column)
    if tolerance is None:
        bad = got != want
    else:
        rtol, atol = tolerance
        bad = ~np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return (
            f"column {column!r}[{list(where)}] is {got[where]!r}, the framework gives "
            f"{want[where]!r}"
        )
    return None


def _exporter_runtime(
    context: MatrixContext, exports: _Exports, exporter: ComponentRef, runtime: ComponentRef
) -> list[str]:
    runtime.require()
    checked = []
    refused: list[str] = []
    for sample, artifact in exports.for_exporter(exporter):
        how = f"{sample.label} exported by {exporter.name}, run by {runtime.name}"
        with stage("RT-003", f"loading {how}"):
            try:
                predictor = interlock.load_predictor(artifact, runtime.name)
            except UnsupportedModelError as exc:
                # A refusal at load is the runtime keeping RT-082, not a failure of the pair.
                refused.append(f"{sample.label} ({', '.join(exc.operators)})")
                continue
        with stage("EXP-010", f"predicting {how}", returned_wrong="RT-020"):
            batch = predictor.predict(sample.table)
        for column in sample.expected:
            if column not in batch.schema.names:
                raise CellFailure(
                    "EXP-010", f"{how}: no output column {column!r} ({batch.schema.names})"
                )
            values = batch.column(column)
            import pyarrow as pa

            if pa.types.is_fixed_size_list(values.type):
                import numpy as np

                flat = values.flatten().to_numpy(zero_copy_only=False)
                got: Any = np.asarray(flat).reshape(len(values), values.type.list_size)
            else:
                got = values.to_numpy(zero_copy_only=False)
            problem = _agrees(sample, column, got)
            if problem is not None:
                raise CellFailure("EXP-010", f"{how}: {problem}")
        checked.append(sample.label)
    if not checked:
        raise NotApplicable(
            f"runtime {runtime.name!r} refuses every sample {exporter.name!r} exports, at load "
            f"(RT-082): {'; '.join(refused)}"
        )
    return checked


def exporter_section(context: MatrixContext) -> MatrixSection:
    """Every exporter with every runtime (CONF-054)."""
    exporters = context.components("exporter")
    runtimes = context.components("runtime")
    exports = _Exports(context)
    cells = [
        evaluate(
            exporter.name,
            runtime.name,
            ["CONF-054", "EXP-003", "EXP-010", "RT-003", "RT-020"],
            partial(_exporter_runtime, context, exports, exporter, runtime),
        )
        for exporter in exporters
        for runtime in runtimes
    ]
    return MatrixSection(
        name="exporters",
        title="sample models exported by the row's exporter, run by the column's runtime and "
        "compared with the framework's predictions",
        requirement="CONF-054",
        row_kind="exporter",
        column_kind="runtime",
        rows=[e.name for e in exporters],
        columns=[r.name for r in runtimes],
        cells=cells,
    )
