"""Prometheus metrics of a model repository, shared by every front end that serves it.

One :class:`ServingMetrics` per repository (:func:`metrics_for`; any
:class:`interlock.servers.Repository`), in its own
``CollectorRegistry`` (not the process-wide default one), so that several servers in one
process neither collide nor count twice:

``interlock_requests_total{protocol, endpoint, model, version, status}``
    Requests answered, by the protocol's own status (HTTP code, gRPC code name). Requests for
    models that are not served count under ``model=""`` so that clients cannot grow the label
    set without bound.
``interlock_request_duration_seconds{protocol, model}``
    Inference latency, from the request's arrival to its response.
``interlock_batch_size{model, version}``
    Rows per runtime call (more than a request's rows when dynamic batching merged requests).
``interlock_queue_depth{model, version}``
    Requests each model holds right now (waiting or running), read when scraped.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from interlock.servers import Repository

__all__ = ["CONTENT_TYPE", "ServingMetrics", "metrics_for"]

#: Content-Type of :meth:`ServingMetrics.render`.
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class _Histogram:
    """One labelled histogram: a count per bucket and a sum, updated without a lock.

    prometheus_client's metrics take a lock on every update (several per request); these are
    only ever updated on the serving event loop, and a scrape reads them as they are.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # A bucket's bound is inclusive: bisect_left finds the first bound >= value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[str, float]]:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*self.bounds, float("inf")), list(self.counts)):
            total += count
            buckets.append((floatToGoString(bound), total))  # type: ignore[no-untyped-call]
        return buckets


class _Collector(Collector):
    """Exposes a :class:`ServingMetrics` to its registry."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = weakref.ref(metrics)

    def collect(self) -> Iterator[Any]:
        metrics = self._metrics()
        if metrics is None:
            return
        requests = CounterMetricFamily(
            "interlock_requests",
            "Requests answered, by protocol, endpoint, model and status.",
            labels=["protocol", "endpoint", "model", "version", "status"],
        )
        for labels_of_count, count in list(metrics.requests.items()):
            requests.add_metric(labels_of_count, count)
        yield requests
        for name, documentation, labels, histograms in (
            (
                "interlock_request_duration_seconds",
                "Inference request latency in seconds.",
                ["protocol", "model"],
                metrics.latency,
            ),
            ("interlock_batch_size", "Rows per runtime call.", ["model", "version"], metrics.batch),
        ):
            family = HistogramMetricFamily(name, documentation, labels=labels)
            for key, histogram in list(histograms.items()):
                family.add_metric(key, histogram.cumulative(), histogram.sum)
            yield family
        depth = GaugeMetricFamily(
            "interlock_queue_depth",
            "Requests each model holds right now (waiting or running).",
            labels=["model", "version"],
        )
        repository = metrics.repository()
        if repository is not None:
            for model in repository.models():
                depth.add_metric([model.name, model.version], model.queue_depth)
        yield depth


class ServingMetrics:
    """The metrics of one repository; front ends call :meth:`observe_request`.

    Updated only on the event loop that serves the repository (front ends and batchers run
    there), so that counting a request costs a dict update rather than a lock per series.
    """

    def __init__(self, repository: Repository) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.repository = weakref.ref(repository)
        self.requests: dict[tuple[str, str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.batch: dict[tuple[str, str], _Histogram] = {}
        self.registry.register(_Collector(self))
        self._attached: set[int] = set()
        self.attach()

    def attach(self) -> None:
        """Start observing the batches of every loaded model (idempotent; call after load)."""
        repository = self.repository()
        if repository is None:
            return
        for model in repository.models():
            if id(model) in self._attached:
                continue
            self._attached.add(id(model))
            histogram = self.batch[model.name, model.version] = _Histogram(_BATCH_BUCKETS)
            model.batch_observers.append(histogram.observe)

    def observe_request(
        self,
        protocol: str,
        endpoint: str,
        model: str,
        version: str,
        status: str,
        seconds: float | None = None,
    ) -> None:
        """Count one answered request; ``seconds`` (inference only) feeds the latency."""
        key = (protocol, endpoint, model, version, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        if seconds is not None:
            histogram = self.latency.get((protocol, model))
            if histogram is None:
                histogram = self.latency[protocol, model] = _Histogram(_LATENCY_BUCKETS)
            histogram.observe(seconds)

    def render(self) -> bytes:
        """The text exposition format, for ``GET /metrics``."""
        self.attach()
        return generate_latest(self.registry)


_by_repository: weakref.WeakKeyDictionary[Repository, ServingMetrics] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def metrics_for(repository: Repository) -> ServingMetrics:
    """The one :class:`ServingMetrics` of ``repository`` (created on first call)."""
    with _lock:
        metrics = _by_repository.get(repository)
        if metrics is None:
            metrics = _by_repository[repository] = ServingMetrics(repository)
        return metrics
