"""``interlock.predict_dataset``: what the core checks before any executor runs, and how it
holds executors to their contract (spec: batch.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import interlock
from interlock import hookimpl
from interlock_conformance import requirement

FEATURES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    x = np.random.default_rng(4).normal(size=(200, 3))
    return LogisticRegression().fit(x, (x[:, 0] > x[:, 1]).astype(np.int64))


@pytest.fixture()
def table() -> pa.Table:
    x = np.random.default_rng(5).normal(size=(50, 3))
    return pa.table({"key": np.arange(50), **{n: x[:, i] for i, n in enumerate(FEATURES)}})


@pytest.fixture()
def dataset(table: pa.Table, tmp_path: Path) -> interlock.Dataset:
    return interlock.write_dataset(table, str(tmp_path / "input.parquet"))


@pytest.fixture()
def artifact(model: LogisticRegression, table: pa.Table) -> interlock.Artifact:
    # Saved in the default store ($INTERLOCK_STORE, per-test in conftest).
    return interlock.export(model, table.select(FEATURES), name="scorer", version="3")


class RecordingExecutor(interlock.Executor):
    """A vendor executor that writes the kept columns only and remembers its job."""

    name = "recording"

    def __init__(self, summary: Any = None, crash: bool = False) -> None:
        self.jobs: list[interlock.BatchJob] = []
        self.summary = summary
        self.crash = crash

    def run(self, job: interlock.BatchJob) -> dict[str, Any]:
        self.jobs.append(job)
        if self.crash:
            raise KeyError("engine lost")
        if self.summary is not None:
            return self.summary  # type: ignore[no-any-return]
        reader = job.dataset.to_reader(columns=job.keep_columns)
        schema = reader.schema.with_metadata(job.schema_metadata())
        interlock.write_dataset(pa.Table.from_batches(list(reader), schema), job.output_uri)
        return {"rows": 50, "batches": 1, "seconds": 0.1, "rows_per_second": 500.0,
                "output_uri": job.output_uri}


def register(executor: interlock.Executor) -> None:
    class Plugin:
        @hookimpl
        def interlock_executors(self) -> list[interlock.Executor]:
            return [executor]

    interlock.get_registry().register(Plugin(), name="vendor")


def test_the_job_an_executor_receives(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    executor = RecordingExecutor()
    register(executor)
    output = str(tmp_path / "out.parquet")

    summary = interlock.predict_dataset(
        dataset.uri,
        "scorer:3",
        output,
        executor="recording",
        keep_columns=["key"],
        batch_size=7,
        runtime="reference",
        runtime_options={"verbose": 0},
        write_options={"compression": "zstd"},
    )

    assert summary["output_uri"] == output
    [job] = executor.jobs
    assert job.artifact.ref == artifact.ref
    assert job.dataset.uri == dataset.uri
    assert (job.runtime, job.device, job.batch_size, job.mode) == ("reference", "cpu", 7, "error")
    assert job.input_columns == FEATURES and job.keep_columns == ["key"]
    assert job.read_columns == [*FEATURES, "key"]
    assert (job.runtime_options, job.write_options) == ({"verbose": 0}, {"compression": "zstd"})
    assert job.lineage["dataset"]["fingerprint"] == dataset.fingerprint()
    written = interlock.open_dataset(output)
    assert json.loads(written.schema.metadata[b"interlock.lineage"]) == job.lineage


@requirement("BAT-006")
def test_a_summary_without_the_required_keys_is_a_spec_violation(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    register(RecordingExecutor(summary={"rows": 1}))

    with pytest.raises(interlock.SpecViolation, match="BAT-006"):
        interlock.predict_dataset(
            dataset, artifact, str(tmp_path / "o.parquet"), executor="recording"
        )


@requirement("BAT-006")
def test_a_crashing_executor_is_a_plugin_error_naming_it(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    register(RecordingExecutor(crash=True))

    with pytest.raises(interlock.PluginError, match=r"'recording' from 'vendor'.*engine lost"):
        interlock.predict_dataset(
            dataset, artifact, str(tmp_path / "o.parquet"), executor="recording"
        )


@requirement("BAT-001")
def test_unknown_executor_lists_the_installed_ones(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    with pytest.raises(interlock.PluginError, match=r"no executor named 'spark'.*local"):
        interlock.predict_dataset(dataset, artifact, str(tmp_path / "o.parquet"), executor="spark")


@pytest.mark.parametrize("mode", ["replace", "", "ERROR"])
@requirement("BAT-002")
def test_unknown_mode_is_refused_before_reading(mode: str, artifact: interlock.Artifact) -> None:
    with pytest.raises(interlock.DatasetError, match=f"unknown write mode '{mode}'"):
        interlock.predict_dataset("/nonexistent/in.parquet", artifact, "/tmp/o.parquet", mode=mode)


@pytest.mark.parametrize("batch_size", [0, -5, True, 2.5, "100"])
@requirement("BAT-002")
def test_batch_size_must_be_a_positive_integer(
    batch_size: Any, artifact: interlock.Artifact
) -> None:
    with pytest.raises(interlock.DatasetError, match="batch_size"):
        interlock.predict_dataset(
            "/nonexistent/in.parquet", artifact, "/tmp/o.parquet", batch_size=batch_size
        )


@requirement("BAT-004")
def test_missing_input_columns_name_the_column_and_tensor(
    artifact: interlock.Artifact, table: pa.Table, tmp_path: Path
) -> None:
    renamed = interlock.write_dataset(
        table.rename_columns(["key", "a", "B", "c"]), str(tmp_path / "renamed.parquet")
    )
    output = tmp_path / "o.parquet"

    with pytest.raises(interlock.SignatureMismatch, match=r"lacks column\(s\) \['b'\].*'input'"):
        interlock.predict_dataset(renamed, artifact, str(output))
    assert not output.exists()


@requirement("BAT-005")
def test_kept_columns_must_exist(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    with pytest.raises(interlock.DatasetError, match=r"\['id'\]"):
        interlock.predict_dataset(
            dataset, artifact, str(tmp_path / "o.parquet"), keep_columns=["id"]
        )


@requirement("BAT-005")
def test_kept_columns_must_not_clash_with_predictions(
    artifact: interlock.Artifact, table: pa.Table, tmp_path: Path
) -> None:
    source = interlock.write_dataset(
        table.append_column("label", pa.array(["x"] * 50)), str(tmp_path / "labelled.parquet")
    )

    with pytest.raises(interlock.DatasetError, match="prediction columns"):
        interlock.predict_dataset(
            source, artifact, str(tmp_path / "o.parquet"), keep_columns=["label"]
        )


@requirement("BAT-005")
def test_output_must_not_be_the_input(
    artifact: interlock.Artifact, dataset: interlock.Dataset
) -> None:
    with pytest.raises(interlock.DatasetError, match="is the dataset being read"):
        interlock.predict_dataset(dataset, artifact, dataset.uri, mode="overwrite")


def test_dataset_of_the_wrong_type_is_refused(
    artifact: interlock.Artifact, table: pa.Table, tmp_path: Path
) -> None:
    with pytest.raises(interlock.DatasetError, match="got a list") as caught:
        interlock.predict_dataset(table.to_pylist(), artifact, str(tmp_path / "o.parquet"))
    assert "__arrow_c_stream__" in (caught.value.hint or "")
    assert not (tmp_path / "o.parquet").exists()


def test_unknown_artifact_reference_lists_what_exists(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    with pytest.raises(interlock.ArtifactNotFoundError, match="scorer"):
        interlock.predict_dataset(dataset, "scorer:9", str(tmp_path / "o.parquet"))


@requirement("BAT-003")
def test_artifact_reference_is_resolved_in_the_given_store(
    model: LogisticRegression, table: pa.Table, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    store = str(tmp_path / "other-store")
    interlock.export(model, table.select(FEATURES), name="elsewhere", store=store)
    output = str(tmp_path / "o.parquet")

    summary = interlock.predict_dataset(dataset, "elsewhere", output, store=store)

    assert summary["rows"] == 50


def test_paths_work_for_dataset_artifact_and_output(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    output = tmp_path / "o.parquet"

    summary = interlock.predict_dataset(
        Path(dataset.uri), artifact.local_dir(), output, keep_columns=["key"]
    )

    assert summary["output_uri"] == str(output)
    assert interlock.open_dataset(output).schema.names == ["key", "label", "probabilities"]


# -- the shard kit (interlock.batch.ShardPlan, ShardTask, run_shard) --------------------------


class KitExecutor(interlock.Executor):
    """A vendor executor built on the shard kit, shipping each task through JSON as an engine
    would ship it to another process."""

    name = "kit"
    capabilities = frozenset({"ordered", "resume"})

    def __init__(self) -> None:
        self.plans: list[Any] = []
        self.ran: list[int] = []

    def run(self, job: interlock.BatchJob) -> dict[str, Any]:
        from interlock.batch import ShardPlan, run_shard

        with ShardPlan.create(job, shards=4) as plan:
            self.plans.append(plan)
            results = []
            for task in plan.pending:
                self.ran.append(task.index)
                results.append(run_shard(json.loads(json.dumps(task.to_dict()))))
            return plan.publish(results)


@pytest.fixture()
def kit(table: pa.Table, tmp_path: Path) -> KitExecutor:
    executor = KitExecutor()
    register(executor)
    return executor


@pytest.fixture()
def sharded(table: pa.Table, tmp_path: Path) -> str:
    path = str(tmp_path / "sharded.parquet")
    interlock.write_dataset(table, path, row_group_size=10)
    return path


@requirement("BAT-040", "BAT-041", "BAT-043", "BAT-044", "BAT-045")
def test_the_kit_runs_plain_data_tasks_and_publishes_in_shard_order(
    kit: KitExecutor, artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"
    summary = interlock.predict_dataset(sharded, artifact, str(output), executor="kit",
                                        keep_columns=["key"], batch_size=4, row_index="n")
    plan = kit.plans[0]
    assert len(plan.tasks) == 4 == summary["shards"] and kit.ran == [0, 1, 2, 3]
    for task in plan.tasks:
        assert type(task).from_dict(json.loads(json.dumps(task.to_dict()))) == task
    staging = Path(plan.staging_uri)
    assert staging.parent == output.parent and staging.name.startswith(".out.parquet")
    assert ".interlock-job-" in staging.name and not staging.exists()
    local = tmp_path / "local.parquet"
    interlock.predict_dataset(sharded, artifact, str(local), keep_columns=["key"],
                              batch_size=4, row_index="n")
    written = interlock.open_dataset(str(output)).to_table()
    assert written.replace_schema_metadata(None).equals(
        interlock.open_dataset(str(local)).to_table().replace_schema_metadata(None))
    assert written.column("n").to_pylist() == list(range(50)) == written["key"].to_pylist()
    assert summary["batches"] >= 50 // 4 and summary["predictor_loads"] <= 1


@requirement("BAT-045")
def test_the_kit_publishes_with_the_write_modes_of_write_dataset(
    kit: KitExecutor, artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "scores")
    for mode in ("error", "append"):
        interlock.predict_dataset(sharded, artifact, output, executor="kit", mode=mode,
                                  output_format="parquet", keep_columns=["key"])
    assert interlock.open_dataset(output, format="parquet").count_rows() == 100


@requirement("BAT-046", "BAT-023")
def test_an_existing_output_is_refused_before_any_shard_runs(
    kit: KitExecutor, artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"
    output.write_bytes(b"not mine")
    with pytest.raises(interlock.DatasetError, match="already exists"):
        interlock.predict_dataset(sharded, artifact, str(output), executor="kit")
    assert kit.ran == [] and output.read_bytes() == b"not mine"


@requirement("BAT-042")
def test_a_worker_refuses_an_artifact_whose_digest_is_not_the_jobs(
    kit: KitExecutor, artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    from interlock.batch import run_shard

    interlock.predict_dataset(sharded, artifact, str(tmp_path / "out.parquet"), executor="kit")
    task = kit.plans[0].tasks[0].to_dict()
    task["artifact_digest"] = "sha256:" + "0" * 64
    with pytest.raises(interlock.ArtifactIntegrityError, match="digest"):
        run_shard(task)


@requirement("BAT-050", "BAT-053")
def test_another_job_gets_another_staging_place(
    kit: KitExecutor, artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    output = str(tmp_path / "out.parquet")
    for batch_size, mode in ((8, "error"), (8, "overwrite"), (9, "overwrite")):
        interlock.predict_dataset(sharded, artifact, output, executor="kit", mode=mode,
                                  batch_size=batch_size, resume=True)
    first, same, other = (plan.staging_uri for plan in kit.plans)
    assert first == same != other


@requirement("BAT-050")
def test_naming_the_format_the_uri_tells_is_the_same_job(
    kit: KitExecutor, artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    # `interlock predict` names the format it found in the URI; a Python call leaves it out.
    output = str(tmp_path / "out.parquet")
    for output_format, mode in ((None, "error"), ("parquet", "overwrite"), ("arrow", "overwrite")):
        interlock.predict_dataset(sharded, artifact, output, executor="kit", mode=mode,
                                  output_format=output_format, resume=True)
    told, named, other = (plan.staging_uri for plan in kit.plans)
    assert told == named != other


@requirement("BAT-007")
def test_resume_needs_an_executor_that_resumes(
    artifact: interlock.Artifact, dataset: interlock.Dataset, tmp_path: Path
) -> None:
    register(RecordingExecutor())
    with pytest.raises(interlock.PluginError, match="resume") as caught:
        interlock.predict_dataset(dataset, artifact, str(tmp_path / "out.parquet"),
                                  executor="recording", resume=True)
    assert "local" in str(caught.value.hint)
    with pytest.raises(interlock.InterlockError, match="takes no options"):
        interlock.predict_dataset(dataset, artifact, str(tmp_path / "out.parquet"),
                                  executor="recording", executor_options={"x": 1})


@requirement("BAT-011", "BAT-013", "BAT-043")
def test_a_shard_reads_only_its_columns_in_bounded_batches(
    artifact: interlock.Artifact, sharded: str, tmp_path: Path
) -> None:
    from interlock.batch import ShardPlan, run_shard

    requests: list[tuple[list[str] | None, int | None]] = []
    sizes: list[int] = []

    class InProcess(KitExecutor):
        name = "kit-in-process"

        def run(self, job: interlock.BatchJob) -> dict[str, Any]:
            with ShardPlan.create(job, shards=5, reopen=False) as plan:
                results = []
                for task in plan.pending:
                    shard = plan.shards[task.index]
                    inner = shard.to_reader

                    def reader(columns: Any = None, filter: Any = None,
                               batch_size: Any = None, inner: Any = inner) -> pa.RecordBatchReader:
                        requests.append((columns, batch_size))
                        source = inner(columns=columns, filter=filter, batch_size=batch_size)

                        def batches() -> Any:
                            for batch in source:
                                sizes.append(batch.num_rows)
                                yield batch

                        return pa.RecordBatchReader.from_batches(source.schema, batches())

                    shard.to_reader = reader  # type: ignore[method-assign]
                    results.append(run_shard(task, shard=shard))
                return plan.publish(results)

    register(InProcess())
    interlock.predict_dataset(sharded, artifact, str(tmp_path / "out.parquet"),
                              executor="kit-in-process", keep_columns=["key"], batch_size=3)
    assert len(requests) == 5
    assert all(columns == [*FEATURES, "key"] and size == 3 for columns, size in requests)
    assert sum(sizes) == 50 and max(sizes) <= 3
