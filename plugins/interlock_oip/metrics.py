"""Prometheus metrics of a model repository, shared by every front end that serves it.

One :class:`ServingMetrics` per repository (:func:`metrics_for`), in its own
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
from collections.abc import Iterator
from typing import Any

from interlock._repository import ModelRepository
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

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


class _QueueDepth(Collector):
    def __init__(self, repository: ModelRepository) -> None:
        self._repository = weakref.ref(repository)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "interlock_queue_depth",
            "Requests each model holds right now (waiting or running).",
            labels=["model", "version"],
        )
        repository = self._repository()
        if repository is not None:
            for model in repository.models():
                family.add_metric([model.name, model.version], model.queue_depth)
        yield family


class ServingMetrics:
    """The metrics of one repository; front ends call :meth:`observe_request`."""

    def __init__(self, repository: ModelRepository) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._repository = weakref.ref(repository)
        self._requests = Counter(
            "interlock_requests",
            "Requests answered, by protocol, endpoint, model and status.",
            ["protocol", "endpoint", "model", "version", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "interlock_request_duration_seconds",
            "Inference request latency in seconds.",
            ["protocol", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch = Histogram(
            "interlock_batch_size",
            "Rows per runtime call.",
            ["model", "version"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_QueueDepth(repository))
        self._children: dict[tuple[str, ...], Any] = {}
        self._attached: set[int] = set()
        self.attach()

    def attach(self) -> None:
        """Start observing the batches of every loaded model (idempotent; call after load)."""
        repository = self._repository()
        if repository is None:
            return
        for model in repository.models():
            if id(model) in self._attached:
                continue
            self._attached.add(id(model))
            histogram = self._batch.labels(model.name, model.version)
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
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._requests.labels(*key)
        child.inc()
        if seconds is not None:
            lkey = (protocol, model)
            latency = self._children.get(lkey)
            if latency is None:
                latency = self._children[lkey] = self._latency.labels(protocol, model)
            latency.observe(seconds)

    def render(self) -> bytes:
        """The text exposition format, for ``GET /metrics``."""
        self.attach()
        return generate_latest(self.registry)


_by_repository: weakref.WeakKeyDictionary[ModelRepository, ServingMetrics] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def metrics_for(repository: ModelRepository) -> ServingMetrics:
    """The one :class:`ServingMetrics` of ``repository`` (created on first call)."""
    with _lock:
        metrics = _by_repository.get(repository)
        if metrics is None:
            metrics = _by_repository[repository] = ServingMetrics(repository)
        return metrics
