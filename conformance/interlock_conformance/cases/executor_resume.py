"""Executor cases for what a user asks beyond the plain job (spec: batch.md): mistakes refused
before any work, the row index, datasets an executor cannot reopen, a failing job's traces,
and resuming a job whose driver was killed (capability ``resume``).

The jobs are those of :mod:`interlock_conformance.cases.executor`: the golden two-layer
perceptron over a Parquet dataset of six row groups, run with the executor's default options.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import interlock
from interlock import DatasetError, Executor, InterlockError, PluginError, SignatureMismatch

from interlock_conformance.attribution import checking
from interlock_conformance.cases.executor import (  # noqa: F401  (job is a fixture)
    _OUTPUTS,
    _ROWS,
    Job,
    _expected,
    _run,
    _table,
    job,
)
from interlock_conformance.markers import (
    capability,
    component_kind,
    requirement,
    when_unclaimed,
)

pytestmark = component_kind("executor")


def _leftovers(directory: Path) -> list[str]:
    """Hidden staging places (the executor's or the dataset layer's) left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def _staging(output: Path) -> list[Path]:
    return sorted(output.parent.glob(f".{output.name}.interlock-job-*"))


def _broken(tmp_path: Path, row: int) -> str:
    table = _table(_ROWS)
    f2 = table.column("f2").to_pylist()
    f2[row] = None
    path = str(tmp_path / "broken.parquet")
    interlock.write_dataset(table.set_column(3, "f2", pa.array(f2, pa.float32())), path,
                            row_group_size=1000)
    return path


