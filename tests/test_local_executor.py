"""The ``local`` executor through ``interlock.predict_dataset``: real scikit-learn models, real
Parquet and Arrow files, streaming with bounded memory, lineage, modes and failures
(spec: batch.md)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from batch_jobs import FEATURES, make_table

import interlock
from interlock_conformance import requirement

def features(table: pa.Table) -> np.ndarray:
    return np.stack([table[name].to_numpy() for name in FEATURES], axis=1)


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    train = make_table(500, seed=1)
    x = features(train)
    return LogisticRegression().fit(x, np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5]))


@pytest.fixture()
def artifact(classifier: LogisticRegression, tmp_path: Path) -> interlock.Artifact:
    sample = make_table(3).select(FEATURES)
    return interlock.export(classifier, sample, name="clf", store=str(tmp_path / "store"))


@pytest.fixture()
def dataset(tmp_path: Path) -> interlock.Dataset:
    # Several row groups, so that the executor reads the file in several pieces.
    path = tmp_path / "input.parquet"
    pq.write_table(make_table(2_500, seed=2), path, row_group_size=400)
    return interlock.open_dataset(str(path))


def lineage_of(schema: pa.Schema) -> dict[str, Any]:
    assert schema.metadata is not None
    return json.loads(schema.metadata[b"interlock.lineage"])


def test_predictions_equal_in_process_predictions(
    classifier: LogisticRegression,
    artifact: interlock.Artifact,
    dataset: interlock.Dataset,
    tmp_path: Path,
) -> None:
    output = str(tmp_path / "scored.parquet")

    summary = interlock.predict_dataset(dataset, artifact, output, batch_size=300)

    written = pq.read_table(output)
    source = dataset.to_table()
    assert written.schema.names == ["label", "probabilities"]
    np.testing.assert_array_equal(written["label"].to_numpy(), classifier.predict(features(source)))
    in_process = interlock.load_predictor(artifact).predict(source.combine_chunks().to_batches()[0])
    assert written.select(["label", "probabilities"]).equals(pa.Table.from_batches([in_process]))
    assert summary["rows"] == 2_500
    # Batches hold at most 300 rows and do not span the file's 400-row row groups.
    assert summary["batches"] == 13
    assert summary["output_uri"] == output
    assert summary["seconds"] > 0 and summary["rows_per_second"] > 0


def test_kept_columns_come_first_unchanged(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = str(tmp_path / "scored.parquet")

    interlock.predict_dataset(dataset, artifact, output, keep_columns=["note", "id"])

    written = pq.read_table(output)
    source = dataset.to_table()
    assert written.schema.names == ["note", "id", "label", "probabilities"]
    assert written.select(["note", "id"]).equals(source.select(["note", "id"]))


def test_output_schema_carries_the_lineage_record(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = str(tmp_path / "scored.parquet")

    interlock.predict_dataset(dataset, artifact, output, runtime="reference")

    record = lineage_of(pq.read_schema(output))
    assert record["lineage_version"] == "1"
    assert record["artifact"] == {
        "ref": artifact.ref,
        "name": "clf",
        "version": "1",
        "digest": artifact.digest,
    }
    assert record["dataset"] == {"uri": dataset.uri, "fingerprint": dataset.fingerprint()}
    how = (record["runtime"], record["device"], record["executor"])
    assert how == ("reference", "cpu", "local")
    assert record["created_at"].endswith("Z")
    assert record["interlock_version"] == interlock.__version__


def test_arrow_ipc_output_in_memory_filesystem_keeps_lineage(
    artifact: interlock.Artifact, dataset: interlock.Dataset
) -> None:
    output = "memory://local-executor-test/scored.arrow"

    summary = interlock.predict_dataset(dataset, artifact, output, keep_columns=["id"])

    written = interlock.open_dataset(output)
    assert written.count_rows() == summary["rows"] == 2_500
    assert lineage_of(written.schema)["artifact"]["ref"] == artifact.ref


def test_reference_runtime_gives_the_same_labels(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    fast, slow = str(tmp_path / "ort.parquet"), str(tmp_path / "ref.parquet")

    interlock.predict_dataset(dataset, artifact, fast)
    interlock.predict_dataset(dataset, artifact, slow, runtime="reference")

    assert pq.read_table(fast)["label"].equals(pq.read_table(slow)["label"])


class AllocationPeak:
    """Samples ``pyarrow.total_allocated_bytes()`` on a thread while a job runs."""

    def __init__(self) -> None:
        self.base = pa.total_allocated_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, pa.total_allocated_bytes())
            time.sleep(0.0005)

    def __enter__(self) -> AllocationPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def grown(self) -> int:
        return self.peak - self.base


def write_single_file(table: pa.Table, where: Path) -> str:
    pq.write_table(table, where / "big.parquet", row_group_size=8_000)
    return str(where / "big.parquet")


def write_directory(table: pa.Table, where: Path) -> str:
    (where / "big").mkdir()
    for part, start in enumerate(range(0, table.num_rows, 8_000)):
        pq.write_table(table.slice(start, 8_000), where / "big" / f"part-{part:03d}.parquet")
    return str(where / "big")


def peak_while_predicting(
    rows: int, layout: Callable[[pa.Table, Path], str], where: Path
) -> tuple[int, int]:
    """Peak Arrow allocation while predicting ``rows`` rows, and the dataset's size."""
    where.mkdir()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 4))
    table = pa.table({"id": np.arange(rows), **{n: x[:, i] for i, n in enumerate(FEATURES)}})
    dataset_bytes = table.nbytes
    uri = layout(table, where)
    model = LinearRegression().fit(x[:1_000], x[:1_000, 0] - x[:1_000, 3])
    artifact = interlock.export(model, table.select(FEATURES), name="reg", store=str(where / "s"))
    del table, x
    with AllocationPeak() as memory:
        summary = interlock.predict_dataset(
            uri,
            artifact,
            str(where / "scored.parquet"),
            keep_columns=["id"],
            batch_size=4_000,
            write_options={"row_group_size": 20_000},
        )
    assert summary["rows"] == rows and summary["batches"] == rows // 4_000
    return memory.grown, dataset_bytes


