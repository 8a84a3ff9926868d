"""The ``dask`` executor: a batch job's shards as dask.distributed tasks.

The job is cut and staged by interlock's shard kit (``interlock.batch.ShardPlan``) before any
cluster is started, so that a user mistake costs no cluster; each task is a plain ``dict``
(``ShardTask.to_dict``) that a worker hands to ``interlock.batch.run_shard``, which loads the
model once per worker process and writes the shard's part; the kit then publishes the output
in one step, in shard order. Dask reruns the tasks of a worker that dies (up to its
``distributed.scheduler.allowed-failures``); the kit's completion records let a killed job
resume.

This module is imported when the plugin loads: dask is imported inside the methods only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from interlock.batch import BatchJob, Executor
from interlock.errors import InterlockError

if TYPE_CHECKING:
    from distributed import Client
    from pydantic import BaseModel

    from interlock.batch import ShardPlan
    from interlock_dask.options import DaskOptions

__all__ = ["DaskExecutor"]

#: Workers and threads of the LocalCluster started when no address is given.
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 1


class DaskExecutor(Executor):
    """Runs a job's shards on a dask.distributed cluster, one task per shard."""

    name = "dask"
    description = ("runs shards of a job on dask.distributed: an existing scheduler, or a "
                   "LocalCluster for the job")
    capabilities = frozenset({"ordered", "progress", "resume"})

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_dask.options import DaskOptions

        return DaskOptions

    def session(self, options: Any = None) -> AbstractContextManager[dict[str, Any]]:
        """A LocalCluster kept for several jobs (none when ``address`` names a cluster):
        yields the options with its ``address`` (BAT-047)."""
        from interlock_dask.options import DaskOptions

        return _session(options if isinstance(options, DaskOptions) else DaskOptions())

    def run(self, job: BatchJob) -> dict[str, Any]:
        """Run ``job``; see :class:`interlock.Executor` for the contract."""
        from interlock.batch import ShardPlan
        from interlock_dask.options import DaskOptions

        options = job.executor_options if isinstance(job.executor_options, DaskOptions) \
            else DaskOptions()
        if options.batch_size is not None:
            job = dataclasses.replace(job, batch_size=options.batch_size)
        with ShardPlan.create(job, shards=options.shards,
                              runtime_defaults=_thread_defaults(job)) as plan:
            results: list[dict[str, Any]] = []
            if plan.pending:
                with _client(options) as client:
                    results = _run_tasks(client, plan)
            return plan.publish(results)


def _thread_defaults(job: BatchJob) -> dict[str, Any]:
    """One onnxruntime thread per task: a worker runs as many tasks at once as it has threads,
    so its cores are used without oversubscription (the user's options win)."""
    if job.runtime == "onnxruntime":
        return {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
    return {}


@contextlib.contextmanager
def _session(options: DaskOptions) -> Iterator[dict[str, Any]]:
    kept = options.model_dump(exclude_defaults=True, exclude={"n_workers", "threads_per_worker"})
    if options.address is not None:
        yield kept
        return
    with _local_cluster(options) as cluster:
        yield {**kept, "address": cluster.scheduler_address}


def _local_cluster(options: DaskOptions) -> Any:
    from distributed import LocalCluster

    return LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=options.n_workers or DEFAULT_WORKERS,
        threads_per_worker=options.threads_per_worker or DEFAULT_THREADS,
        processes=True, host="127.0.0.1", dashboard_address=":0", worker_dashboard_address=":0",
        silence_logs=logging.ERROR,
    )


@contextlib.contextmanager
def _client(options: DaskOptions) -> Iterator[Client]:
    """A client of the scheduler at ``options.address``, or of a LocalCluster started (and
    stopped) for the job."""
    from distributed import Client

    if options.address is not None:
        try:
            client = Client(  # type: ignore[no-untyped-call]
                options.address, timeout=options.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InterlockError(
                f"cannot reach the dask scheduler at {options.address!r}: "
                f"{type(exc).__name__}: {exc}",
                hint="check executor_options['address'] (tcp://host:8786) and that "
                "'dask scheduler' runs there",
                component="dask",
            ) from None
        with client:
            yield client
        return
    with _local_cluster(options) as cluster, Client(  # type: ignore[no-untyped-call]
        cluster, timeout=options.connect_timeout, set_as_default=False,
    ) as client:
        yield client


def _run_tasks(client: Client, plan: ShardPlan) -> list[dict[str, Any]]:
    """Submit one task per pending shard (plain dicts in, plain dicts out) and collect the
    results; the first failure cancels the rest and is raised as the worker raised it."""
    from distributed import as_completed

    from interlock.batch import run_shard

    tasks = plan.pending
    # Keys unique to this run: a rerun of the same job never meets a task of an earlier run
    # that the scheduler has not forgotten yet.
    run = uuid.uuid4().hex[:12]
    futures = client.map(run_shard, [task.to_dict() for task in tasks],
                         key=[f"interlock-shard-{run}-{t.index}" for t in tasks], pure=False)
    results: list[dict[str, Any]] = []
    try:
        with client.as_current(), plan.progress_bar() as bar:
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                results.append(future.result())
                bar.update(results[-1]["rows"])
    except BaseException:
        client.cancel(futures)  # type: ignore[no-untyped-call]
        raise
    return results
