"""Executor sessions (spec: batch.md BAT-047): ``interlock.executor_session`` checks the options
before it starts anything, jobs run inside the block under the options it yields give the rows
``Predictor.predict`` gives, and every process the session started is gone once the block ends,
also when it ends with an exception.

Processes are observed through ``/proc`` (the descendants of this process), so that part of
the check runs on Linux; an executor that starts no engine starts no process and passes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import interlock
from interlock import Executor, InterlockError

from interlock_conformance.attribution import checking
from interlock_conformance.cases.executor import Job, _expected, job  # noqa: F401
from interlock_conformance.markers import component_kind, requirement

pytestmark = component_kind("executor")

_PROC = Path("/proc")
_HELPERS = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def _descendants() -> set[int]:
    """The processes below this one (empty where ``/proc`` is not there)."""
    if not (_PROC / "self" / "stat").is_file():
        return set()
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid for pid in found if not _interpreter_helper(pid)}


def _interpreter_helper(pid: int) -> bool:
    """multiprocessing's resource tracker and fork server serve the interpreter until it
    exits, whoever started them first: not an engine's."""
    try:
        command = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return any(helper in command for helper in _HELPERS)


def _gone(started: set[int], seconds: float = 10.0) -> set[int]:
    """Which of ``started`` still run after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (alive := started & _descendants()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@requirement("BAT-047")
def test_a_session_runs_jobs_and_stops_what_it_started(
    component: Executor, job: Job, tmp_path: Path,
) -> None:
    """Unknown options are refused before anything starts; two jobs inside the block give
    ``predict``'s rows; what the session started is gone after the block, normal or not."""
    before = _descendants()
    with pytest.raises(InterlockError):
        with interlock.executor_session(component.name, {"x-conformance-unknown": 1}):
            pass
    assert not _gone(_descendants() - before, 10), (
        f"executor_session({component.name!r}, {{'x-conformance-unknown': 1}}) left processes "
        "running: BAT-047 checks the options (BAT-007) before it starts anything")
    expected = _expected(job)
    started: set[int] = set()
    with interlock.executor_session(component.name) as options:
        assert isinstance(options, dict), f"the session yielded {options!r}, not a dict"
        started |= _descendants() - before
        for run in ("first", "second"):
            out = str(tmp_path / f"{run}.parquet")
            interlock.predict_dataset(job.dataset_uri, job.ref, out, store=job.store,
                                      runtime=job.runtime, executor=component.name,
                                      executor_options=options, keep_columns=["id"])
            got = pq.read_table(out).sort_by("id")
            with checking("BAT-020"):  # wrong rows are the job's fault, not the session's
                for name in expected.schema.names:
                    assert got.column(name).combine_chunks().equals(expected.column(name)), (
                        f"the {run} job in a session of {component.name!r} wrote column "
                        f"{name} unlike Predictor.predict (BAT-020)")
        started |= _descendants() - before
    alive = _gone(started)
    assert not alive, (
        f"processes {sorted(alive)} started during a session of {component.name!r} still run "
        "after the block ended (BAT-047: the engine is stopped when the block ends)")
    with pytest.raises(RuntimeError, match="conformance"):
        with interlock.executor_session(component.name):
            started = _descendants() - before
            raise RuntimeError("conformance: the block fails")
    alive = _gone(started | (_descendants() - before))
    assert not alive, (
        f"processes {sorted(alive)} of a session of {component.name!r} still run after its "
        "block raised (BAT-047: stopped also when the block ends with an exception)")
