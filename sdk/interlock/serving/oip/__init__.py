"""The Open Inference Protocol codec shared by interlock's REST and gRPC servers.

A support package, not a plugin (it registers no component): datatype names
(:mod:`~interlock.serving.oip.datatypes`), tensor decoding and encoding for JSON ``data`` (flat
or nested) and for the binary tensor data extension (:mod:`~interlock.serving.oip.tensors`),
the errors a request can cause and their HTTP and gRPC status
(:mod:`~interlock.serving.oip.errors`), the bearer token check
(:mod:`~interlock.serving.oip.auth`) and the Prometheus metrics of a model repository
(:mod:`~interlock.serving.oip.metrics`). Vendors writing their own front end may use it too.
"""

from __future__ import annotations

__all__: list[str] = []
