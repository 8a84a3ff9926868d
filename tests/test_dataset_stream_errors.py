"""A damaged data file found while another library streams a Dataset through the Arrow
PyCapsule interface (dataset.md DS-034): that library raises its own exception, and its
message carries interlock's whole DatasetError text, the file and the hint included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from interlock_conformance import requirement

import interlock


def _damaged_parquet(tmp_path: Path) -> Path:
    """A Parquet file whose footer is sound (it opens) and whose third row group has a
    damaged page header, so the damage is found only while streaming."""
    path = tmp_path / "damaged.parquet"
    interlock.write_dataset(pa.table({"x": list(range(100_000))}), path, row_group_size=20_000)
    column = pq.ParquetFile(path).metadata.row_group(2).column(0)
    data = bytearray(path.read_bytes())
    for i in range(column.data_page_offset, column.data_page_offset + 64):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


CONSUMERS: dict[str, Callable[[interlock.Dataset], object]] = {
    "pyarrow.table": pa.table,
    "RecordBatchReader.from_stream": lambda ds: pa.RecordBatchReader.from_stream(ds).read_all(),
    "polars.DataFrame": pl.DataFrame,
}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
@requirement("DS-034", "DS-028")
def test_a_foreign_consumer_gets_the_whole_dataset_error(consumer: str, tmp_path: Path) -> None:
    """DS-034: the type cannot cross the C stream interface, the text does."""
    path = _damaged_parquet(tmp_path)
    ds = interlock.open_dataset(path)
    with pytest.raises(interlock.DatasetError) as ours:
        ds.to_table()
    assert str(path) in ours.value.message and ours.value.hint
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - each library has its own type
        CONSUMERS[consumer](ds)
    assert not isinstance(theirs.value, interlock.DatasetError)
    text = str(theirs.value)
    assert str(ours.value) in text
    # pyarrow appends the traceback: one frame of interlock's, not its reader's chain.
    assert text.count('File "') <= 1 and "direct cause" not in text, text
