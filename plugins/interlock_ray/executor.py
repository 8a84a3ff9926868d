"""The ``ray`` executor: a batch job's shards through a pool of predictor actors (Ray Data).

The job is cut and staged by interlock's shard kit (``interlock.batch.ShardPlan``) before Ray
is reached, so that a user mistake costs no cluster. The pending shard tasks, each a JSON text
of plain data (``ShardTask.to_dict``), become a Ray dataset of one row per shard; Ray Data's
``map_batches`` runs it through a fixed pool of :class:`interlock_ray.worker.ShardRunner`
actors, one shard per call: each actor loads and verifies the model once (``run_shard``'s
per-process cache) and writes the shard's part. Ray restarts an actor whose process died and
retries its shard (``max_restarts``); the kit then publishes the output in shard order, in
one step, from the driver.

This module is imported when the plugin loads: ray is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from interlock.batch import BatchJob, Executor, ShardTask
from interlock.errors import InterlockError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock_ray.options import RayOptions

__all__ = ["RayExecutor"]


class RayExecutor(Executor):
    """Runs a job's shards on Ray Data, through a pool of predictor actors."""

    name = "ray"
    description = ("runs shards of a job through a pool of predictor actors on Ray Data: an "
                   "existing cluster, or a local Ray for the job")
    capabilities = frozenset({"ordered", "progress", "resume"})

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_ray.options import RayOptions

        return RayOptions

    def session(self, options: Any = None) -> AbstractContextManager[dict[str, Any]]:
        """This process connected to Ray (a local Ray started, or the cluster at ``address``)
        for several jobs, disconnected (a local Ray stopped) after them; jobs run on the
        connection, so the options yielded leave out ``address`` and ``local_cpus``
        (BAT-047)."""
        from interlock_ray.options import RayOptions

        return _session(options if isinstance(options, RayOptions) else RayOptions())

    def run(self, job: BatchJob) -> dict[str, Any]:
        """Run ``job``; see :class:`interlock.Executor` for the contract."""
        from interlock.batch import ShardPlan
        from interlock_ray.options import RayOptions
        from interlock_ray.session import Target, pool_size, ray_session

        options = job.executor_options if isinstance(job.executor_options, RayOptions) \
            else RayOptions()
        if options.batch_size is not None:
            job = dataclasses.replace(job, batch_size=options.batch_size)
        target = Target.of(options)
        if target.local_cpus is not None:
            pool_size(options, target.local_cpus)  # refused before anything starts
        with ShardPlan.create(job, shards=options.shards,
                              runtime_defaults=_thread_defaults(job, options)) as plan:
            results: list[dict[str, Any]] = []
            if plan.pending:
                with ray_session(target, quiet=not job.progress) as cpus:
                    # An actor without a shard to run would only load the model.
                    size = min(pool_size(options, cpus), len(plan.pending))
                    results = _run_tasks(plan.pending, size, options, job, len(plan.tasks))
            return plan.publish(results)


@contextlib.contextmanager
def _session(options: RayOptions) -> Iterator[dict[str, Any]]:
    from interlock_ray.session import Target, pool_size, ray_session

    target = Target.of(options)
    if target.local_cpus is not None:
        pool_size(options, target.local_cpus)  # refused before anything starts
    with ray_session(target, quiet=True):
        yield options.model_dump(exclude_defaults=True, exclude={"address", "local_cpus"})


def _thread_defaults(job: BatchJob, options: RayOptions) -> dict[str, Any]:
    """onnxruntime runs as many threads as its actor holds CPUs (at least one), so the pool
    uses the CPUs Ray gave it without oversubscription (the user's options win)."""
    if job.runtime == "onnxruntime":
        return {"intra_op_num_threads": max(1, int(options.num_cpus)),
                "inter_op_num_threads": 1}
    return {}


def _run_tasks(tasks: list[ShardTask], size: int, options: RayOptions, job: BatchJob,
               total: int) -> list[dict[str, Any]]:
    """One Ray dataset row per shard task through the actor pool; the results come back as
    plain numbers; the first failure stops the job and is raised as the worker raised it."""
    import ray.data
    from tqdm import tqdm

    from interlock_ray.worker import ShardRunner

    dataset = ray.data.from_items([{"task": json.dumps(t.to_dict())} for t in tasks],
                                  override_num_blocks=len(tasks))
    context = dataset.context  # this dataset's own copy of Ray Data's settings
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.raise_original_map_exception = True  # the worker's error, not a UDF wrapper
    # Ray 2.5x deprecates actor options given as keywords, but has no other way to bound
    # the restarts of a map_batches actor pool (ray_session silences the warning).
    predicted = dataset.map_batches(
        ShardRunner, batch_size=1, compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=options.num_cpus, num_gpus=_gpus(options, job),
        max_restarts=options.max_restarts, max_task_retries=options.max_restarts)
    results: list[dict[str, Any]] = []
    with tqdm(total=total, initial=total - len(tasks), unit="shards", file=sys.stderr,
              disable=not job.progress, desc=f"predict {job.artifact.name}") as bar:
        try:
            for row in predicted.iter_rows():
                results.append({"index": int(row["index"]), "rows": int(row["rows"]),
                                "batches": int(row["batches"]), "pid": int(row["pid"]),
                                "loaded": bool(row["loaded"])})
                bar.update(1)
        except ray.exceptions.RayError as exc:
            raise _original(exc, ray.exceptions.RayError) from None
    return results


def _gpus(options: RayOptions, job: BatchJob) -> float:
    if options.num_gpus is not None:
        return options.num_gpus
    return 0.0 if job.device == "cpu" else 1.0


def _original(exc: BaseException, wrapper: type[BaseException]) -> BaseException:
    """The interlock error a worker raised, out of Ray's ``wrapper`` exceptions (BAT-024:
    a ``RayTaskError(SignatureMismatch)`` is both, and is not what ``local`` raises), with
    the text Ray Data appends to its arguments removed; anything else as it came."""
    cause: BaseException = exc
    while isinstance(cause, wrapper) or not isinstance(cause, InterlockError):
        inner = getattr(cause, "cause", None) or cause.__cause__
        if not isinstance(inner, BaseException):
            return exc
        cause = inner
    cause.args = (cause.message,)
    return cause.with_traceback(None)
