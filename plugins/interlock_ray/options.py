"""The ``ray`` executor's options (``predict_dataset(..., executor_options={...})``).

Imported when options are parsed, never when the plugin loads.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RayOptions"]


class RayOptions(BaseModel):
    """How the ``ray`` executor finds its cluster, sizes its actor pool and cuts the job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(
        default=None,
        description="address of an existing Ray cluster (host:6379, ray://host:10001); "
        "default: $RAY_ADDRESS, else a local Ray started for the job and stopped after it",
    )
    local_cpus: int | None = Field(
        default=None, ge=1,
        description="CPUs of the local Ray started for the job (default: this machine's); "
        "not with address",
    )
    concurrency: int | None = Field(
        default=None, ge=1,
        description="predictor actors in the pool (default: as many as fit in the cluster's "
        "CPUs less one)",
    )
    num_cpus: float = Field(
        default=1.0, gt=0,
        description="CPUs each predictor actor holds (fractions allowed); onnxruntime runs "
        "that many threads in it (at least one)",
    )
    num_gpus: float | None = Field(
        default=None, ge=0,
        description="GPUs each predictor actor holds (default: 1 when device is not 'cpu', "
        "else 0)",
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
    max_restarts: int = Field(
        default=3, ge=0,
        description="times Ray restarts a predictor actor whose process died, retrying the "
        "shard it was running",
    )

    @model_validator(mode="after")
    def _local_cpus_need_a_local_ray(self) -> RayOptions:
        if self.address is not None and self.local_cpus is not None:
            raise ValueError(
                "local_cpus sizes the local Ray the executor starts, and cannot be combined "
                "with address (the existing cluster has its own CPUs)")
        return self
