"""Savers killed with SIGKILL (artifact.md ART-079): a real child process is killed while
its files sit in the system temp folder and in the store's ``.staging/``; the next save
removes both, and never what a saver that is still running uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from interlock_conformance import requirement
import onnx
from onnx import TensorProto, helper, numpy_helper

import interlock

#: Saves ``name:1`` with a 2 MB extra file into the store ``root``, and stops once every file is
#: staged (at the first directory fsync, just before the rename that publishes), saying
#: ``staged``, until the file ``go`` exists.
_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    import interlock
    from interlock_fsstore import store as fsstore

    root, name, go = sys.argv[1:4]
    real_fsync_dir = fsstore._fsync_dir
    paused = []

    def fsync_dir(path):
        if not paused:
            paused.append(path)
            print("staged", flush=True)
            while not os.path.exists(go):
                time.sleep(0.01)
        real_fsync_dir(path)

    fsstore._fsync_dir = fsync_dir
    weight = numpy_helper.from_array(np.full(3, 2.0, np.float32), "scale")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["y"])], "mul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    interlock.save_artifact(model, root, name=name, version="1",
                            extra_files={"blob.bin": os.urandom(2 * 1024 * 1024)})
    print("done", flush=True)
    """
)


def _model() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.full(3, 2.0, np.float32), "scale")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["y"])], "mul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system temp folder of this test's own, for this process and its children."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setenv("INTERLOCK_CACHE_DIR", str(tmp_path / "cache"))
    return folder


class Saver:
    def __init__(self, root: Path, name: str, tmp_path: Path) -> None:
        self.go = tmp_path / f"go-{time.monotonic_ns()}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(root), name, str(self.go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "staged":
            self.process.kill()
            raise AssertionError(f"child said {line!r}: {self.process.communicate()[1]}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def savers() -> Iterator[list[Saver]]:
    started: list[Saver] = []
    yield started
    for saver in started:
        saver.close()


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@requirement("ART-079", "ART-072")
def test_the_next_save_removes_what_a_killed_saver_left(
    tmp_path: Path, temp: Path, savers: list[Saver]
) -> None:
    """ART-079: the killed saver's staged files (2 MB in each place) are removed by the next
    save; its version never appears."""
    root = tmp_path / "store"
    savers.append(saver := Saver(root, "killed", tmp_path))
    os.kill(saver.process.pid, signal.SIGKILL)
    saver.process.wait(timeout=30)
    (left_temp,) = [p for p in temp.iterdir() if p.is_dir()]
    assert left_temp.name.startswith("interlock-save-") and _size(left_temp) > 2_000_000
    assert (temp / (left_temp.name + ".owner")).is_file()
    (left_store,) = [p for p in (root / ".staging").iterdir() if p.is_dir()]
    assert _size(left_store) > 2_000_000
    store = interlock.open_store(str(root))
    assert store.names() == []

    interlock.save_artifact(_model(), str(root), name="next", version="1")
    assert os.listdir(temp) == []
    assert os.listdir(root / ".staging") == []
    assert store.names() == ["next"]


@requirement("ART-079")
def test_a_running_savers_files_are_never_removed(
    tmp_path: Path, temp: Path, savers: list[Saver]
) -> None:
    """ART-079: saves and remove_stale_staging while another process is saving leave its
    files alone, and its save completes."""
    root = tmp_path / "store"
    savers.append(saver := Saver(root, "slow", tmp_path))
    before = (sorted(os.listdir(temp)), sorted(os.listdir(root / ".staging")))
    interlock.save_artifact(_model(), str(root), name="quick", version="1")
    store = interlock.open_store(str(root))
    assert store.remove_stale_staging(older_than_s=-1) == 0  # type: ignore[attr-defined]
    assert (sorted(os.listdir(temp)), sorted(os.listdir(root / ".staging"))) == before
    saver.go.touch()
    out, err = saver.process.communicate(timeout=60)
    assert saver.process.returncode == 0 and out.strip() == "done", err
    assert store.names() == ["quick", "slow"]
    assert os.listdir(temp) == [] and os.listdir(root / ".staging") == []
    assert interlock.load_artifact("slow:1", store=str(root)).manifest.version == "1"


@requirement("ART-079")
def test_staging_without_an_owner_record_is_left_to_its_age(tmp_path: Path) -> None:
    """ART-079: a staging directory an older interlock left (no record) is removed by
    remove_stale_staging only once it is older than asked, never by a save."""
    root = tmp_path / "store"
    legacy = root / ".staging" / ("0" * 32)
    legacy.mkdir(parents=True)
    (legacy / "model.onnx").write_bytes(b"half")
    interlock.save_artifact(_model(), str(root), name="m", version="1")
    assert os.listdir(root / ".staging") == [legacy.name]
    store = interlock.open_store(str(root))
    assert store.remove_stale_staging() == 0  # type: ignore[attr-defined]
    assert store.remove_stale_staging(older_than_s=-1) == 1  # type: ignore[attr-defined]
    assert os.listdir(root / ".staging") == []
