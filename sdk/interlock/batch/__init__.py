"""Batch prediction: the executor interface, predict_dataset, and the shard kit that
distributed executors are built on (``ShardPlan`` on the driver, ``run_shard`` on workers).

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "LINEAGE_METADATA_KEY": "_interfaces",
    "BatchJob": "_interfaces",
    "Executor": "_interfaces",
    "LINEAGE_VERSION": "_predict",
    "WRITE_MODES": "_predict",
    "predict_dataset": "_predict",
    "executor_session": "_session",
    "BATCHES_PER_SHARD": "_plan",
    "STAGING_MARK": "_plan",
    "ShardPlan": "_plan",
    "absolute_uri": "_plan",
    "STAGING_FORMAT": "_shards",
    "ShardTask": "_shards",
    "run_shard": "_shards",
    "load_job_predictor": "_shards",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.batch._interfaces import (
        BatchJob as BatchJob,
        Executor as Executor,
        LINEAGE_METADATA_KEY as LINEAGE_METADATA_KEY,
    )
    from interlock.batch._session import executor_session as executor_session
    from interlock.batch._plan import (
        BATCHES_PER_SHARD as BATCHES_PER_SHARD,
        STAGING_MARK as STAGING_MARK,
        ShardPlan as ShardPlan,
        absolute_uri as absolute_uri,
    )
    from interlock.batch._shards import (
        STAGING_FORMAT as STAGING_FORMAT,
        ShardTask as ShardTask,
        load_job_predictor as load_job_predictor,
        run_shard as run_shard,
    )
    from interlock.batch._predict import (
        LINEAGE_VERSION as LINEAGE_VERSION,
        WRITE_MODES as WRITE_MODES,
        predict_dataset as predict_dataset,
    )
