"""Dataset format cases about failed writes (spec: dataset.md DS-055, DS-057): a format writes
only inside the staging location the core gives it, so a write whose input fails midway leaves
nothing next to its target, hidden or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import interlock
from interlock import DatasetError

from interlock_conformance.attribution import checking
from interlock_conformance.markers import capability, component_kind, requirement, when_unclaimed
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("dataset_format")


@requirement("DS-055", "DS-057")
@capability("write")
@pytest.mark.parametrize(
    "layout", [pytest.param("file", marks=when_unclaimed("transactional")), "directory"]
)
def test_a_failed_write_leaves_nothing_beside_its_target(
    component: interlock.DatasetFormat, vectors: VectorIndex, tmp_path: Path, layout: str
) -> None:
    """The input fails after its first batch: the write raises DatasetError, and the target's
    directory is as empty as before (for a transactional format too, DS-121)."""
    table = vectors.table("filterable")
    first = table.to_batches()[0]

    def failing() -> Iterator[pa.RecordBatch]:
        yield first
        raise RuntimeError("the input stream failed midway")

    parent = tmp_path / "out"
    parent.mkdir()
    name = f"data{component.extensions[0]}" if layout == "file" else "data"
    source = pa.RecordBatchReader.from_batches(table.schema, failing())
    with pytest.raises(DatasetError):
        interlock.write_dataset(source, str(parent / name), format=component.name)
    left = sorted(path.name for path in parent.iterdir())
    # A staging directory left behind is DS-057's failure; anything else was written outside
    # the staging location, DS-055's.
    staging = [entry for entry in left if ".interlock-staging-" in entry]
    with checking("DS-057" if staging else "DS-055"):
        assert not left, f"a failed write of {name!r} left {left} next to it"
