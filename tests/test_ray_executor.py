"""The ``ray`` executor on real Ray: a two-CPU cluster started once for the module with
``ray start --head`` (a subprocess on 127.0.0.1, killed with every process it started at the
end) and used through ``address=``, plus one job on a two-CPU local Ray that the executor
starts with ``ray.init`` and stops. The same answers as ``local``, one model load per
predictor actor, user mistakes raised as ``local`` raises them before any work, a pool that
would hold every CPU refused, a failing job, a SIGKILLed actor, and a job resumed (through
``interlock predict --executor ray --resume``) after its driver was SIGKILLed (spec:
batch.md)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_jobs import ROWS, make_setup, make_table, predict, rows, staging_dirs

import interlock
from interlock_conformance import requirement

BIN = Path(sys.executable).parent
#: Two actors of half a CPU each leave one of the cluster's two CPUs to Ray Data.
POOL = {"concurrency": 2, "num_cpus": 0.5}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Cluster:
    address: str
    head: subprocess.Popen[bytes]

    def processes(self) -> list[psutil.Process]:
        return psutil.Process(self.head.pid).children(recursive=True)

    def actor_pids(self) -> list[int]:
        return [p.pid for p in self.processes() if "ShardRunner" in " ".join(_cmdline(p))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _local_ray_processes() -> set[int]:
    """The Ray processes (GCS servers, raylets) that this process started."""
    return {p.pid for p in psutil.Process().children(recursive=True)
            if any(n in " ".join(_cmdline(p)) for n in ("gcs_server", "raylet/raylet"))}


def _wait_until(condition: Callable[[], bool], failure: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


@pytest.fixture(scope="module")
def token_auth() -> Iterator[None]:
    """Ray's token authentication, as Ray sets it up for a user: the token in
    ``~/.ray/auth_token`` (made once by ``ray get-auth-token --generate``, as any
    ``ray.init`` does) and ``RAY_AUTH_MODE=token`` for the drivers that connect by address."""
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "token")
        yield


@pytest.fixture(scope="module")
def cluster(token_auth: None) -> Iterator[Cluster]:
    """A two-CPU Ray head with its own temporary directory (so that no other ``ray.init``
    on this machine finds it), and nothing of it left running afterwards."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ilray-")
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", temp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cluster = Cluster(f"127.0.0.1:{port}", head)
    try:
        deadline = time.monotonic() + 90
        while not any("raylet/raylet" in " ".join(_cmdline(p)) for p in cluster.processes()):
            assert head.poll() is None and time.monotonic() < deadline, "ray start failed"
            time.sleep(0.2)
        yield cluster
    finally:
        # Everything the head started is in its process group (or below it): kill them all.
        started = cluster.processes()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
        for process in started:
            with contextlib.suppress(psutil.Error):
                process.kill()
        _, alive = psutil.wait_procs(started, timeout=20)
        shutil.rmtree(temp, ignore_errors=True)
        assert alive == [], f"Ray processes left running: {alive}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An exported classifier in a store and a Parquet dataset of 12 row groups."""
    return make_setup(tmp_path_factory.mktemp("data"))


def on(cluster: Cluster, **options: Any) -> dict[str, Any]:
    return {"executor": "ray", "executor_options": {"address": cluster.address, **POOL,
                                                    **options}}


#: No Ray listens here: reaching it would be an error of another kind.
NOWHERE = {"executor": "ray", "executor_options": {"address": "127.0.0.1:9", **POOL}}


