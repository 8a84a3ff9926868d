"""The shard kit, driver side: cut a :class:`interlock.BatchJob` into shard tasks, keep their
parts in a staging place keyed by the job's identity, and publish the output in one step
(spec: batch.md BAT-040 to BAT-056).

An executor on a distributed engine does three things with it::

    with ShardPlan.create(job) as plan:               # checks, cuts, stages; nothing run yet
        results = engine.map(run_shard, [t.to_dict() for t in plan.pending])
        return plan.publish(results)                  # the output appears here, whole

Leaving the ``with`` block with an exception removes the staging place, unless the job resumes
(``job.resume``), in which case the completed shards stay for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from interlock.batch._shards import STAGING_FORMAT, ShardTask
from interlock.errors import DatasetError, SpecViolation

if TYPE_CHECKING:
    import pyarrow as pa
    from fsspec import AbstractFileSystem

    from interlock.batch._interfaces import BatchJob
    from interlock.datasets import Dataset

__all__ = ["BATCHES_PER_SHARD", "STAGING_MARK", "ShardPlan", "absolute_uri"]

#: By default a shard holds about this many batches of ``job.batch_size`` rows.
BATCHES_PER_SHARD = 4
#: Marks the hidden name of a job's staging place, next to the output.
STAGING_MARK = ".interlock-job-"
#: Version of the staging layout; part of every job's identity.
_LAYOUT = 1


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative local path made absolute, so that a worker in another working
    directory finds the same file; URLs are returned unchanged."""
    if "://" in uri or "::" in uri or os.path.isabs(uri):
        return uri
    return os.path.abspath(uri)


