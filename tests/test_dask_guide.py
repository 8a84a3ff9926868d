"""docs/batch.md runs as written: its "Running on Dask" example exports a model, scores a
Parquet file with ``local`` and on a LocalCluster with the ``dask`` executor, and prints what
the page shows (the blocks marked for tests/test_docs.py, run in a throwaway environment)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_docs import follow_guide

ROOT = Path(__file__).resolve().parent.parent


def test_the_dask_example_of_the_batch_page_runs_as_written(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    example, blocks = follow_guide(ROOT / "docs" / "batch.md", tmp_path_factory.mktemp("batch"))
    code = "".join(block.text for block in blocks if block.kind == "python")
    assert 'executor="dask"' in code
    scored = pq.read_table(example.workspace / "dask.parquet")
    assert scored.num_rows == 20_000 and scored["row"].to_pylist() == list(range(20_000))
