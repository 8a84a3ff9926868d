"""``interlock.executor_session``: one engine for several batch jobs (spec: batch.md BAT-047)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from interlock.batch._interfaces import Executor
from interlock.plugins import get_registry, plugin_boundary

__all__ = ["executor_session"]


@contextmanager
def executor_session(
    executor: str, executor_options: Mapping[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Start the engine of ``executor`` once and keep it for the jobs run inside the block::

        with interlock.executor_session("dask", {"n_workers": 2}) as options:
            for day in days:
                interlock.predict_dataset(day, "churn:3", f"out/{day}", executor="dask",
                                          executor_options=options)

    The options are checked (BAT-007) before anything starts; the block gets the
    ``executor_options`` under which jobs run on the kept engine, and the engine is stopped
    when the block ends. An executor that starts no engine (``local``) keeps nothing.
    """
    component: Executor = get_registry().get("executor", executor)
    parsed = component.parse_options(dict(executor_options or {}))
    with plugin_boundary(component, f"starting a session of executor {executor!r}"):
        session = component.session(parsed)
        options = session.__enter__()
    try:
        yield dict(options)
    except BaseException as exc:
        if not session.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        session.__exit__(None, None, None)
