"""Hook implementations of the ``interlock_local`` plugin (light imports only)."""

from __future__ import annotations

from interlock import hookimpl
from interlock.batch import Executor
from interlock_local.executor import LocalExecutor


@hookimpl
def interlock_executors() -> list[Executor]:
    """The ``local`` executor."""
    return [LocalExecutor()]