@requirement("BAT-007")
def test_mistakes_are_refused_before_any_work(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """An unknown runtime, a bad runtime option, an unknown executor option: the typed error
    that names it, and nothing written."""
    output = tmp_path / "out.parquet"
    with pytest.raises(PluginError, match="onnxrt-nope"):
        interlock.predict_dataset(job.dataset_uri, job.ref, str(output), store=job.store,
                                  executor=component.name, runtime="onnxrt-nope")
    with pytest.raises(InterlockError, match="no_such_option"):
        _run(component, job, str(output), runtime_options={"no_such_option": 1})
    with pytest.raises(InterlockError, match=f"executor {component.name!r}") as caught:
        _run(component, job, str(output), executor_options={"no_such_option": 1})
    assert "no_such_option" in str(caught.value), str(caught.value)
    with pytest.raises(DatasetError, match="row_index"):
        _run(component, job, str(output), row_index=_OUTPUTS[0])
    assert list(tmp_path.iterdir()) == [], "a refused job left files"


@requirement("BAT-025")
def test_the_row_index_numbers_the_input_rows(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """row_index: an int64 column first, the dataset row number of each output row."""
    output = str(tmp_path / "out.parquet")
    _run(component, job, output, keep_columns=["id"], row_index="row")
    written = interlock.open_dataset(output).to_table()
    assert written.schema.names == ["row", "id", *_OUTPUTS], written.schema.names
    assert written.schema.field("row").type == pa.int64()
    restored = written.sort_by("row")
    assert restored.column("row").to_pylist() == list(range(_ROWS))
    assert restored.column("id").to_pylist() == list(range(_ROWS)), "row numbers are wrong"
    expected = _expected(job)
    got = np.asarray(restored.column("logits").combine_chunks().flatten())
    np.testing.assert_allclose(got, np.asarray(expected.column("logits").flatten()),
                               rtol=1e-5, atol=1e-6)


@requirement("BAT-016")
@when_unclaimed("in_process")
def test_a_dataset_that_does_not_reopen_is_refused(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """An executor that reads on other processes refuses, before work, a dataset object that
    its workers could not reopen from its URI (here: one shard of the dataset)."""
    shard = interlock.open_dataset(job.dataset_uri).shards(3)[1]
    with pytest.raises(DatasetError):
        _run(component, job, str(tmp_path / "out.parquet"), dataset=shard)
    assert list(tmp_path.iterdir()) == []


@requirement("BAT-016")
@capability("in_process")
def test_a_shard_object_is_read_as_given(component: Executor, job: Job, tmp_path: Path) -> None:
    """An in-process executor reads the dataset object it is given: a shard gives its rows."""
    shard = interlock.open_dataset(job.dataset_uri).shards(3)[1]
    output = str(tmp_path / "out.parquet")
    _run(component, job, output, dataset=shard, keep_columns=["id"])
    assert interlock.open_dataset(output).to_table().column("id").to_pylist() == (
        shard.to_table(columns=["id"]).column("id").to_pylist())


@requirement("BAT-024", "BAT-054")
def test_a_failing_job_leaves_no_staging_behind(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """A job that fails on its last rows leaves no output and no hidden staging place."""
    broken = _broken(tmp_path, _ROWS - 100)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(SignatureMismatch):
        _run(component, job, str(out_dir / "scores.parquet"), dataset=broken)
    assert list(out_dir.iterdir()) == [], f"the failed job left {_leftovers(out_dir)}"


@requirement("BAT-044", "BAT-051", "BAT-054", "BAT-053", "BAT-055")
@capability("resume")
def test_a_failing_resumable_job_keeps_its_completed_shards(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """resume=True: a failed job keeps its completed parts (hidden, beside the output); the
    same job without resume discards them; a success removes the staging place."""
    broken = _broken(tmp_path, _ROWS - 100)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "scores.parquet"
    with pytest.raises(SignatureMismatch):
        _run(component, job, str(output), dataset=broken, resume=True)
    assert not output.exists(), "a failed job left an output"
    with checking("BAT-044"):
        assert [p.name for p in out_dir.iterdir()] == [p.name for p in _staging(output)], (
            f"only a hidden staging place may be left, found {_leftovers(out_dir)}")
    with checking("BAT-051"):
        records = sorted(_staging(output)[0].glob("done-*.json"))
        assert records, "no shard completion was recorded"
        for record in records:
            assert {"index", "rows", "batches"} <= set(json.loads(record.read_text()))
    with checking("BAT-053"), pytest.raises(SignatureMismatch):
        _run(component, job, str(output), dataset=broken)
    assert list(out_dir.iterdir()) == [], f"resume=False left {_leftovers(out_dir)}"
    _run(component, job, str(output), resume=True)
    with checking("BAT-055"):
        assert [p.name for p in out_dir.iterdir()] == ["scores.parquet"], _leftovers(out_dir)


_DRIVER = """
import json, sys
import interlock
args = json.loads(sys.argv[1])
interlock.predict_dataset(args.pop("dataset"), args.pop("ref"), args.pop("output"), **args)
"""


def _kill_after_shards(arguments: dict[str, Any], output: Path, shards: int) -> int:
    """Run the job in a driver process and SIGKILL it once ``shards`` shards are recorded;
    returns how many were."""
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, json.dumps(arguments)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            if sum(len(list(d.glob("done-*.json"))) for d in _staging(output)) >= shards:
                break
            time.sleep(0.02)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    time.sleep(1.0)  # what the engine had in flight for the dead driver finishes or stops
    return sum(len(list(d.glob("done-*.json"))) for d in _staging(output))


@requirement("BAT-050", "BAT-052")
@capability("resume")
def test_a_killed_job_resumes_and_writes_what_an_uninterrupted_run_writes(
    component: Executor, job: Job, tmp_path: Path
) -> None:
    """The job's driver is SIGKILLed after two shards; rerun with resume=True, it skips the
    completed shards and writes the rows an uninterrupted run writes, in the same order."""
    uninterrupted = str(tmp_path / "uninterrupted.parquet")
    _run(component, job, uninterrupted, keep_columns=["id"], batch_size=1)
    output = tmp_path / "out.parquet"
    arguments = {"dataset": job.dataset_uri, "ref": job.ref, "output": str(output),
                 "store": job.store, "executor": component.name, "runtime": job.runtime,
                 "keep_columns": ["id"], "batch_size": 1, "resume": True}
    done = _kill_after_shards(arguments, output, 2)
    assert not output.exists(), "the killed job finished before it could be killed"
    assert done >= 2, f"{done} shards were recorded before the driver was killed"
    summary = _run(component, job, str(output), keep_columns=["id"], batch_size=1, resume=True)
    assert summary.get("shards_skipped", 0) >= 2, f"no shard was skipped: {summary}"
    written = interlock.open_dataset(str(output)).to_table().replace_schema_metadata(None)
    reference = interlock.open_dataset(uninterrupted).to_table().replace_schema_metadata(None)
    ordered = "ordered" in component.capabilities
    assert (written if ordered else written.sort_by("id")).equals(
        reference if ordered else reference.sort_by("id")), "the resumed output differs"
    assert _staging(output) == [], "the staging place outlived the successful run"
