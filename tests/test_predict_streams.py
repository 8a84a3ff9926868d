"""``predict_dataset`` takes what ``Predictor.predict`` takes: a pyarrow Table or reader, a
polars DataFrame, any object with ``__arrow_c_stream__`` (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pytest
from batch_jobs import make_setup, make_table, predict, rows

import interlock
from interlock import DatasetError
from interlock_conformance import requirement


class _Capsule:
    """Only the PyCapsule stream interface over a table (a third-party Arrow producer)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_setup(tmp_path_factory.mktemp("streams"))


def _inputs(table: pa.Table) -> dict[str, Any]:
    import polars as pl

    return {
        "table": table,
        "reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches(500)),
        "polars": pl.from_arrow(table),
        "capsule": _Capsule(table),
    }


@pytest.mark.parametrize("kind", ["table", "reader", "polars", "capsule"])
def test_an_arrow_stream_object_is_predicted_like_its_dataset(
    setup: dict[str, str], tmp_path: Path, kind: str
) -> None:
    table = make_table(2000, seed=3)
    by_uri = tmp_path / "by-uri.parquet"
    uri = tmp_path / "input.parquet"
    import pyarrow.parquet as pq

    pq.write_table(table, uri)
    predict(setup, by_uri, dataset=str(uri), keep_columns=["id"])
    out = tmp_path / f"{kind}.parquet"
    summary = predict(setup, out, dataset=_inputs(table)[kind], keep_columns=["id"])
    assert summary["rows"] == 2000
    assert rows(out).equals(rows(by_uri))
    # the in-memory copy of the input is gone once the job ends
    assert not fsspec.filesystem("memory").exists("interlock-predict-input") or not (
        fsspec.filesystem("memory").ls("interlock-predict-input")
    )


def test_an_executor_on_other_processes_refuses_an_in_memory_input(
    setup: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(DatasetError, match="cannot see an in-memory Table") as caught:
        predict(setup, tmp_path / "out.parquet", dataset=make_table(10), executor="dask")
    assert "write_dataset" in (caught.value.hint or "")
    assert not (tmp_path / "out.parquet").exists()


@requirement("BAT-026")
def test_an_output_with_no_format_is_refused_before_the_job_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime_models import mlp

    store = str(tmp_path / "store")
    interlock.save_artifact(mlp(), store, name="mlp", version="1")
    data = tmp_path / "in.parquet"
    interlock.write_dataset(pa.table({"x": pa.array([[0.0] * 8] * 3,
                                                     pa.list_(pa.float32(), 8))}), str(data))
    with pytest.raises(interlock.DatasetError, match="format") as caught:
        interlock.predict_dataset(str(data), "mlp:1", str(tmp_path / "out"), store=store,
                                  progress=True)
    assert "output_format" in (caught.value.hint or "") or "format=" in (caught.value.hint or "")
    assert capsys.readouterr().err == ""  # no progress bar was started
    assert not (tmp_path / "out").exists()