@pytest.mark.parametrize("layout", [write_single_file, write_directory], ids=["file", "directory"])
def test_memory_stays_bounded_by_batches_not_the_dataset(
    layout: Callable[[pa.Table, Path], str], tmp_path: Path
) -> None:
    small, _ = peak_while_predicting(96_000, layout, tmp_path / "small")
    large, dataset_bytes = peak_while_predicting(400_000, layout, tmp_path / "large")

    print(f"peak Arrow allocation {small / 1e6:.1f} MB, then {large / 1e6:.1f} MB for a "
          f"{dataset_bytes / 1e6:.1f} MB dataset")
    assert large < dataset_bytes / 4
    # Four times the rows, the same memory: it depends on the batch size, not on the data.
    assert large < small * 1.25 + 256 * 1024


def test_mode_error_refuses_an_existing_output_and_leaves_it(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = tmp_path / "scored.parquet"
    interlock.predict_dataset(dataset, artifact, str(output))
    before = output.read_bytes()

    with pytest.raises(interlock.DatasetError, match="already exists"):
        interlock.predict_dataset(dataset, artifact, str(output))
    assert output.read_bytes() == before


def test_overwrite_replaces_and_append_adds_parts_with_their_lineage(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = str(tmp_path / "scored")  # no extension: a directory dataset, which can grow
    interlock.predict_dataset(dataset, artifact, output, output_format="parquet")
    interlock.predict_dataset(dataset, artifact, output, output_format="parquet", mode="overwrite")
    assert interlock.open_dataset(output).count_rows() == 2_500

    interlock.predict_dataset(dataset, artifact, output, output_format="parquet", mode="append")

    grown = interlock.open_dataset(output)
    assert grown.count_rows() == 5_000
    parts = grown.files()
    assert len(parts) == 2
    stamps = {lineage_of(pq.read_schema(part))["created_at"] for part in parts}
    assert len(stamps) == 2  # each part records the job that wrote it


def test_a_batch_the_model_refuses_fails_the_job_and_writes_nothing(
    artifact: interlock.Artifact, tmp_path: Path
) -> None:
    table = make_table(1_000)
    f2 = table["f2"].to_pylist()
    f2[900] = None  # a null in the last batch: the first batches were already written
    path = tmp_path / "holes.parquet"
    pq.write_table(table.set_column(3, "f2", pa.array(f2, pa.float64())), path)
    output = tmp_path / "scored.parquet"

    with pytest.raises(interlock.SignatureMismatch, match="'f2'.*null"):
        interlock.predict_dataset(str(path), artifact, str(output), batch_size=100)
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir() if "scored" in p.name] == []


def test_progress_bar_counts_rows_on_stderr_only_when_asked(
    artifact: interlock.Artifact,
    dataset: interlock.Dataset,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    interlock.predict_dataset(dataset, artifact, str(tmp_path / "quiet.parquet"))
    quiet = capfd.readouterr()
    assert (quiet.out, quiet.err) == ("", "")

    interlock.predict_dataset(dataset, artifact, str(tmp_path / "loud.parquet"), progress=True)

    loud = capfd.readouterr()
    assert loud.out == ""
    assert "100%" in loud.err and "2.50k/2.50k" in loud.err and "rows" in loud.err


def test_an_empty_dataset_gives_an_empty_output_with_the_full_schema(
    artifact: interlock.Artifact, tmp_path: Path
) -> None:
    source = interlock.write_dataset(make_table(0), str(tmp_path / "empty.parquet"))
    output = str(tmp_path / "scored.parquet")

    summary = interlock.predict_dataset(source, artifact, output, keep_columns=["id"])

    written = pq.read_table(output)
    assert summary["rows"] == written.num_rows == 0
    assert written.schema.names == ["id", "label", "probabilities"]
    assert written.schema.field("probabilities").type == pa.list_(pa.float32(), 3)


def test_runtime_options_reach_the_runtime(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = str(tmp_path / "scored.parquet")
    interlock.predict_dataset(
        dataset, artifact, output, runtime_options={"intra_op_num_threads": 1}
    )
    assert pq.read_table(output).num_rows == 2_500

    with pytest.raises(interlock.InterlockError, match="no_such_option"):
        interlock.predict_dataset(
            dataset, artifact, str(tmp_path / "x.parquet"), runtime_options={"no_such_option": 1}
        )


def test_every_batch_respects_batch_size_and_row_order(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = str(tmp_path / "scored.arrow")

    interlock.predict_dataset(dataset, artifact, output, keep_columns=["id"], batch_size=128)

    with pa.ipc.open_file(output) as reader:
        sizes = [reader.get_batch(i).num_rows for i in range(reader.num_record_batches)]
    assert max(sizes) <= 128
    ids = pa.ipc.open_file(output).read_all()["id"].to_numpy()
    np.testing.assert_array_equal(ids, np.arange(2_500))


# -- resume and the row index (batch.md BAT-025, BAT-050..055) ----------------------------------

_DRIVER = """
import json, sys
import interlock
from interlock_conformance import requirement
args = json.loads(sys.argv[1])
interlock.predict_dataset(args.pop("data"), args.pop("ref"), args.pop("output"), **args)
"""


def _done_records(output: Path) -> int:
    return sum(len(list(d.glob("done-*.json")))
               for d in output.parent.glob(f".{output.name}.interlock-job-*"))


@requirement("BAT-050", "BAT-052", "BAT-055")
def test_a_killed_job_resumes_where_it_stopped(
    artifact: interlock.Artifact, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    data = tmp_path / "slow.parquet"
    pq.write_table(make_table(8000, seed=4), data, row_group_size=200)
    uninterrupted = tmp_path / "uninterrupted.parquet"
    interlock.predict_dataset(str(data), artifact, str(uninterrupted), keep_columns=["id"],
                              batch_size=1)
    output = tmp_path / "out.parquet"
    job = {"data": str(data), "ref": artifact.ref, "output": str(output),
           "store": str(tmp_path / "store"), "keep_columns": ["id"], "batch_size": 1,
           "resume": True}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, json.dumps(job)])
    deadline = time.monotonic() + 60
    try:
        while _done_records(output) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    done = _done_records(output)
    assert 3 <= done < 40 and not output.exists(), done

    summary = interlock.predict_dataset(str(data), artifact, str(output), keep_columns=["id"],
                                        batch_size=1, resume=True)

    assert summary["shards"] == 40 and summary["shards_skipped"] == done, summary
    assert summary["rows"] == 8000
    assert pq.read_table(output).replace_schema_metadata(None).equals(
        pq.read_table(uninterrupted).replace_schema_metadata(None))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@requirement("BAT-025")
def test_the_row_index_comes_first_and_numbers_the_rows(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"
    interlock.predict_dataset(dataset, artifact, str(output), keep_columns=["id"],
                              row_index="row", batch_size=300)
    written = pq.read_table(output)
    assert written.schema.names == ["row", "id", "label", "probabilities"]
    assert written.schema.field("row").type == pa.int64()
    assert written["row"].to_pylist() == list(range(2_500)) == written["id"].to_pylist()
    with pytest.raises(interlock.DatasetError, match="row_index 'id'"):
        interlock.predict_dataset(dataset, artifact, str(tmp_path / "b.parquet"),
                                  keep_columns=["id"], row_index="id")
