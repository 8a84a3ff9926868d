"""Where a job's Ray comes from, and how big its actor pool may be.

A job runs on the Ray this process is already connected to (``ray.init`` called by the user),
else on the cluster at ``address`` (or ``$RAY_ADDRESS``), else on a local Ray started for the
job and stopped after it. A cluster the executor only connected to is never shut down:
``ray.shutdown()`` in a driver that connected disconnects that driver, nothing more.

Ray Data runs its own tasks beside the actors of a pool; a pool whose actors hold every CPU of
the cluster can leave them unscheduled and the job hung (a known Ray Data failure), so the pool
must leave CPU free (:func:`pool_size`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interlock.errors import InterlockError

if TYPE_CHECKING:
    from interlock_ray.options import RayOptions

__all__ = ["Target", "pool_size", "ray_session"]

#: The loggers of Ray and Ray Data, quieted while a job runs (batch.md BAT-015).
_LOGGERS = ("ray", "ray.data")


@dataclass(frozen=True)
class Target:
    """The Ray a job runs on: an address, a local Ray of ``local_cpus`` CPUs, or (both None)
    the Ray this process is already connected to."""

    address: str | None
    local_cpus: int | None

    @classmethod
    def of(cls, options: RayOptions) -> Target:
        """Where ``options`` (then ``$RAY_ADDRESS``) say the job runs."""
        if _already_connected():
            given = [n for n in ("address", "local_cpus") if getattr(options, n) is not None]
            if given:
                raise InterlockError(
                    f"executor 'ray': this process is already connected to Ray (ray.init was "
                    f"called), so {', '.join(given)} cannot choose another one",
                    hint="leave address and local_cpus out to run the job on that "
                    "connection, or call ray.shutdown() first",
                    component="ray",
                )
            return cls(None, None)
        if options.local_cpus is not None:
            return cls(None, options.local_cpus)
        address = options.address or os.environ.get("RAY_ADDRESS") or None
        if address is not None:
            return cls(address, None)
        return cls(None, os.cpu_count() or 1)


def _already_connected() -> bool:
    ray = sys.modules.get("ray")  # Ray not imported: not connected (and not imported here)
    return ray is not None and bool(ray.is_initialized())


def pool_size(options: RayOptions, cpus: float) -> int:
    """The number of predictor actors for a cluster of ``cpus`` CPUs: ``concurrency``, or as
    many as fit; refuses a pool that leaves Ray Data less than one CPU (half the cluster,
    on a cluster of under two CPUs)."""
    room = cpus - min(1.0, cpus / 2)
    size = options.concurrency
    if size is None:
        size = max(1, int(room / options.num_cpus + 1e-9))
    held = size * options.num_cpus
    if held > room + 1e-9:
        raise InterlockError(
            f"executor 'ray': a pool of concurrency={size} predictor actors with "
            f"num_cpus={options.num_cpus:g} each holds {held:g} of the cluster's {cpus:g} "
            f"CPUs; Ray Data needs CPU left for its own tasks, or the job can hang",
            hint=f"lower the executor options concurrency or num_cpus (fractions such as 0.5 "
            f"are allowed) so that concurrency * num_cpus is at most {room:g}",
            component="ray",
        )
    return size


@contextlib.contextmanager
def ray_session(target: Target, *, quiet: bool) -> Iterator[float]:
    """Connect to (or start) the job's Ray, with Ray's own logging quiet; yields the
    cluster's CPU count."""
    import ray.data  # noqa: F401  (configures Ray Data's logger, quieted below)

    level = logging.CRITICAL if quiet else logging.ERROR
    saved = {name: logging.getLogger(name).level for name in _LOGGERS}
    with warnings.catch_warnings():
        # Ray warns about its own deprecated settings while it sets them itself (Ray Data's
        # DataContext does at creation); nothing the user can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        with _connected(target, level, saved) as cpus:
            yield cpus


@contextlib.contextmanager
def _connected(target: Target, level: int, saved: dict[str, int]) -> Iterator[float]:
    import ray

    try:
        for name in _LOGGERS:
            logging.getLogger(name).setLevel(level)
        if ray.is_initialized():
            yield _cluster_cpus()
            return
        _init(target, level)
        try:
            yield _cluster_cpus()
        finally:
            ray.shutdown()  # stops a local Ray; only disconnects from a cluster
    finally:
        for name, saved_level in saved.items():
            logging.getLogger(name).setLevel(saved_level)


def _init(target: Target, level: int) -> None:
    import ray

    quiet = {"log_to_driver": False, "logging_level": level}
    if target.address is None:
        ray.init(address="local", num_cpus=target.local_cpus, include_dashboard=False,
                 **quiet)  # type: ignore[arg-type]
        return
    try:
        ray.init(address=target.address, **quiet)  # type: ignore[arg-type]
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        raise InterlockError(
            f"cannot reach the Ray cluster at {target.address!r}: {type(exc).__name__}: {exc}",
            hint="check executor_options['address'] (or $RAY_ADDRESS): host:6379 of a "
            "cluster started with 'ray start --head'; a cluster with token authentication "
            "also needs RAY_AUTH_MODE=token and its token (~/.ray/auth_token or "
            "RAY_AUTH_TOKEN) in this process's environment",
            component="ray",
        ) from None


def _cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 0.0))  # type: ignore[no-untyped-call]
