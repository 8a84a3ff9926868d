"""docs/datasets.md's PyCapsule example runs as written, on the installed pandas and polars."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import interlock

DOC = Path(__file__).resolve().parent.parent / "docs" / "datasets.md"


def _capsule_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    after = text.split("speaks the Arrow PyCapsule stream interface", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_pycapsule_example_runs_and_each_line_reads_the_data(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    pq.write_table(table, tmp_path / "data.parquet")
    ds = interlock.open_dataset(str(tmp_path / "data.parquet"))
    lines = [line.split("#", 1)[0].strip() for line in _capsule_example().splitlines()]
    namespace: dict[str, object] = {"pa": pa, "ds": ds}
    exec("\n".join(line for line in lines if line.startswith("import ")), namespace)
    results = [eval(line, namespace) for line in lines if line and not line.startswith("import ")]
    assert len(results) >= 6
    for result in results:
        frame = result if not isinstance(result, pa.Table) else result.to_pandas()
        assert len(frame) == 3, f"{type(result).__name__} holds {len(frame)} rows, not 3"
