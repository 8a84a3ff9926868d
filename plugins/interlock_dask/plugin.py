"""Hook implementations of the ``interlock_dask`` plugin (light imports only: dask is imported
when a job runs)."""

from __future__ import annotations

from interlock import hookimpl
from interlock.batch import Executor
from interlock_dask.executor import DaskExecutor


@hookimpl
def interlock_executors() -> list[Executor]:
    """The ``dask`` executor."""
    return [DaskExecutor()]
