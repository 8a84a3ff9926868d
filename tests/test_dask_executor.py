"""The ``dask`` executor on a real dask.distributed cluster: a scheduler and two workers started
as subprocesses with the ``dask`` CLI on 127.0.0.1 (once for the module) and used through
``address=``, plus one job on a LocalCluster of the executor's own. The same answers as
``local``, user mistakes raised before any work, a SIGKILLed worker, a failing job, and a job
resumed after its driver was SIGKILLed (spec: batch.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client

from batch_jobs import ROWS, make_setup, make_table, predict, rows, staging_dirs

import interlock
from interlock_conformance import requirement

DASK = str(Path(sys.executable).parent / "dask")


@dataclass
class Cluster:
    address: str
    client: Client

    def worker_pids(self) -> dict[str, int]:
        """Each live worker's address and pid (asked of the workers themselves)."""
        return dict(self.client.run(os.getpid))

    def worker_addresses(self) -> set[str]:
        """The workers the scheduler knows (asking it, so a dead worker holds nothing up)."""
        return set(self.client.scheduler_info()["workers"])


def _scheduler_address(path: Path, seconds: float) -> str:
    """The address in the scheduler file, once the scheduler has finished writing it (the
    file appears empty first)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return str(json.loads(path.read_text())["address"])
        except (FileNotFoundError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} holds no scheduler address") from None
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("dask")
    scheduler_file = root / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        address = _scheduler_address(scheduler_file, 60)
        for _ in range(2):
            processes.append(subprocess.Popen(
                [DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-dashboard"], **quiet))
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            yield Cluster(address, client)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An exported classifier in a store and a Parquet dataset of 12 row groups."""
    return make_setup(tmp_path_factory.mktemp("data"))


def on(cluster: Cluster, **options: Any) -> dict[str, Any]:
    return {"executor": "dask", "executor_options": {"address": cluster.address, **options}}


