"""Executor cases (spec: batch.md): a batch job over a Parquet dataset writes exactly what
``Predictor.predict`` gives for each row, reads only the columns it needs in bounded batches,
keeps memory bounded, records lineage, honours the write modes, fails cleanly, and stays quiet.

The jobs run the golden two-layer perceptron (``mlp_float32``, its four inputs gathered from
the columns ``f0`` to ``f3``) with the first installed runtime of ``onnxruntime`` and
``reference``, through ``interlock.predict_dataset(..., executor=<the executor under test>)``
with the executor's default options. The reads and the memory are observed through a dataset
object that records them, so those two cases apply to executors that read in this process
(``in_process``); the shard kit's reads are checked by interlock's own tests, and
``executor_resume`` holds the cases for mistakes, the row index and resuming.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
import pytest

import interlock
from interlock import Dataset, DatasetError, Executor, SignatureMismatch

from interlock_conformance.attribution import checking
from interlock_conformance.markers import capability, component_kind, requirement
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("executor")

_ROWS = 6000
_BATCH = 250
_FEATURES = ["f0", "f1", "f2", "f3"]
_OUTPUTS = ["logits", "probabilities"]


@dataclass
class Job:
    """What every case runs: an artifact in a store, an input dataset and its rows."""

    store: str
    ref: str
    dataset_uri: str
    table: pa.Table
    runtime: str


def _runtime() -> str:
    names = [r.name for r in interlock.get_registry().all("runtime")]
    return next((n for n in ("onnxruntime", "reference") if n in names), names[0])


def _table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, len(_FEATURES))).astype(np.float32)
    columns: dict[str, Any] = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    columns.update({name: x[:, j] for j, name in enumerate(_FEATURES)})
    columns["note"] = pa.array([f"row {i}" for i in range(rows)])
    return pa.table(columns)


@pytest.fixture(scope="module")
def job(vectors: VectorIndex, tmp_path_factory: pytest.TempPathFactory) -> Job:
    """The artifact and a Parquet dataset of several row groups."""
    root = tmp_path_factory.mktemp("executor")
    mapping = interlock.ColumnMapping(
        inputs=[interlock.InputBinding(tensor="x", columns=_FEATURES)],
        outputs=[interlock.OutputBinding(tensor=n, column=n) for n in _OUTPUTS],
    )
    model = onnx.load_from_string(vectors.model_bytes("mlp_float32"))
    artifact = interlock.save_artifact(model, str(root / "store"), name="mlp", version="1",
                                       columns=mapping)
    table = _table(_ROWS)
    uri = str(root / "input.parquet")
    interlock.write_dataset(table, uri, row_group_size=1000)
    return Job(str(root / "store"), artifact.ref, uri, table, _runtime())


def _run(
    component: Executor, job: Job, output: str, dataset: Any = None, **kwargs: Any
) -> dict[str, Any]:
    kwargs.setdefault("batch_size", _BATCH)
    return interlock.predict_dataset(
        dataset if dataset is not None else job.dataset_uri, job.ref, output, store=job.store,
        executor=component.name, runtime=job.runtime, **kwargs)


def _expected(job: Job, table: pa.Table | None = None) -> pa.RecordBatch:
    predictor = interlock.load_predictor(job.ref, runtime=job.runtime, store=job.store)
    return predictor.predict(table if table is not None else job.table)


def _sorted(table: pa.Table, ordered: bool) -> pa.Table:
    return table if ordered else table.sort_by("id")


class _RecordingDataset(Dataset):
    """A dataset that notes the columns and batch sizes every reader asks for and yields, and
    how much Arrow memory is allocated whenever a batch is handed out."""

    @dataclass
    class Log:
        requests: list[tuple[list[str] | None, int | None]] = field(default_factory=list)
        batch_rows: list[int] = field(default_factory=list)
        peak_bytes: int = 0

    def __init__(self, inner: Dataset, log: _RecordingDataset.Log | None = None) -> None:
        self.inner = inner
        self.log = log if log is not None else self.Log()
        self.uri, self.format_name = inner.uri, inner.format_name
        self.filesystem, self.path = inner.filesystem, inner.path

    @property
    def schema(self) -> pa.Schema:
        return self.inner.schema

    def files(self) -> list[str]:
        return self.inner.files()

    def row_group_selection(self) -> dict[str, list[int]]:
        return self.inner.row_group_selection()

    def count_rows(self, filter: Any = None) -> int:
        return self.inner.count_rows(filter)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def shards(self, n: int) -> list[Dataset]:
        return [_RecordingDataset(s, self.log) for s in self.inner.shards(n)]

    def to_reader(self, columns: list[str] | None = None, filter: Any = None,
                  batch_size: int | None = None) -> pa.RecordBatchReader:
        self.log.requests.append((None if columns is None else list(columns), batch_size))
        reader = self.inner.to_reader(columns=columns, filter=filter, batch_size=batch_size)

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                self.log.batch_rows.append(batch.num_rows)
                self.log.peak_bytes = max(self.log.peak_bytes, pa.total_allocated_bytes())
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


# -- cases ----------------------------------------------------------------------------------------


@requirement("BAT-010", "PLG-011")
def test_executor_is_named(component: Executor) -> None:
    """An interlock.Executor with a non-empty name."""
    assert isinstance(component, Executor) and isinstance(component.name, str) and component.name


@requirement("BAT-003", "BAT-006", "BAT-012", "BAT-014", "BAT-020", "BAT-021")
def test_predictions_are_what_predict_gives(component: Executor, job: Job, tmp_path: Path) -> None:
    """Every row of the output holds the kept columns (in keep order, their types) and the
    prediction columns equal to Predictor.predict for that row; the summary adds up."""
    output = str(tmp_path / "out.parquet")
    summary = _run(component, job, output, keep_columns=["note", "id"])
    written = interlock.open_dataset(output).to_table()
    expected = _expected(job)
    # Each group of checks is about one requirement, so that a failure names that one.
    with checking("BAT-021"):
        assert written.schema.names == ["note", "id", *_OUTPUTS], written.schema.names
        assert written.schema.field("id").type == pa.int64()
        for name in _OUTPUTS:
            assert written.schema.field(name).type == expected.schema.field(name).type, (
                f"{name} is {written.schema.field(name).type}, predict gives "
                f"{expected.schema.field(name).type}"
            )
    ordered = _sorted(written, "ordered" in component.capabilities)
    with checking("BAT-020"):
        assert ordered.column("id").to_pylist() == list(range(_ROWS)), (
            "rows are missing or repeated"
        )
    with checking("BAT-006"):
        for key in ("rows", "batches", "seconds", "rows_per_second", "output_uri"):
            assert key in summary, f"the summary {summary} lacks {key!r}"
        assert summary["rows"] == _ROWS and summary["output_uri"] == output, summary
        assert summary["batches"] >= _ROWS // _BATCH, (
            f"{summary['batches']} batches of at most {_BATCH} rows hold {_ROWS} rows"
        )
    with checking("BAT-012"):
        for name in _OUTPUTS:
            got = np.asarray(ordered.column(name).combine_chunks().flatten())
            want = np.asarray(expected.column(name).flatten())
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


@requirement("BAT-020")
@capability("ordered")
def test_rows_keep_the_reader_order(component: Executor, job: Job, tmp_path: Path) -> None:
    """An executor that claims ``ordered`` writes the rows in the dataset's order."""
    output = str(tmp_path / "out.parquet")
    _run(component, job, output, keep_columns=["id"], batch_size=97)
    ids = interlock.open_dataset(output).to_table().column("id").to_pylist()
    assert ids == list(range(_ROWS)), "the rows are out of order"


