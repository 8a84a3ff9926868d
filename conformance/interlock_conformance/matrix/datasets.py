"""The datasets section of the interop matrix (conformance.md CONF-051): each golden dataset
vector written with the row's format, read back with it, and that dataset rewritten with the
column's format and read back with it; where the column's format reads the row's files (an
extension in common), it reads them directly too."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import interlock

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
    import pyarrow as pa

__all__ = ["dataset_section"]

_NEEDED = ("read", "write")


def _missing(ref: ComponentRef) -> list[str]:
    return [c for c in _NEEDED if c not in ref.capabilities]


def _target(ref: ComponentRef, directory: Path) -> str:
    """Where ``ref`` writes one dataset in ``directory``: a single file, or the table directory
    of a transactional format (dataset.md DS-123)."""
    extensions = ref.component.extensions
    if "transactional" in ref.capabilities or not extensions:
        return str(directory / "data")
    return str(directory / f"data{extensions[0]}")


def _by_value(table: pa.Table) -> pa.Table:
    import pyarrow as pa

    rows = table.to_pylist()
    order = sorted(range(len(rows)), key=lambda i: repr(rows[i]))
    return table.take(pa.array(order, pa.int64()))


def _mismatch(written: pa.Table, read: pa.Table, how: str, *, ordered: bool = True) -> None:
    """Fail DS-072 when a column reads back as a type that does not cast back, DS-071 when a
    value differs; ``ordered=False`` compares rows in any order (a transactional format,
    DS-125)."""
    from interlock_conformance.tables import cast_back, table_mismatch

    if read.schema.names == written.schema.names and read.num_rows == written.num_rows:
        restored = cast_back(read, written.schema)
        if isinstance(restored, str):
            raise CellFailure("DS-072", f"{how}: {restored}")
        if not ordered:
            written, read = _by_value(written), _by_value(restored)
    problem = table_mismatch(written, read)
    if problem is not None:
        raise CellFailure("DS-071", f"{how}: {problem}")


class _Written:
    """Each vector written once with each format (single-file layout), and read back."""

    def __init__(self, context: MatrixContext) -> None:
        self.context = context
        self.uris: dict[tuple[str, str], str | CellFailure] = {}

    def uri(self, ref: ComponentRef, vector: str) -> str:
        """Where ``vector`` was written by ``ref``, checked to read back whole (DS-071)."""
        key = (ref.name, vector)
        known = self.uris.get(key)
        if isinstance(known, CellFailure):
            raise CellFailure(known.requirement, known.message)  # every cell of the row says why
        if known is not None:
            return known
        try:
            uri = self._write(ref, vector)
        except CellFailure as failure:
            self.uris[key] = failure
            raise
        self.uris[key] = uri
        return uri

    def _write(self, ref: ComponentRef, vector: str) -> str:
        import pyarrow as pa

        vectors = self.context.vectors
        written = vectors.table(vector)
        uri = _target(ref, self.context.directory("datasets", ref.name, vector))
        source = pa.RecordBatchReader.from_batches(written.schema, vectors.batches(vector))
        how = f"vector {vector!r} written and read with {ref.name}"
        with stage("DS-071", how):
            interlock.write_dataset(source, uri, format=ref.name)
            read = interlock.open_dataset(uri, format=ref.name).to_table()
        _mismatch(written, read, how, ordered=_ordered(ref))
        return uri


def _ordered(*refs: ComponentRef) -> bool:
    """Whether rows keep their order through every one of ``refs`` (DS-125)."""
    return not any("transactional" in ref.capabilities for ref in refs)


def _pair(
    context: MatrixContext, written: _Written, first: ComponentRef, second: ComponentRef
) -> list[str]:
    first.require()
    second.require()
    for ref in (first, second):
        missing = _missing(ref)
        if missing:
            raise NotApplicable(f"{ref.name} does not claim {', '.join(missing)}")
    both = first.capabilities & second.capabilities
    vectors = [v for v in context.vectors.datasets.values() if set(v.capabilities) <= both]
    shared = set(first.component.extensions) & set(second.component.extensions)
    direct = first.name != second.name and bool(shared)
    checked = []
    for vector in vectors:
        source = written.uri(first, vector.name)
        expected = context.vectors.table(vector.name)
        if direct:
            how = f"vector {vector.name!r} written by {first.name}, read directly by {second.name}"
            with stage("DS-071", how):
                read = interlock.open_dataset(source, format=second.name).to_table()
            _mismatch(expected, read, how, ordered=_ordered(first, second))
        target = context.directory("rewritten", first.name, second.name, vector.name)
        uri = _target(second, target)
        how = (
            f"vector {vector.name!r} written and read by {first.name}, rewritten from that "
            f"dataset and read by {second.name}"
        )
        with stage("DS-071", how):
            dataset = interlock.open_dataset(source, format=first.name)
            interlock.write_dataset(dataset, uri, format=second.name)
            read = interlock.open_dataset(uri, format=second.name).to_table()
        _mismatch(expected, read, how, ordered=_ordered(first, second))
        checked.append(vector.name)
    return checked


def dataset_section(context: MatrixContext) -> MatrixSection:
    """Every ordered pair of dataset formats (CONF-051)."""
    refs = context.components("dataset_format")
    written = _Written(context)
    cells = [
        evaluate(
            first.name,
            second.name,
            ["CONF-051", "DS-071", "DS-072"],
            partial(_pair, context, written, first, second),
        )
        for first in refs
        for second in refs
    ]
    return MatrixSection(
        name="datasets",
        title="golden datasets written with the row's format, rewritten with the column's",
        requirement="CONF-051",
        row_kind="dataset_format",
        column_kind="dataset_format",
        rows=[r.name for r in refs],
        columns=[r.name for r in refs],
        cells=cells,
    )