@pytest.fixture(scope="module")
def expected(setup: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """What ``local`` writes, with kept columns and a row index."""
    output = tmp_path_factory.mktemp("local") / "out.parquet"
    predict(setup, output, keep_columns=["id", "note"], row_index="row")
    return rows(output)


@requirement("BAT-020", "BAT-025", "BAT-031", "BAT-042", "BAT-055")
def test_same_rows_and_values_as_local_and_one_load_per_worker(
    cluster: Cluster, setup: dict[str, str], expected: pa.Table, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"
    summary = predict(setup, output, keep_columns=["id", "note"], row_index="row",
                      **on(cluster))
    assert rows(output).equals(expected)
    assert summary["rows"] == ROWS and summary["shards"] == 6 and summary["executor"] == "dask"
    # Six shards on two single-threaded worker processes: the model is loaded once per
    # process that ran a shard, never once per shard.
    assert 1 <= summary["worker_processes"] <= 2
    assert summary["predictor_loads"] == summary["worker_processes"], summary
    # A single-threaded worker runs one task at a time: one onnxruntime thread per task.
    assert summary["runtime_options"] == {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
    lineage = json.loads(pq.read_schema(output).metadata[b"interlock.lineage"])
    assert lineage["executor"] == "dask"
    assert staging_dirs(output) == []
    # A second job on the same workers loads nothing: the predictor is cached per process.
    again = predict(setup, tmp_path / "again.parquet", **on(cluster))
    assert again["predictor_loads"] == 0, again
    mine = predict(setup, tmp_path / "mine.parquet", runtime_options={"intra_op_num_threads": 2},
                   **on(cluster, shards=2))
    assert mine["runtime_options"]["intra_op_num_threads"] == 2  # the user's choice wins


@requirement("BAT-020", "BAT-042")
def test_a_local_cluster_for_the_job_gives_the_same_output(
    setup: dict[str, str], expected: pa.Table, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"
    summary = predict(setup, output, keep_columns=["id", "note"], row_index="row",
                      executor="dask",
                      executor_options={"n_workers": 1, "threads_per_worker": 2, "shards": 3})
    assert rows(output).equals(expected)
    assert summary["shards"] == 3 and summary["predictor_loads"] == 1, summary


MISTAKES: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("unknown runtime", {"runtime": "onnxrt"}, interlock.PluginError),
    ("bad runtime option", {"runtime_options": {"threads": 2}}, interlock.InterlockError),
    ("missing kept column", {"keep_columns": ["nope"]}, interlock.DatasetError),
    ("bad device", {"device": "tpu"}, interlock.InterlockError),
    ("row index clash", {"row_index": "label"}, interlock.DatasetError),
    ("bad mode", {"mode": "replace"}, interlock.DatasetError),
]


@requirement("BAT-007")
@pytest.mark.parametrize(("mistake", "kwargs", "error"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_user_mistakes_raise_what_local_raises_before_any_work(
    setup: dict[str, str], tmp_path: Path, mistake: str, kwargs: dict[str, Any],
    error: type[Exception],
) -> None:
    # No scheduler listens at this address: reaching it would be an error of another kind.
    nowhere = {"executor": "dask", "executor_options": {"address": "tcp://127.0.0.1:9"}}
    with pytest.raises(error) as on_local:
        predict(setup, tmp_path / "out.parquet", **kwargs)
    with pytest.raises(error) as on_dask:
        predict(setup, tmp_path / "out.parquet", **kwargs, **nowhere)
    assert type(on_dask.value) is type(on_local.value)
    assert str(on_dask.value) == str(on_local.value)
    assert list(tmp_path.iterdir()) == []


@requirement("BAT-004", "BAT-007")
def test_a_missing_column_is_the_signature_mismatch_of_local(
    setup: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other.parquet"
    pq.write_table(make_table(100).rename_columns(["id", "g0", "f1", "f2", "f3", "note"]), other)
    errors = []
    for extra in ({}, {"executor": "dask", "executor_options": {"address": "tcp://127.0.0.1:9"}}):
        with pytest.raises(interlock.SignatureMismatch) as caught:
            predict(setup, tmp_path / "out.parquet", dataset=str(other), **extra)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "f0" in errors[0]


@requirement("BAT-047")
def test_a_session_keeps_one_local_cluster_for_several_jobs(
    setup: dict[str, str], expected: pa.Table, tmp_path: Path
) -> None:
    """executor_session('dask'): the jobs inside run on the LocalCluster it started (its
    address in the options), which is gone when the block ends; bad options are refused
    before anything starts."""
    from distributed import Client

    with interlock.executor_session("dask", {"n_workers": 1, "shards": 2}) as options:
        assert options["address"].startswith("tcp://127.0.0.1:") and "n_workers" not in options
        with Client(options["address"], timeout=30, set_as_default=False) as client:
            seen = set(client.scheduler_info()["workers"])
        for name in ("a", "b"):
            summary = predict(setup, tmp_path / f"{name}.parquet", keep_columns=["id", "note"],
                              row_index="row", executor="dask", executor_options=options)
            assert summary["worker_processes"] == 1 and summary["shards"] == 2, summary
            assert rows(tmp_path / f"{name}.parquet").equals(expected)
        with Client(options["address"], timeout=30, set_as_default=False) as client:
            assert set(client.scheduler_info()["workers"]) == seen  # the same worker
    with pytest.raises(OSError):
        with Client(options["address"], timeout=2, set_as_default=False):
            pass
    with pytest.raises(interlock.InterlockError, match="adress"):
        with interlock.executor_session("dask", {"adress": "tcp://x:1"}):
            pass


@requirement("BAT-007")
@pytest.mark.parametrize("options", [{"adress": "tcp://x:1"}, {"shards": 0},
                                     {"address": "tcp://x:1", "n_workers": 2}])
def test_bad_executor_options_name_the_option(
    setup: dict[str, str], tmp_path: Path, options: dict[str, Any]
) -> None:
    with pytest.raises(interlock.InterlockError) as caught:
        predict(setup, tmp_path / "out.parquet", executor="dask", executor_options=options)
    message = str(caught.value)
    assert "executor 'dask'" in message and next(iter(options)) in message, message
    assert not (tmp_path / "out.parquet").exists()


@requirement("BAT-016")
def test_a_dataset_object_that_does_not_reopen_is_refused(
    setup: dict[str, str], tmp_path: Path
) -> None:
    shard = interlock.open_dataset(setup["data"]).shards(3)[1]
    with pytest.raises(interlock.DatasetError, match="reopen|open_dataset"):
        predict(setup, tmp_path / "out.parquet", dataset=shard, executor="dask",
                executor_options={"address": "tcp://127.0.0.1:9"})


@requirement("BAT-024", "BAT-054")
def test_a_failing_job_leaves_nothing_and_an_existing_output_untouched(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    table = make_table(ROWS, seed=3)
    f2 = table.column("f2").to_pylist()
    f2[5400] = None  # in the last shard
    broken = tmp_path / "broken.parquet"
    pq.write_table(table.set_column(3, "f2", pa.array(f2, pa.float64())), broken,
                   row_group_size=500)
    output = tmp_path / "out.parquet"
    with pytest.raises(interlock.SignatureMismatch, match="f2"):
        predict(setup, output, dataset=str(broken), **on(cluster))
    assert not output.exists() and staging_dirs(output) == []
    predict(setup, output, **on(cluster))
    before = output.read_bytes()
    with pytest.raises(interlock.SignatureMismatch):
        predict(setup, output, dataset=str(broken), mode="overwrite", **on(cluster))
    assert output.read_bytes() == before and staging_dirs(output) == []


def _slow_job(setup: dict[str, str], tmp_path: Path) -> tuple[str, pa.Table]:
    """A dataset of 40 row groups predicted one row at a time: long enough to kill something
    in the middle; and what ``local`` writes for it."""
    data = tmp_path / "slow.parquet"
    pq.write_table(make_table(8000, seed=4), data, row_group_size=200)
    reference = tmp_path / "reference.parquet"
    predict(setup, reference, dataset=str(data), keep_columns=["id"], batch_size=1)
    return str(data), rows(reference)


def _wait_for_done_shards(output: Path, count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sum(len(list(d.glob("done-*.json"))) for d in staging_dirs(output)) >= count:
            return
        time.sleep(0.02)
    raise TimeoutError(f"fewer than {count} shards of {output} were done in {seconds} s")


@requirement("BAT-020", "BAT-043")
def test_a_worker_killed_mid_job_is_replaced_and_the_output_is_complete(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    data, reference = _slow_job(setup, tmp_path)
    output = tmp_path / "out.parquet"
    address, victim = sorted(cluster.worker_pids().items())[0]
    killed_at: list[float] = []

    def kill_one() -> None:
        _wait_for_done_shards(output, 2)
        os.kill(victim, signal.SIGKILL)
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill_one)
    killer.start()
    summary = predict(setup, output, dataset=data, keep_columns=["id"], batch_size=1,
                      **on(cluster))
    finished_at = time.monotonic()
    killer.join()
    assert killed_at and killed_at[0] < finished_at, "the worker was not killed mid-job"
    assert rows(output).equals(reference)
    assert summary["rows"] == 8000 and summary["shards"] == 40
    # The nanny starts a new worker process; later tests get two workers again.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = cluster.worker_addresses()
        if len(workers) == 2 and address not in workers:
            break
        time.sleep(0.1)
    assert victim not in cluster.worker_pids().values()


_DRIVER = """
import json, sys
import interlock
args = json.loads(sys.argv[1])
interlock.predict_dataset(args.pop("data"), args.pop("ref"), args.pop("output"), **args)
"""


@requirement("BAT-050", "BAT-051", "BAT-052")
def test_a_job_whose_driver_was_killed_resumes_where_it_stopped(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    data, reference = _slow_job(setup, tmp_path)
    output = tmp_path / "out.parquet"
    job = {"data": data, "ref": setup["ref"], "output": str(output), "store": setup["store"],
           "keep_columns": ["id"], "batch_size": 1, "resume": True, **on(cluster)}
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, json.dumps(job)])
    try:
        _wait_for_done_shards(output, 3)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert not output.exists()
    # The tasks the dead driver left running finish or are dropped before the rerun.
    deadline = time.monotonic() + 30
    while any(cluster.client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    done = len(list(staging_dirs(output)[0].glob("done-*.json")))
    summary = predict(setup, output, dataset=data, keep_columns=["id"], batch_size=1,
                      resume=True, **on(cluster))
    assert summary["shards_skipped"] >= min(done, 3) and summary["shards_skipped"] < 40
    assert summary["rows"] == 8000
    assert rows(output).equals(reference)
    assert staging_dirs(output) == []


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from interlock.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@requirement("BAT-007", "BAT-052")
def test_the_cli_runs_a_job_on_dask_and_resumes_it(
    cluster: Cluster, setup: dict[str, str], expected: pa.Table, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "out.parquet"
    arguments = ["predict", setup["ref"], setup["data"], str(output), "--store", setup["store"],
                 "--executor", "dask", "--executor-option", f"address={cluster.address}",
                 "--executor-option", "shards=4", "--batch-size", "250", "--keep", "id,note",
                 "--row-index", "row", "--resume", "--json"]
    code, out, err = run_cli(arguments, capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["executor"] == "dask" and summary["shards"] == 4
    assert rows(output).equals(expected)
    code, out, err = run_cli([*arguments[:6], "--executor", "dask", "--executor-option",
                              "n_workers=0"], capsys)
    assert code == 1 and "n_workers" in err and "Traceback" not in err, err


@requirement("TXT-060")
def test_a_text_job_gives_the_rows_of_local(cluster: Cluster, tmp_path: Path) -> None:
    """Prompts to completions and texts to embeddings on the dask workers (text.md)."""
    from test_text_batch import check_text_jobs_on

    check_text_jobs_on(on(cluster), tmp_path)
