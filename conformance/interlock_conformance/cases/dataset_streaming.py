"""Dataset format cases (spec: dataset.md) about the two ends of a stream: writing an input
larger than a format may hold (DS-041, measured by the Arrow memory the write keeps while the
input is still being produced), and opening a directory that holds no data file (DS-005).

DS-041 lets a format buffer a bounded amount of its input (the reference Parquet writer holds
up to one row group, 1,048,576 rows by default). The case streams 64 MiB (8,388,608 ``int64``
rows in batches of 131,072, each made fresh in Arrow's memory pool and dropped once consumed)
and samples
``pyarrow.total_allocated_bytes()`` before producing each batch: a format that streams keeps a
few batches and a row group; one that reads the whole input first (``read_all``, a list of
batches) keeps every batch produced, and fails when what it keeps exceeds half the stream. The
measure sees Arrow's memory pool, where every batch of the input lives; a writer that copied
the input into Python objects instead would not be seen by it (nor would it pass DS-071's round
trips in reasonable time).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import interlock
from interlock import DatasetError

from interlock_conformance.cases._datasets import is_transactional
from interlock_conformance.markers import capability, component_kind, requirement, when_unclaimed

pytestmark = component_kind("dataset_format")

_BATCH_ROWS = 131_072
_BATCHES = 64
#: The most a format may keep of the 64 MiB stream while it is produced: half of it.
_LIMIT_BYTES = _BATCH_ROWS * _BATCHES * 8 // 2


class _Meter:
    """The input stream, and the most Arrow memory held above the start while producing it."""

    def __init__(self) -> None:
        self.start = pa.total_allocated_bytes()
        self.peak = 0
        self.produced = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        import numpy as np
        import pyarrow.compute as pc

        offset = pa.scalar(0, pa.int64())
        for index in range(_BATCHES):
            self.peak = max(self.peak, pa.total_allocated_bytes() - self.start)
            values = np.arange(index * _BATCH_ROWS, (index + 1) * _BATCH_ROWS, dtype=np.int64)
            self.produced += 1
            # computed into Arrow's memory pool (pa.array of NumPy memory would not be seen)
            yield pa.record_batch([pc.add(pa.array(values), offset)], names=["n"])
        self.peak = max(self.peak, pa.total_allocated_bytes() - self.start)


@requirement("DS-041")
@capability("write")
def test_the_input_is_streamed_not_held(component: interlock.DatasetFormat,
                                        tmp_path: Path) -> None:
    """A 64 MiB input reaches storage while it is produced: the write never holds more than
    half of it in Arrow memory."""
    name = "streamed" + (component.extensions[0] if component.extensions and not
                         is_transactional(component) else "")
    meter = _Meter()
    schema = pa.schema([("n", pa.int64())])
    reader = pa.RecordBatchReader.from_batches(schema, meter.batches())
    dataset = interlock.write_dataset(reader, str(tmp_path / name), format=component.name)
    assert meter.produced == _BATCHES, f"the write consumed {meter.produced} of {_BATCHES} batches"
    assert meter.peak <= _LIMIT_BYTES, (
        f"writing a {_BATCHES * _BATCH_ROWS * 8 >> 20} MiB stream with {component.name!r} held "
        f"{meter.peak >> 20} MiB of Arrow memory at peak while the input was produced (at most "
        f"{_LIMIT_BYTES >> 20} MiB): the input is buffered, not streamed (DS-041)"
    )
    del reader
    if "read" in component.capabilities:
        assert dataset.count_rows() == _BATCHES * _BATCH_ROWS


@requirement("DS-005")
@capability("read")
@when_unclaimed("transactional")
def test_a_directory_without_data_files_is_refused(component: interlock.DatasetFormat,
                                                   tmp_path: Path) -> None:
    """Opening a directory that holds no file of the format's extensions raises DatasetError
    naming the directory and the extensions expected."""
    directory = tmp_path / "no-data"
    directory.mkdir()
    (directory / "README.txt").write_text("not data", encoding="utf-8")
    (directory / f"_hidden{component.extensions[0]}").write_bytes(b"")
    with pytest.raises(DatasetError) as caught:
        interlock.open_dataset(str(directory), format=component.name)
    message = str(caught.value)
    assert "no-data" in message, f"the error does not name the directory: {message}"
    assert any(ext in message for ext in component.extensions), (
        f"the error does not name the extensions {list(component.extensions)}: {message}")
