"""Hook implementations of the ``interlock_local`` plugin (light imports only)."""

from __future__ import annotations

from interlock import hookimpl
from interlock._executor import Executor
from interlock_local.executor import LocalExecutor


@hookimpl(trylast=True)
def interlock_executors() -> list[Executor]:
    """The ``local`` executor."""
    return [LocalExecutor()]
