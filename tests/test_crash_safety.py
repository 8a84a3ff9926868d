"""Writers killed with SIGKILL (dataset.md DS-058, DS-063..DS-065): real child processes are
killed mid-write and mid-overwrite, and the next open or write of the URI finishes their work
without ever touching what a live writer still uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from interlock_conformance import requirement

import interlock

TABLE = pa.table({"x": list(range(100))})

#: A child that writes a dataset and stops where it is told, announcing it on stdout:
#: ``batches`` after 20 batches of the input, ``aside`` once an overwrite has moved the old
#: dataset aside (the two-move path forced), ``exchanged`` once it exchanged them in one step.
#: It then waits until the file ``go`` exists (or forever), so it can be killed right there.
_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import pyarrow as pa
    import interlock
    from interlock.datasets import _publish

    uri, mode, stop, go = sys.argv[1:5]

    def pause(where):
        print(where, flush=True)
        while not os.path.exists(go):
            time.sleep(0.01)

    if stop == "aside":
        _publish._renameat2 = lambda source, target, flags: False
        real_move = _publish._move
        def move(fs, source, target, *, replace=False):
            real_move(fs, source, target, replace=replace)
            if target.endswith("/" + _publish.REPLACED):
                pause("aside")
        _publish._move = move
    elif stop == "exchanged":
        real_rename = _publish._renameat2
        def rename(source, target, flags):
            done = real_rename(source, target, flags)
            if flags == _publish._RENAME_EXCHANGE and done:
                pause("exchanged")
            return done
        _publish._renameat2 = rename

    schema = pa.schema([("x", pa.int64())])
    def batches():
        for i in range(40):
            if i == 20 and stop == "batches":
                pause("batches")
            yield pa.record_batch({"x": pa.array(range(i * 1000, (i + 1) * 1000))}, schema=schema)

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    interlock.write_dataset(reader, uri, format="parquet", mode=mode)
    print("done", flush=True)
    """
)


class Child:
    """A writer in its own process, stopped at ``stop`` until released or killed."""

    def __init__(self, uri: Path, mode: str, stop: str, tmp_path: Path) -> None:
        self.go = tmp_path / f"go-{time.monotonic_ns()}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(uri), mode, stop, str(self.go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "INTERLOCK_PLUGINS": "interlock_formats"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != stop:
            self.process.kill()
            raise AssertionError(f"child said {line!r}: {self.process.communicate()[1]}")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        assert self.process.returncode == -signal.SIGKILL

    def release(self) -> str:
        self.go.touch()
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return out

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.close()


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("go-"))


def _staging(folder: Path, target: str) -> list[str]:
    return [n for n in _entries(folder) if n.startswith(f".{target}.interlock-staging-")]


@requirement("DS-058", "DS-064")
def test_the_next_write_removes_what_a_killed_writer_left(
    tmp_path: Path, children: list[Child]
) -> None:
    """DS-058, DS-064: staging folder and owner record of a SIGKILLed writer are removed by
    the next write of the same URI, and only of that URI; the dataset stays consistent."""
    uri = tmp_path / "out"
    other = tmp_path / "other"
    for target in (uri, other):
        children.append(child := Child(target, "error", "batches", tmp_path))
        child.kill()
    left = _staging(tmp_path, "out")
    assert len(left) == 2 and left[0] + ".owner" == left[1]
    assert (tmp_path / left[0] / "dataset").is_dir()
    assert _entries(tmp_path) == sorted([*left, *_staging(tmp_path, "other")])  # nothing at URIs
    with pytest.raises(interlock.DatasetError, match="not found"):
        interlock.open_dataset(uri)

    interlock.write_dataset(TABLE, uri, format="parquet")
    assert _staging(tmp_path, "out") == []
    assert len(_staging(tmp_path, "other")) == 2  # another URI's leftovers are its own
    assert interlock.open_dataset(uri).to_table().equals(TABLE)


