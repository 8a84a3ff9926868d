"""The ``dask`` executor's options (``predict_dataset(..., executor_options={...})``).

Imported when options are parsed, never when the plugin loads.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DaskOptions"]


class DaskOptions(BaseModel):
    """How the ``dask`` executor finds its cluster and cuts the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(
        default=None,
        description="address of an existing dask scheduler (tcp://host:8786); default: a "
        "LocalCluster started for the job and stopped after it",
    )
    n_workers: int | None = Field(
        default=None, ge=1,
        description="worker processes of the LocalCluster (default: 2); not with address",
    )
    threads_per_worker: int | None = Field(
        default=None, ge=1,
        description="threads of each LocalCluster worker (default: 1); not with address",
    )
    batch_size: int | None = Field(
        default=None, ge=1,
        description="rows per predict call inside a shard (default: predict_dataset's "
        "batch_size)",
    )
    shards: int | None = Field(
        default=None, ge=1,
        description="cut the dataset into at most this many shard tasks (default: about four "
        "batches per shard where row counts are cheap, else one per file)",
    )
    connect_timeout: float = Field(
        default=30.0, gt=0, description="seconds to wait for the scheduler and the workers",
    )

    @model_validator(mode="after")
    def _cluster_options_need_a_local_cluster(self) -> DaskOptions:
        if self.address is not None:
            given = [n for n in ("n_workers", "threads_per_worker") if getattr(self, n) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} size the LocalCluster the executor starts, and cannot "
                    "be combined with address (the existing cluster has its own workers)")
        return self