class ShardPlan:
    """A batch job as shard tasks over a staging place (BAT-040)."""

    def __init__(self, job: BatchJob, shards: list[Dataset], tasks: list[ShardTask],
                 staging: _Staging, done: dict[int, dict[str, Any]]) -> None:
        self.job = job
        #: The shards as dataset objects (for an executor that runs them in this process).
        self.shards = shards
        #: Every shard task, in shard order.
        self.tasks = tasks
        #: What the shards completed by an earlier run of this job wrote (index -> result).
        self.done = done
        self._staging = staging
        self._started = time.perf_counter()

    @property
    def pending(self) -> list[ShardTask]:
        """The tasks still to run: all of them, less those an earlier run completed."""
        return [task for task in self.tasks if task.index not in self.done]

    def progress_bar(self) -> Any:
        """A tqdm bar on stderr counting rows (disabled unless ``job.progress``; BAT-015),
        starting at the rows of the shards already done; ``bar.update(result["rows"])`` it."""
        import sys

        from tqdm import tqdm

        job = self.job
        return tqdm(total=job.dataset.count_rows() if job.progress else None,
                    initial=sum(int(r["rows"]) for r in self.done.values()), unit="rows",
                    unit_scale=True, file=sys.stderr, disable=not job.progress,
                    desc=f"predict {job.artifact.name}:{job.artifact.version}")

    @property
    def staging_uri(self) -> str:
        """Where the parts and completion records live until the output is published."""
        return self._staging.uri

    @classmethod
    def create(cls, job: BatchJob, *, shards: int | None = None, reopen: bool = True,
               runtime_defaults: Mapping[str, Any] | None = None) -> ShardPlan:
        """Check the job, cut the dataset into at most ``shards`` shards (default: about
        :data:`BATCHES_PER_SHARD` batches each) and prepare the staging place.

        ``reopen``: the workers reopen the dataset from its URI (BAT-016), so a dataset object
        that does not reopen as itself is refused. ``runtime_defaults`` are runtime options
        the executor sets unless the user did (a thread count, say). Raises before any work:
        an output that exists under ``mode="error"``, a dataset that does not reopen.
        """
        _check_target(job)
        dataset_uri = absolute_uri(job.dataset.uri)
        if reopen:
            _check_reopens(job.dataset, dataset_uri)
        request = shards if shards is not None else _default_shard_count(job)
        parts = job.dataset.shards(request) if request > 1 else [job.dataset]
        options = {**dict(runtime_defaults or {}), **job.runtime_options}
        staging = _Staging.for_job(job.output_uri, _identity(job, dataset_uri, request, options))
        staging.prepare(keep=job.resume)
        done = staging.completed(len(parts)) if job.resume else {}
        first_rows = _first_rows(parts) if job.row_index is not None else [0] * len(parts)
        metadata = {k.decode(): v.decode() for k, v in job.schema_metadata().items()}
        tasks = [
            ShardTask(
                index=index, shard_request=request, dataset_uri=dataset_uri,
                dataset_format=job.dataset.format_name,
                artifact_uri=absolute_uri(job.artifact.uri),
                artifact_digest=job.artifact.digest, runtime=job.runtime, device=job.device,
                batch_size=job.batch_size, part_uri=staging.part_uri(index),
                done_uri=staging.done_uri(index), read_columns=job.read_columns,
                keep_columns=list(job.keep_columns), runtime_options=options,
                schema_metadata=metadata, row_index=job.row_index, first_row=first_rows[index],
                text_options=job.text_options,
            )
            for index in range(len(parts))
        ]
        return cls(job, parts, tasks, staging, done)

    @staticmethod
    def discard(job: BatchJob, *, shards: int | None = None,
                runtime_defaults: Mapping[str, Any] | None = None) -> None:
        """Remove what earlier runs of ``job`` staged (BAT-053): for an executor that runs a
        job without the kit when it does not resume (``local`` streams)."""
        request = shards if shards is not None else _default_shard_count(job)
        options = {**dict(runtime_defaults or {}), **job.runtime_options}
        identity = _identity(job, absolute_uri(job.dataset.uri), request, options)
        _Staging.for_job(job.output_uri, identity).remove()

    def __enter__(self) -> ShardPlan:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is not None and not self.job.resume:
            self._staging.remove()  # a failed job leaves nothing behind (BAT-024)

    def publish(self, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Write the staged parts, in shard order, to ``job.output_uri`` with
        ``interlock.write_dataset`` (the job's format, mode and write options: one atomic
        step), remove the staging place, and return the job's summary (BAT-006, BAT-045):
        the keys of BAT-006, ``executor``, ``runtime``, ``device``, ``artifact``, the
        ``runtime_options`` the workers used, ``shards``, ``shards_skipped``,
        ``predictor_loads`` and ``worker_processes``."""
        from interlock.datasets import write_dataset

        fresh = {int(r["index"]): dict(r) for r in results}
        finished = {**self.done, **fresh}
        missing = [t.index for t in self.tasks if t.index not in finished]
        if missing:
            raise SpecViolation(f"the shards {missing} of the job were never run",
                                hint="an executor must run every task of plan.pending",
                                requirement="BAT-043")
        job = self.job
        write_dataset(self._output(), job.output_uri, format=job.output_format, mode=job.mode,
                      **job.write_options)
        self._staging.remove()
        return self._summary(finished, fresh)

    def _output(self) -> pa.RecordBatchReader:
        """The parts, one after the other, as one stream with the job's schema metadata."""
        import pyarrow as pa

        from interlock.datasets import open_dataset

        first = open_dataset(self.tasks[0].part_uri, format=STAGING_FORMAT)
        schema = first.schema.with_metadata(self.job.schema_metadata())

        def batches() -> Iterator[pa.RecordBatch]:
            for task in self.tasks:
                part = open_dataset(task.part_uri, format=STAGING_FORMAT)
                for batch in part.to_reader(batch_size=self.job.batch_size):
                    yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _summary(self, finished: dict[int, dict[str, Any]],
                 fresh: dict[int, dict[str, Any]]) -> dict[str, Any]:
        job = self.job
        rows = sum(int(r["rows"]) for r in finished.values())
        seconds = time.perf_counter() - self._started
        return {
            "rows": rows,
            "batches": sum(int(r["batches"]) for r in finished.values()),
            "seconds": seconds,
            "rows_per_second": rows / seconds if seconds > 0 else 0.0,
            "output_uri": job.output_uri,
            "executor": job.lineage.get("executor"),
            "runtime": job.runtime,
            "device": job.device,
            "artifact": job.artifact.ref,
            "runtime_options": dict(self.tasks[0].runtime_options),
            "shards": len(self.tasks),
            "shards_skipped": len(self.done),
            "predictor_loads": sum(1 for r in fresh.values() if r.get("loaded")),
            "worker_processes": len({r["pid"] for r in fresh.values() if "pid" in r}),
        }


def _check_target(job: BatchJob) -> None:
    """``mode="error"`` refuses an existing output before any work (BAT-023), and an output
    whose format cannot be told is refused then too (BAT-027)."""
    from fsspec.core import url_to_fs

    from interlock.datasets import write_format

    write_format(job.output_uri, job.output_format)
    if job.mode != "error":
        return
    fs, path = url_to_fs(job.output_uri)
    if fs.exists(path):
        raise DatasetError(
            f"dataset {job.output_uri!r} already exists",
            hint="pass mode='overwrite' to replace it or mode='append' to add to it",
        )


def _check_reopens(dataset: Dataset, uri: str) -> None:
    """The dataset is what ``open_dataset(uri, format=...)`` gives, so workers can reopen it
    from plain data (BAT-016)."""
    from interlock.datasets import open_dataset

    reopened = open_dataset(uri, format=dataset.format_name)
    same = (type(reopened) is type(dataset) and reopened.files() == dataset.files()
            and reopened.row_group_selection() == dataset.row_group_selection())
    if not same:
        raise DatasetError(
            f"this executor reads dataset {dataset.uri!r} on its workers, from its URI, and "
            f"the {type(dataset).__name__} given is not what interlock.open_dataset("
            f"{dataset.uri!r}, format={dataset.format_name!r}) opens (a shard, a wrapper?)",
            hint="pass the dataset's URI, or use an executor with the 'in_process' "
            "capability such as 'local'",
        )


def _default_shard_count(job: BatchJob) -> int:
    """About :data:`BATCHES_PER_SHARD` batches per shard where row counts are cheap (formats
    that split files), one shard per file otherwise. It depends on the data only, so a
    resumed job is cut exactly as the run it continues."""
    from interlock.errors import InterlockError
    from interlock.plugins import get_registry

    try:
        component = get_registry().get("dataset_format", job.dataset.format_name)
        splits = "shards:row_groups" in component.capabilities
    except InterlockError:
        splits = False
    if not splits:
        return max(1, len(job.dataset.files()))
    rows = job.dataset.count_rows()
    return max(1, -(-rows // (job.batch_size * BATCHES_PER_SHARD)))


def _first_rows(shards: list[Dataset]) -> list[int]:
    starts, total = [], 0
    for shard in shards:
        starts.append(total)
        total += shard.count_rows()
    return starts


def _identity(job: BatchJob, dataset_uri: str, request: int,
              runtime_options: Mapping[str, Any]) -> str:
    """What makes two runs the same job (BAT-050): the same key, the same staging place. The
    output format is the one that will be written, whether named or told by the URI, so that
    ``interlock predict`` (which names it) resumes a Python run that did not, and back."""
    from interlock.datasets import write_format

    record = {
        "layout": _LAYOUT,
        "dataset": [dataset_uri, job.dataset.format_name,
                    job.lineage.get("dataset", {}).get("fingerprint")],
        "artifact": job.artifact.digest,
        "output": [absolute_uri(job.output_uri), write_format(job.output_uri, job.output_format)],
        "columns": [job.read_columns, job.keep_columns, job.row_index],
        "text": job.text_options,
        "runtime": [job.runtime, job.device, dict(runtime_options)],
        "batch_size": job.batch_size,
        "shards": request,
        "executor": job.lineage.get("executor"),
    }
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _Staging:
    """The hidden directory next to the output that holds a job's parts (BAT-051)."""

    def __init__(self, fs: AbstractFileSystem, path: str, uri: str) -> None:
        self.fs, self.path, self.uri = fs, path, uri

    @classmethod
    def for_job(cls, output_uri: str, identity: str) -> _Staging:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem

        fs, path = url_to_fs(absolute_uri(output_uri))
        parent, name = posixpath.split(str(path).rstrip("/"))
        staging = posixpath.join(parent, f".{name}{STAGING_MARK}{identity[:24]}")
        uri = staging if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(staging)
        return cls(fs, staging, uri)

    def part_uri(self, index: int) -> str:
        return f"{self.uri}/part-{index:06d}.arrow"

    def done_uri(self, index: int) -> str:
        return f"{self.uri}/done-{index:06d}.json"

    def prepare(self, *, keep: bool) -> None:
        if not keep:
            self.remove()  # a fresh run never reuses parts (BAT-053)
        try:
            self.fs.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"cannot stage the job's output next to {self.uri!r}: {exc}",
                               hint="check that the output's parent is writable") from exc

    def completed(self, count: int) -> dict[int, dict[str, Any]]:
        """The shards whose completion record and part are both present (BAT-052)."""
        done: dict[int, dict[str, Any]] = {}
        for index in range(count):
            record = posixpath.join(self.path, f"done-{index:06d}.json")
            part = posixpath.join(self.path, f"part-{index:06d}.arrow")
            if self.fs.exists(record) and self.fs.exists(part):
                with contextlib.suppress(ValueError, OSError):
                    result = json.loads(self.fs.cat_file(record))
                    if result.get("index") == index:
                        done[index] = result
        return done

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.fs.exists(self.path):
                self.fs.rm(self.path, recursive=True)