@requirement("DS-064")
def test_a_live_writers_staging_folder_is_never_removed(
    tmp_path: Path, children: list[Child]
) -> None:
    """DS-064: a write of the same URI while another process is writing it leaves that
    process's staging folder alone, and the other write completes."""
    uri = tmp_path / "out"
    children.append(child := Child(uri, "overwrite", "batches", tmp_path))
    live = _staging(tmp_path, "out")
    assert len(live) == 2
    interlock.write_dataset(TABLE, uri, format="parquet", mode="overwrite")
    assert _staging(tmp_path, "out") == live
    assert interlock.open_dataset(uri).to_table().equals(TABLE)
    assert child.release().strip() == "done"
    assert _entries(tmp_path) == ["out"]
    assert interlock.open_dataset(uri).count_rows() == 40_000


@requirement("DS-063", "DS-058")
def test_an_overwrite_is_one_exchange(tmp_path: Path, children: list[Child]) -> None:
    """DS-063: killed right after the exchange, the URI holds the complete new dataset, the
    old one is in the dead writer's staging folder, and the next write removes it."""
    uri = tmp_path / "out"
    interlock.write_dataset(TABLE, uri, format="parquet")
    children.append(child := Child(uri, "overwrite", "exchanged", tmp_path))
    child.kill()
    assert interlock.open_dataset(uri).count_rows() == 40_000
    (staging,) = [n for n in _staging(tmp_path, "out") if not n.endswith(".owner")]
    assert interlock.open_dataset(tmp_path / staging / "dataset").to_table().equals(TABLE)
    interlock.write_dataset(TABLE, uri, format="parquet", mode="overwrite")
    assert _entries(tmp_path) == ["out"]


@requirement("DS-065", "DS-058")
def test_an_interrupted_two_move_overwrite_is_put_back(
    tmp_path: Path, children: list[Child]
) -> None:
    """DS-065: where the old dataset had to be moved aside first, a writer killed between
    the two moves leaves the URI empty only until the next open, which moves it back; while
    the writer lives, open_dataset does not take it."""
    uri = tmp_path / "out"
    old = interlock.write_dataset(TABLE, uri, format="parquet").fingerprint()
    children.append(child := Child(uri, "overwrite", "aside", tmp_path))
    with pytest.raises(interlock.DatasetError, match="not found"):
        interlock.open_dataset(uri)  # a live writer between its moves: not ours to undo
    child.kill()
    assert not uri.exists()
    assert interlock.open_dataset(uri).fingerprint() == old
    assert _entries(tmp_path) == ["out"]


@requirement("DS-065")
def test_the_next_write_puts_back_an_interrupted_overwrite(
    tmp_path: Path, children: list[Child]
) -> None:
    """DS-065: a write of the URI restores the old dataset before it decides anything, so
    mode='error' still refuses it."""
    uri = tmp_path / "out"
    interlock.write_dataset(TABLE, uri, format="parquet")
    children.append(child := Child(uri, "overwrite", "aside", tmp_path))
    child.kill()
    with pytest.raises(interlock.DatasetError, match="already exists"):
        interlock.write_dataset(TABLE, uri, format="parquet")
    assert _entries(tmp_path) == ["out"]
    assert interlock.open_dataset(uri).to_table().equals(TABLE)


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-moves"])
@pytest.mark.parametrize("old_target", ["file", "directory"])
@requirement("DS-052", "DS-056", "DS-063")
def test_overwrites_leave_only_the_new_dataset(
    old_target: str, exchange: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DS-052, DS-063: a directory replaces a file or a directory, by one exchange or (where
    the exchange is refused) two moves, and nothing is left beside it."""
    from interlock.datasets import _publish

    uri = tmp_path / "out"
    if old_target == "file":
        uri.write_bytes(b"an old single file")
    else:
        interlock.write_dataset(TABLE, uri, format="parquet")
    calls: list[int] = []
    real = _publish._renameat2

    def renameat2(source: str, target: str, flags: int) -> bool:
        calls.append(flags)
        return real(source, target, flags) if exchange else False

    monkeypatch.setattr(_publish, "_renameat2", renameat2)
    new = pa.table({"x": [1, 2, 3]})
    interlock.write_dataset(new, uri, format="parquet", mode="overwrite")
    assert interlock.open_dataset(uri).to_table().equals(new)
    assert _entries(tmp_path) == ["out"]
    assert _publish._RENAME_EXCHANGE in calls
