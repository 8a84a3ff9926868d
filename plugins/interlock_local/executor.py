"""The ``local`` executor: read, predict and write one record batch at a time.

Memory stays bounded whatever the dataset's size. Batches are pulled from the dataset, predicted
and handed to :func:`interlock.write_dataset` through a streaming ``RecordBatchReader``; nothing
holds on to a batch once it is written. The dataset is read in contiguous pieces of a few
batches each (``Dataset.shards``, which keeps row order), one piece after the other, because a
format's scanner may read far ahead of a slow consumer within one reader (pyarrow's dataset
scanner buffers up to its 1 GiB back-pressure limit).

This module is imported when the plugin loads, so pyarrow, tqdm and the runtimes are imported
inside :meth:`LocalExecutor.run` only.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from interlock.plugins import FALLBACK_PRIORITY
from interlock.errors import SpecViolation
from interlock.batch import BatchJob, Executor

if TYPE_CHECKING:
    import pyarrow as pa

    from interlock.datasets import Dataset
    from interlock.runtimes import Predictor

__all__ = ["LocalExecutor"]

#: A piece of the dataset holds about this many batches; read-ahead stays within one piece.
BATCHES_PER_PIECE = 4


class LocalExecutor(Executor):
    """Streams a dataset through a predictor in this process, with bounded memory."""

    name = "local"
    priority = FALLBACK_PRIORITY
    description = "streams record batches through a model on this machine (bounded memory)"
    capabilities = frozenset({"ordered", "progress", "resume", "in_process"})

    def run(self, job: BatchJob) -> dict[str, Any]:
        """Run ``job``; see :class:`interlock.Executor` for the contract. A job that resumes
        or writes a row index runs shard by shard through the batch kit (in this process);
        any other streams straight into the writer."""
        if job.resume or job.row_index is not None:
            return _run_in_shards(job)
        from interlock.batch import ShardPlan

        ShardPlan.discard(job)  # a fresh run never reuses what a resumable one staged
        return self._stream(job)

    def _stream(self, job: BatchJob) -> dict[str, Any]:
        from tqdm import tqdm

        from interlock.datasets import write_dataset

        started = time.perf_counter()
        predictor = job.load_predictor()
        pieces, total = _pieces(job)
        with tqdm(
            total=total if job.progress else None,
            unit="rows",
            unit_scale=True,
            file=sys.stderr,
            disable=not job.progress,
            desc=f"predict {job.artifact.name}:{job.artifact.version}",
        ) as bar:
            stream = _PredictionStream(job, predictor, pieces, bar)
            try:
                write_dataset(
                    stream.open(),
                    job.output_uri,
                    format=job.output_format,
                    mode=job.mode,
                    **job.write_options,
                )
            except Exception:
                # The writer wraps what the stream raised (dataset.md DS-046); the user needs
                # the original, a SignatureMismatch naming the column say (batch.md BAT-024).
                if stream.failure is not None:
                    raise stream.failure from None
                raise
        seconds = time.perf_counter() - started
        return {
            "rows": stream.rows,
            "batches": stream.batches,
            "seconds": seconds,
            "rows_per_second": stream.rows / seconds if seconds > 0 else 0.0,
            "output_uri": job.output_uri,
            "executor": self.name,
            "runtime": job.runtime,
            "device": job.device,
            "artifact": job.artifact.ref,
        }


def _run_in_shards(job: BatchJob) -> dict[str, Any]:
    """The job as shard tasks run one after the other here: each shard's part is staged and
    recorded, so a killed run can be resumed (batch.md BAT-050)."""
    from interlock.batch import ShardPlan, run_shard

    with ShardPlan.create(job, reopen=False) as plan:
        results = []
        with plan.progress_bar() as bar:
            for task in plan.pending:
                results.append(run_shard(task, shard=plan.shards[task.index]))
                bar.update(results[-1]["rows"])
        return plan.publish(results)


def _pieces(job: BatchJob) -> tuple[list[Dataset], int | None]:
    """The dataset as contiguous pieces of about :data:`BATCHES_PER_PIECE` batches, and its
    row count when it was cheap to learn (or asked for by the progress bar)."""
    from interlock.errors import InterlockError
    from interlock.plugins import get_registry

    dataset = job.dataset
    try:
        capabilities = get_registry().get("dataset_format", dataset.format_name).capabilities
    except InterlockError:  # a format that is not registered (any more): no splitting
        capabilities = frozenset()
    splits_files = "shards:row_groups" in capabilities
    total: int | None = None
    if splits_files or job.progress:
        # Row counts come from metadata for the formats that split files (dataset.md DS-026).
        total = dataset.count_rows()
    if splits_files and total is not None:
        wanted = math.ceil(total / (job.batch_size * BATCHES_PER_PIECE))
    else:
        wanted = len(dataset.files())
    if wanted <= 1:
        return [dataset], total
    return dataset.shards(wanted), total


class _PredictionStream:
    """The output of a job as a ``RecordBatchReader`` that computes batches as it is read."""

    def __init__(
        self, job: BatchJob, predictor: Predictor, pieces: list[Dataset], bar: Any
    ) -> None:
        self.job = job
        self.predictor = predictor
        self.pieces = pieces
        self.bar = bar
        self.rows = 0
        self.batches = 0
        self.failure: BaseException | None = None

    def open(self) -> pa.RecordBatchReader:
        """Read and predict the first batch (its predictions fix the output schema), then
        stream the rest lazily."""
        import pyarrow as pa

        readers = self._readers()
        first_reader = next(readers)
        batches = self._input_batches(first_reader, readers)
        first = next(batches, None)
        probe = first if first is not None else _empty_batch(first_reader.schema)
        predicted = self._predict(probe)
        fields = [first_reader.schema.field(name) for name in self.job.keep_columns]
        schema = pa.schema([*fields, *predicted.schema]).with_metadata(
            self.job.schema_metadata()
        )
        return pa.RecordBatchReader.from_batches(
            schema, self._output(batches, schema, first, predicted)
        )

    def _readers(self) -> Iterator[pa.RecordBatchReader]:
        # Each piece's reader is opened only when the previous one is used up.
        for piece in self.pieces:
            yield piece.to_reader(columns=self.job.read_columns, batch_size=self.job.batch_size)

    @staticmethod
    def _input_batches(
        first: pa.RecordBatchReader, rest: Iterator[pa.RecordBatchReader]
    ) -> Iterator[pa.RecordBatch]:
        yield from first
        for reader in rest:
            yield from reader

    def _predict(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        predicted = self.predictor.predict(batch)
        if predicted.num_rows != batch.num_rows:
            raise SpecViolation(
                f"runtime {self.job.runtime!r} returned {predicted.num_rows} prediction rows "
                f"for a batch of {batch.num_rows}",
                component=self.job.runtime,
            )
        return predicted

    def _output(
        self,
        batches: Iterator[pa.RecordBatch],
        schema: pa.Schema,
        first: pa.RecordBatch | None,
        first_predicted: pa.RecordBatch,
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        keep = self.job.keep_columns
        try:
            pending = None if first is None else (first, first_predicted)
            del first, first_predicted  # so that written batches can be freed
            while pending is not None:
                batch, predicted = pending
                out = pa.RecordBatch.from_arrays(
                    [*(batch.column(name) for name in keep), *predicted.columns], schema=schema
                )
                del pending, batch, predicted
                self.rows += out.num_rows
                self.batches += 1
                self.bar.update(out.num_rows)
                yield out
                del out
                following = next(batches, None)
                pending = None if following is None else (following, self._predict(following))
                del following
        except BaseException as exc:
            self.failure = exc
            raise


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array([], type=field.type) for field in schema], schema=schema
    )