@requirement("BAT-022")
def test_without_keep_columns_only_predictions_are_written(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """keep_columns=None: the prediction columns only."""
    output = str(tmp_path / "out.parquet")
    _run(component, job, output)
    assert interlock.open_dataset(output).schema.names == _OUTPUTS


@requirement("BAT-011")
@capability("in_process")
def test_reads_only_the_needed_columns_in_bounded_batches(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """Readers ask for the input and kept columns only and yield at most batch_size rows."""
    dataset = _RecordingDataset(interlock.open_dataset(job.dataset_uri))
    wanted = [*_FEATURES, "id"]
    _run(component, job, str(tmp_path / "out.parquet"), dataset=dataset, keep_columns=["id"])
    log = dataset.log
    assert log.requests, "the executor never read the dataset through Dataset.to_reader"
    for columns, _ in log.requests:
        assert columns is not None and set(columns) <= set(wanted), (
            f"a reader asked for columns {columns}; the job reads {wanted}"
        )
    assert sum(log.batch_rows) >= _ROWS and max(log.batch_rows) <= _BATCH, (
        f"batches of {max(log.batch_rows)} rows were read, the batch size is {_BATCH}"
    )


@requirement("BAT-013")
@capability("in_process")
def test_memory_stays_bounded_by_the_batch_size(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """While a job runs over a dataset a hundred times its batch size, the Arrow memory held
    stays a small part of the dataset's size."""
    rows, batch = 200_000, 2000
    big = str(tmp_path / "big.parquet")
    interlock.write_dataset(_table(rows).drop_columns(["note"]), big, row_group_size=10_000)
    dataset = _RecordingDataset(interlock.open_dataset(big))
    baseline = pa.total_allocated_bytes()
    _run(component, job, str(tmp_path / "out.parquet"), dataset=dataset, batch_size=batch)
    whole = _table(rows).select(_FEATURES).nbytes
    held = dataset.log.peak_bytes - baseline
    assert held < whole / 4, (
        f"{held} bytes of Arrow memory were held while reading a dataset of {whole} bytes in "
        f"batches of {batch} rows"
    )


def _lineage(uri: str) -> dict[str, Any]:
    metadata = interlock.open_dataset(uri).schema.metadata or {}
    assert b"interlock.lineage" in metadata, (
        f"the output schema has no interlock.lineage: {metadata}"
    )
    record: dict[str, Any] = json.loads(metadata[b"interlock.lineage"].decode("utf-8"))
    return record


@requirement("BAT-030", "BAT-031")
def test_the_output_records_its_lineage(component: Executor, job: Job, tmp_path: Path) -> None:
    """The output schema's interlock.lineage names the artifact, the dataset and its
    fingerprint, the runtime, device, executor, start time and interlock version."""
    output = str(tmp_path / "out.parquet")
    _run(component, job, output)
    lineage = _lineage(output)
    artifact = interlock.load_artifact(job.ref, store=job.store)
    assert lineage.get("lineage_version") == "1", lineage
    assert lineage.get("artifact") == {"ref": artifact.ref, "name": "mlp", "version": "1",
                                       "digest": artifact.digest}, lineage.get("artifact")
    source = interlock.open_dataset(job.dataset_uri)
    assert lineage.get("dataset") == {"uri": source.uri, "fingerprint": source.fingerprint()}
    assert (lineage.get("runtime"), lineage.get("device"), lineage.get("executor")) == (
        job.runtime, "cpu", component.name)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(lineage.get("created_at")))
    assert lineage.get("interlock_version") == interlock.__version__


@requirement("BAT-023", "BAT-032")
def test_write_modes(component: Executor, job: Job, tmp_path: Path) -> None:
    """error refuses an existing output and leaves it; overwrite replaces it; append adds the
    new rows in parts that carry the appending job's lineage."""
    output = str(tmp_path / "out")
    _run(component, job, output, output_format="parquet", keep_columns=["id"])
    before = interlock.open_dataset(output, format="parquet").fingerprint()
    with pytest.raises(DatasetError):
        _run(component, job, output, output_format="parquet", keep_columns=["id"])
    assert interlock.open_dataset(output, format="parquet").fingerprint() == before
    second = str(tmp_path / "second.parquet")
    interlock.write_dataset(_table(500, seed=1), second)
    existing = set(interlock.open_dataset(output, format="parquet").files())
    _run(component, job, output, dataset=second, output_format="parquet", mode="append",
         keep_columns=["id"])
    appended = interlock.open_dataset(output, format="parquet")
    assert appended.count_rows() == _ROWS + 500
    new_parts = [f for f in appended.files() if f not in existing]
    assert new_parts, "append wrote no new part file"
    for part in new_parts:
        with appended.filesystem.open(part, "rb") as handle:
            import pyarrow.parquet as pq

            metadata = pq.read_schema(handle).metadata or {}
        record = json.loads(metadata[b"interlock.lineage"])
        assert record["dataset"]["uri"] == interlock.open_dataset(second).uri, record["dataset"]
    _run(component, job, output, dataset=second, output_format="parquet", mode="overwrite")
    assert interlock.open_dataset(output, format="parquet").count_rows() == 500


@requirement("BAT-024", "BAT-014")
def test_a_failing_job_leaves_nothing_and_raises_the_original_error(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """A null in a late batch fails the job with the SignatureMismatch naming the column; no
    new output appears and an existing one is unchanged."""
    table = _table(2000)
    f2 = table.column("f2").to_pylist()
    f2[1900] = None
    broken = str(tmp_path / "broken.parquet")
    interlock.write_dataset(table.set_column(3, "f2", pa.array(f2, pa.float32())), broken)
    output = str(tmp_path / "out.parquet")
    with pytest.raises(SignatureMismatch) as caught:
        _run(component, job, output, dataset=broken)
    assert "f2" in str(caught.value), str(caught.value)
    assert not Path(output).exists(), "a failed job left an output"
    _run(component, job, output)
    before = interlock.open_dataset(output).fingerprint()
    with pytest.raises(SignatureMismatch):
        _run(component, job, output, dataset=broken, mode="overwrite")
    assert interlock.open_dataset(output).fingerprint() == before, "a failed job changed the output"


@requirement("BAT-015")
def test_quiet_without_progress(
    component: Executor, job: Job, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Nothing on stdout, and nothing on stderr when progress is off."""
    capfd.readouterr()
    _run(component, job, str(tmp_path / "out.parquet"))
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"stdout {out[:200]!r}, stderr {err[:200]!r}"


@requirement("BAT-015")
@capability("progress")
def test_progress_goes_to_stderr(
    component: Executor, job: Job, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """progress=True shows a bar on stderr, never on stdout."""
    capfd.readouterr()
    _run(component, job, str(tmp_path / "out.parquet"), progress=True)
    out, err = capfd.readouterr()
    assert out == "" and err.strip(), f"stdout {out[:200]!r}, stderr {err[:200]!r}"
