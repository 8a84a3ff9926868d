"""The shard kit, worker side: one shard of a :class:`interlock.BatchJob` as plain data, and the
function a worker process calls to run it (spec: batch.md BAT-040 to BAT-046).

A :class:`ShardTask` holds only strings, numbers, lists and dicts (URIs, column names, the
shard's index), never a model, a dataset object or a user object, so an engine can ship it
between its processes however it likes and nothing of ours is ever unpickled. The worker
opens what the task names itself: the dataset from its URI and format, the artifact from its
URI, verifying every digest, once per process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock.errors import ArtifactIntegrityError, DatasetError, SpecViolation

if TYPE_CHECKING:
    import pyarrow as pa

    from interlock.artifacts import Artifact
    from interlock.datasets import Dataset
    from interlock.runtimes import Predictor

__all__ = ["STAGING_FORMAT", "ShardTask", "load_job_predictor", "run_shard"]

#: The dataset format of staged parts: Arrow IPC holds every Arrow type exactly.
STAGING_FORMAT = "arrow"


@dataclass(frozen=True)
class ShardTask:
    """One shard of a batch job, as plain data (BAT-041).

    The shard is ``open_dataset(dataset_uri, format=dataset_format).shards(shard_request)
    [index]``; its predictions go to the Arrow IPC file ``part_uri`` and its completion is
    recorded at ``done_uri`` once that file is complete (BAT-051).
    """

    index: int
    shard_request: int
    dataset_uri: str
    dataset_format: str
    artifact_uri: str
    artifact_digest: str
    runtime: str
    device: str
    batch_size: int
    part_uri: str
    done_uri: str
    read_columns: list[str] = field(default_factory=list)
    keep_columns: list[str] = field(default_factory=list)
    runtime_options: dict[str, Any] = field(default_factory=dict)
    #: The output schema metadata (the lineage record), as text.
    schema_metadata: dict[str, str] = field(default_factory=dict)
    #: Name of the row-number column, and the dataset row number of the shard's first row.
    row_index: str | None = None
    first_row: int = 0
    #: How a text artifact reads and writes text (BatchJob.text_options), or None.
    text_options: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The task as a plain ``dict`` (what an engine should ship to its workers)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardTask:
        """The task that :meth:`to_dict` gave ``data`` for."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SpecViolation(f"a shard task has unknown keys {unknown}",
                                requirement="BAT-041")
        return cls(**dict(data))


_LOCK = threading.Lock()
_PREDICTORS: dict[str, Predictor] = {}
_SHARDS: dict[str, list[Dataset]] = {}


def run_shard(task: ShardTask | Mapping[str, Any], shard: Dataset | None = None) -> dict[str, Any]:
    """Run one shard in this process and return what it did.

    The predictor is loaded (and the artifact's digests verified) the first time this process
    sees the artifact, then reused (BAT-042). ``shard`` is the shard's dataset when the caller
    already holds it (an in-process executor); otherwise it is reopened from the task's URI.
    Returns ``index``, ``rows``, ``batches``, ``pid`` (the worker process) and ``loaded``
    (whether this call loaded the predictor). Errors are the original interlock errors.
    """
    from interlock.datasets import write_dataset

    if not isinstance(task, ShardTask):
        task = ShardTask.from_dict(task)
    predictor, loaded = _predictor(task)
    if shard is None:
        shard = _shard(task)
    stream = _ShardStream(task, predictor, shard)
    try:
        write_dataset(stream.open(), task.part_uri, format=STAGING_FORMAT, mode="overwrite")
    except Exception:
        # The writer wraps what the stream raised (dataset.md DS-046); the user needs the
        # original, the SignatureMismatch naming the column say (BAT-024).
        if stream.failure is not None:
            raise stream.failure from None
        raise
    result = {"index": task.index, "rows": stream.rows, "batches": stream.batches}
    _record_done(task.done_uri, result)
    return {**result, "pid": os.getpid(), "loaded": loaded}


def _predictor(task: ShardTask) -> tuple[Predictor, bool]:
    """The process's predictor for the task's model, loading it the first time."""
    from interlock.artifacts import load_artifact

    key = json.dumps([task.artifact_uri, task.artifact_digest, task.runtime, task.device,
                      task.runtime_options, task.text_options], sort_keys=True, default=str)
    with _LOCK:  # the threads of one worker share one load
        cached = _PREDICTORS.get(key)
        if cached is not None:
            return cached, False
        artifact = load_artifact(task.artifact_uri)  # verifies every digest (ART-0xx)
        if artifact.digest != task.artifact_digest:
            raise ArtifactIntegrityError(
                f"the artifact at {task.artifact_uri!r} is {artifact.ref}, the job was planned "
                f"with digest {task.artifact_digest}",
                hint="artifacts are immutable; something replaced this one while the job ran",
            )
        predictor = load_job_predictor(artifact, task.runtime, task.device,
                                       task.runtime_options, task.text_options)
        _PREDICTORS[key] = predictor
        return predictor, True


