"""Hook implementations of the ``interlock_ray`` plugin (light imports only: ray is imported
when a job runs)."""

from __future__ import annotations

from interlock import hookimpl
from interlock.batch import Executor
from interlock_ray.executor import RayExecutor


@hookimpl
def interlock_executors() -> list[Executor]:
    """The ``ray`` executor."""
    return [RayExecutor()]
