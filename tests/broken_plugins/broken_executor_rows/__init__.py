"""An executor that drops the last batch when it is shorter than ``batch_size`` (it reads only
full batches).

Breaks BAT-020 (the output holds exactly one row per dataset row). Otherwise it is the
reference local executor.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from interlock import BatchJob, Dataset, Executor, hookimpl
from interlock_local.executor import LocalExecutor


class FullBatchesOnly(Dataset):
    """The job's dataset, read in full batches only."""

    def __init__(self, inner: Dataset, batch_size: int) -> None:
        self.inner = inner
        self.batch_size = batch_size
        self.uri, self.format_name = inner.uri, inner.format_name
        self.filesystem, self.path = inner.filesystem, inner.path

    @property
    def schema(self) -> Any:
        return self.inner.schema

    def files(self) -> list[str]:
        return self.inner.files()

    def count_rows(self, filter: Any = None) -> int:
        return self.inner.count_rows(filter)

    def shards(self, n: int) -> list[Dataset]:
        return [FullBatchesOnly(shard, self.batch_size) for shard in self.inner.shards(n)]

    def to_reader(self, columns: Any = None, filter: Any = None, batch_size: Any = None) -> Any:
        import pyarrow as pa

        reader = self.inner.to_reader(columns=columns, filter=filter, batch_size=batch_size)
        full = (b for b in reader if b.num_rows == self.batch_size)  # the broken part
        return pa.RecordBatchReader.from_batches(reader.schema, full)


class ShortBatchDroppingExecutor(LocalExecutor):
    name = "fullbatches"
    priority = 0
    description = "local executor that drops a short last batch (deliberately broken)"

    def run(self, job: BatchJob) -> dict[str, Any]:
        dataset = FullBatchesOnly(job.dataset, job.batch_size)
        return super().run(dataclasses.replace(job, dataset=dataset))


@hookimpl
def interlock_executors() -> list[Executor]:
    return [ShortBatchDroppingExecutor()]