def load_job_predictor(artifact: Artifact, runtime: str, device: str,
                       runtime_options: Mapping[str, Any],
                       text_options: Mapping[str, Any] | None) -> Any:
    """What predicts a batch job's batches: ``load_predictor``'s predictor, or for a text
    artifact an :class:`interlock.text.TextBatchPredictor` over it (text.md TXT-060). Both
    have ``predict(batch) -> RecordBatch``; executors call this, or
    :meth:`interlock.BatchJob.load_predictor`, rather than ``load_predictor`` itself."""
    from interlock.runtimes import load_predictor

    predictor = load_predictor(artifact, runtime=runtime, device=device, **runtime_options)
    if artifact.manifest.text is None:
        return predictor
    from interlock.text import TextBatchPredictor

    return TextBatchPredictor.from_artifact(artifact, predictor, text_options)


def _shard(task: ShardTask) -> Dataset:
    """The task's shard, from the dataset reopened by URI (cut once per process)."""
    from interlock.datasets import open_dataset

    key = json.dumps([task.dataset_uri, task.dataset_format, task.shard_request])
    with _LOCK:
        shards = _SHARDS.get(key)
        if shards is None:
            dataset = open_dataset(task.dataset_uri, format=task.dataset_format)
            shards = dataset.shards(task.shard_request) if task.shard_request > 1 else [dataset]
            _SHARDS[key] = shards
    if not 0 <= task.index < len(shards):
        raise DatasetError(
            f"dataset {task.dataset_uri!r} has {len(shards)} shards on this worker, the job "
            f"was planned with shard {task.index}",
            hint="the dataset changed while the job ran; run the job again",
        )
    return shards[task.index]


def _record_done(done_uri: str, result: dict[str, Any]) -> None:
    """Write the shard's completion record in one atomic step (a rename on local storage)."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(done_uri)
    temporary = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    fs.pipe_file(temporary, json.dumps(result).encode())
    fs.mv(temporary, path)


class _ShardStream:
    """A shard's output as a ``RecordBatchReader`` computed as the writer reads it."""

    def __init__(self, task: ShardTask, predictor: Predictor, shard: Dataset) -> None:
        self.task = task
        self.predictor = predictor
        self.shard = shard
        self.rows = 0
        self.batches = 0
        self.failure: BaseException | None = None

    def open(self) -> pa.RecordBatchReader:
        """Predict the first batch (it fixes the schema), then stream the rest lazily."""
        import pyarrow as pa

        reader = self.shard.to_reader(columns=self.task.read_columns,
                                      batch_size=self.task.batch_size)
        batches = iter(reader)
        first = next(batches, None)
        predicted = self._predict(first if first is not None else _empty(reader.schema))
        fields = [reader.schema.field(name) for name in self.task.keep_columns]
        if self.task.row_index is not None:
            fields.insert(0, pa.field(self.task.row_index, pa.int64(), nullable=False))
        metadata = {k.encode(): v.encode() for k, v in self.task.schema_metadata.items()}
        schema = pa.schema([*fields, *predicted.schema]).with_metadata(metadata)
        return pa.RecordBatchReader.from_batches(
            schema, self._output(batches, schema, first, predicted))

    def _predict(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        predicted = self.predictor.predict(batch)
        if predicted.num_rows != batch.num_rows:
            raise SpecViolation(
                f"runtime {self.task.runtime!r} returned {predicted.num_rows} prediction rows "
                f"for a batch of {batch.num_rows}",
                component=self.task.runtime,
            )
        return predicted

    def _output(self, batches: Iterator[pa.RecordBatch], schema: pa.Schema,
                first: pa.RecordBatch | None, predicted: pa.RecordBatch
                ) -> Iterator[pa.RecordBatch]:
        import numpy as np
        import pyarrow as pa

        try:
            pending = None if first is None else (first, predicted)
            del first, predicted
            while pending is not None:
                batch, outputs = pending
                columns = [batch.column(name) for name in self.task.keep_columns]
                if self.task.row_index is not None:
                    start = self.task.first_row + self.rows
                    columns.insert(0, pa.array(np.arange(start, start + batch.num_rows,
                                                         dtype=np.int64)))
                out = pa.RecordBatch.from_arrays([*columns, *outputs.columns], schema=schema)
                del pending, batch, outputs, columns
                self.rows += out.num_rows
                self.batches += 1
                yield out
                del out
                following = next(batches, None)
                pending = None if following is None else (following, self._predict(following))
                del following
        except BaseException as exc:
            self.failure = exc
            raise


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)