@pytest.fixture(scope="module")
def expected(setup: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """What ``local`` writes, with kept columns and a row index."""
    output = tmp_path_factory.mktemp("local") / "out.parquet"
    predict(setup, output, keep_columns=["id", "note"], row_index="row")
    return rows(output)


def test_same_rows_and_values_as_local_and_one_load_per_actor(
    cluster: Cluster, setup: dict[str, str], expected: pa.Table, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"
    summary = predict(setup, output, keep_columns=["id", "note"], row_index="row",
                      **on(cluster))
    assert rows(output).equals(expected)
    assert summary["rows"] == ROWS and summary["shards"] == 6 and summary["executor"] == "ray"
    # Six shards through a pool of two actors: the model is loaded once per actor process
    # that ran a shard, never once per shard.
    assert 1 <= summary["worker_processes"] <= 2
    assert summary["predictor_loads"] == summary["worker_processes"], summary
    # An actor of half a CPU runs onnxruntime on one thread (never fewer than one).
    assert summary["runtime_options"] == {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
    lineage = json.loads(pq.read_schema(output).metadata[b"interlock.lineage"])
    assert lineage["executor"] == "ray"
    assert staging_dirs(output) == []
    _wait_until(lambda: not cluster.actor_pids(), "the job's actors are still running")


def test_a_local_ray_for_the_job_gives_the_same_output_and_is_stopped(
    setup: dict[str, str], expected: pa.Table, tmp_path: Path
) -> None:
    import ray

    before = _local_ray_processes()  # the module's cluster, if it was started already
    output = tmp_path / "out.parquet"
    summary = predict(setup, output, keep_columns=["id", "note"], row_index="row",
                      executor="ray", executor_options={"local_cpus": 2, "shards": 3})
    assert rows(output).equals(expected)
    # The default pool on two CPUs: one actor of one CPU, one CPU left to Ray Data.
    assert summary["shards"] == 3 and summary["predictor_loads"] == 1, summary
    assert summary["runtime_options"]["intra_op_num_threads"] == 1
    assert not ray.is_initialized()
    _wait_until(lambda: _local_ray_processes() <= before, "the job's local Ray still runs")


MISTAKES: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("unknown runtime", {"runtime": "onnxrt"}, interlock.PluginError),
    ("bad runtime option", {"runtime_options": {"threads": 2}}, interlock.InterlockError),
    ("missing kept column", {"keep_columns": ["nope"]}, interlock.DatasetError),
    ("bad device", {"device": "tpu"}, interlock.InterlockError),
    ("row index clash", {"row_index": "label"}, interlock.DatasetError),
    ("bad mode", {"mode": "replace"}, interlock.DatasetError),
]


@pytest.mark.parametrize(("mistake", "kwargs", "error"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_user_mistakes_raise_what_local_raises_before_any_work(
    setup: dict[str, str], tmp_path: Path, mistake: str, kwargs: dict[str, Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error) as on_local:
        predict(setup, tmp_path / "out.parquet", **kwargs)
    with pytest.raises(error) as on_ray:
        predict(setup, tmp_path / "out.parquet", **kwargs, **NOWHERE)
    assert type(on_ray.value) is type(on_local.value)
    assert str(on_ray.value) == str(on_local.value)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_column_is_the_signature_mismatch_of_local(
    setup: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other.parquet"
    pq.write_table(make_table(100).rename_columns(["id", "g0", "f1", "f2", "f3", "note"]), other)
    errors = []
    for extra in ({}, NOWHERE):
        with pytest.raises(interlock.SignatureMismatch) as caught:
            predict(setup, tmp_path / "out.parquet", dataset=str(other), **extra)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "f0" in errors[0]


@pytest.mark.parametrize("options", [{"adress": "127.0.0.1:1"}, {"shards": 0},
                                     {"num_cpus": 0}, {"concurrency": "many"},
                                     {"address": "127.0.0.1:1", "local_cpus": 2}])
def test_bad_executor_options_name_the_option(
    setup: dict[str, str], tmp_path: Path, options: dict[str, Any]
) -> None:
    with pytest.raises(interlock.InterlockError) as caught:
        predict(setup, tmp_path / "out.parquet", executor="ray", executor_options=options)
    message = str(caught.value)
    assert "executor 'ray'" in message and next(iter(options)) in message, message
    assert not (tmp_path / "out.parquet").exists()


def test_a_pool_that_would_hold_every_cpu_is_refused_before_any_work(
    setup: dict[str, str], tmp_path: Path
) -> None:
    # A local Ray of two CPUs is never started for a pool of two one-CPU actors.
    started = time.monotonic()
    with pytest.raises(interlock.InterlockError) as caught:
        predict(setup, tmp_path / "out.parquet", executor="ray",
                executor_options={"local_cpus": 2, "concurrency": 2})
    message = str(caught.value)
    assert "concurrency=2" in message and "num_cpus=1" in message and "at most 1" in message
    assert time.monotonic() - started < 5 and list(tmp_path.iterdir()) == []


def test_a_pool_too_big_for_the_cluster_is_refused_and_nothing_is_written(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(interlock.InterlockError, match="of the cluster's 2 CPUs"):
        predict(setup, tmp_path / "out.parquet", **on(cluster, concurrency=3))
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_object_that_does_not_reopen_is_refused(
    setup: dict[str, str], tmp_path: Path
) -> None:
    shard = interlock.open_dataset(setup["data"]).shards(3)[1]
    with pytest.raises(interlock.DatasetError, match="reopen|open_dataset"):
        predict(setup, tmp_path / "out.parquet", dataset=shard, **NOWHERE)


def test_a_failing_job_raises_what_local_raises_and_leaves_nothing(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    table = make_table(ROWS, seed=3)
    f2 = table.column("f2").to_pylist()
    f2[5400] = None  # in the last shard: found by a worker, not before the job starts
    broken = tmp_path / "broken.parquet"
    pq.write_table(table.set_column(3, "f2", pa.array(f2, pa.float64())), broken,
                   row_group_size=500)
    output = tmp_path / "out.parquet"
    with pytest.raises(interlock.SignatureMismatch) as on_local:
        predict(setup, output, dataset=str(broken))
    with pytest.raises(interlock.SignatureMismatch) as on_ray:
        predict(setup, output, dataset=str(broken), **on(cluster))
    assert type(on_ray.value) is interlock.SignatureMismatch
    assert str(on_ray.value) == str(on_local.value) and "f2" in str(on_ray.value)
    assert not output.exists() and staging_dirs(output) == []
    output.write_bytes(b"an existing output")
    with pytest.raises(interlock.SignatureMismatch):
        predict(setup, output, dataset=str(broken), mode="overwrite", **on(cluster))
    assert output.read_bytes() == b"an existing output" and staging_dirs(output) == []


def _slow_job(setup: dict[str, str], tmp_path: Path) -> tuple[str, pa.Table]:
    """A dataset of 40 row groups predicted one row at a time: long enough to kill something
    in the middle; and what ``local`` writes for it."""
    data = tmp_path / "slow.parquet"
    pq.write_table(make_table(8000, seed=4), data, row_group_size=200)
    reference = tmp_path / "reference.parquet"
    predict(setup, reference, dataset=str(data), keep_columns=["id"], batch_size=1)
    return str(data), rows(reference)


def _done_shards(output: Path) -> int:
    return sum(len(list(d.glob("done-*.json"))) for d in staging_dirs(output))


def _wait_for_done_shards(output: Path, count: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while _done_shards(output) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} shards of {output} were done in {seconds} s")
        time.sleep(0.02)


def test_an_actor_killed_mid_job_is_restarted_and_the_output_is_complete(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    data, reference = _slow_job(setup, tmp_path)
    output = tmp_path / "out.parquet"
    killed: list[int] = []

    def kill_one() -> None:
        _wait_for_done_shards(output, 2)
        victim = cluster.actor_pids()[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    killer = threading.Thread(target=kill_one)
    killer.start()
    summary = predict(setup, output, dataset=data, keep_columns=["id"], batch_size=1,
                      runtime_options={"intra_op_num_threads": 2}, **on(cluster))
    killer.join()
    assert summary["runtime_options"]["intra_op_num_threads"] == 2  # the user's choice wins
    assert killed and killed[0] not in cluster.actor_pids()
    assert rows(output).equals(reference)
    assert summary["rows"] == 8000 and summary["shards"] == 40
    # Ray started a new process for the killed actor, which loaded the model once more: still
    # one load per process that ran shards.
    assert summary["predictor_loads"] == summary["worker_processes"], summary


def test_a_job_whose_driver_was_killed_resumes_where_it_stopped(
    cluster: Cluster, setup: dict[str, str], tmp_path: Path
) -> None:
    data, reference = _slow_job(setup, tmp_path)
    output = tmp_path / "out.parquet"
    command = [str(BIN / "interlock"), "predict", setup["ref"], data, str(output),
               "--store", setup["store"], "--keep", "id", "--batch-size", "1", "--resume",
               "--executor", "ray", "--executor-option", f"address={cluster.address}",
               *[f"--executor-option={key}={value}" for key, value in POOL.items()]]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_done_shards(output, 3)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert not output.exists()
    # Ray kills the actors of a job whose driver died; wait until they are gone.
    _wait_until(lambda: not cluster.actor_pids(), "the dead driver's actors still run")
    done = _done_shards(output)
    summary = predict(setup, output, dataset=data, keep_columns=["id"], batch_size=1,
                      resume=True, **on(cluster))
    assert summary["shards_skipped"] >= min(done, 3) and summary["shards_skipped"] < 40
    assert summary["rows"] == 8000
    assert rows(output).equals(reference)
    assert staging_dirs(output) == []


ROOT = Path(__file__).resolve().parent.parent


def _guide_blocks() -> tuple[str, str]:
    """The example of docs/batch.md's "Running on Ray" section and what it prints."""
    text = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")
    section = text.split("\n## Running on Ray\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    return code, shown


def test_the_ray_example_of_the_batch_page_runs_as_written(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The page's example, run as written in a fresh directory (in this process, to spare an
    interpreter start); RAY_ADDRESS, the documented way to name a cluster, points it at the
    module's cluster instead of a Ray of its own."""
    code, shown = _guide_blocks()
    assert 'executor="ray"' in code
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    capsys.readouterr()
    exec(compile(code, "docs/batch.md (Running on Ray)", "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out == shown


@requirement("TXT-060")
def test_a_text_job_gives_the_rows_of_local(cluster: Cluster, tmp_path: Path) -> None:
    """Prompts to completions and texts to embeddings on the ray workers (text.md)."""
    from test_text_batch import check_text_jobs_on

    check_text_jobs_on(on(cluster), tmp_path)
