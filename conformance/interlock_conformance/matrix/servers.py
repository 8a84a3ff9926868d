"""The servers section of the interop matrix (conformance.md CONF-055): every runtime behind
every server, called by the standard Triton clients, against the same runtime in process.

One event loop in a background thread serves everything; per runtime one model repository
holds the golden models it supports, and per server one handle serves that repository on a
free port of 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from interlock_conformance.matrix.cells import (
    CellFailure,
    ComponentRef,
    MatrixContext,
    MatrixSection,
    NotApplicable,
    evaluate,
    stage,
)

if TYPE_CHECKING:
    import numpy as np

    from interlock import ModelRepository, ServerHandle

__all__ = ["server_section"]

T = TypeVar("T")

#: Seconds a client waits for one call, and a server gets to start or stop.
_TIMEOUT_S = 30.0


class _ServingLoop:
    """An asyncio event loop running in a daemon thread, for the servers' handles."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="interlock-matrix-serve", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(_TIMEOUT_S)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_TIMEOUT_S)
        self.loop.close()


def _oip_datatype(dtype: str) -> str:
    from interlock.tensors import DTYPES

    return DTYPES[dtype].oip


def _equal(expected: np.ndarray, actual: np.ndarray | None, name: str) -> str | None:
    """Why ``actual`` is not element for element ``expected`` (dtype and shape included)."""
    import numpy as np

    if actual is None:
        return f"output {name!r} is missing from the response"
    if expected.dtype == object:
        decoded = [v.decode("utf-8") if isinstance(v, bytes) else v for v in actual.ravel()]
        if actual.shape != expected.shape or decoded != list(expected.ravel()):
            return (
                f"output {name!r} is {decoded!r} {list(actual.shape)}, expected "
                f"{expected.tolist()!r}"
            )
        return None
    if actual.dtype != expected.dtype or actual.shape != expected.shape:
        return (
            f"output {name!r} is {actual.dtype}{list(actual.shape)}, expected "
            f"{expected.dtype}{list(expected.shape)}"
        )
    same = np.asarray(actual == expected)
    if expected.dtype.kind == "f":
        same |= np.isnan(actual) & np.isnan(expected)
    if not same.all():
        where = tuple(int(i) for i in np.argwhere(~same)[0])
        return f"output {name!r}[{where}] is {actual[where]!r}, expected {expected[where]!r}"
    return None


def _finite(inputs: dict[str, np.ndarray]) -> bool:
    import numpy as np

    return all(v.dtype.kind != "f" or bool(np.isfinite(v).all()) for v in inputs.values())


class _Served:
    """The repositories (one per runtime) and handles (one per server and runtime)."""

    def __init__(self, context: MatrixContext) -> None:
        self.context = context
        self.loop = _ServingLoop()
        self.repositories: dict[str, ModelRepository] = {}
        self.handles: list[ServerHandle] = []

    def repository(self, runtime: ComponentRef, models: list[str]) -> ModelRepository:
        repository = self.repositories.get(runtime.name)
        if repository is None:
            from interlock import ModelRepository

            artifacts = [self.context.golden_artifact(m) for m in models]
            repository = ModelRepository(artifacts, runtime=runtime.name)
            self.repositories[runtime.name] = repository
            with stage("SRV-011", f"loading the golden models with runtime {runtime.name}"):
                repository.load()
        return repository

    def start(self, server: ComponentRef, repository: ModelRepository) -> ServerHandle:
        from interlock import ServerOptions

        component = server.require()
        with stage("SRV-002", f"creating a {server.name} server"):
            handle: ServerHandle = component.create(
                repository, ServerOptions(host="127.0.0.1", port=0)
            )
        with stage("SRV-003", f"starting the {server.name} server on 127.0.0.1"):
            self.loop.run(handle.start())
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        for repository in self.repositories.values():
            repository.start_draining()
        for handle in self.handles:
            try:
                self.loop.run(handle.stop(0.5))
            except Exception:  # a broken server's stop must not hide the matrix
                continue
        for repository in self.repositories.values():
            try:
                self.loop.run(repository.close())
            except Exception:
                continue
        self.loop.close()


def _client(protocol: str) -> Any:
    """``tritonclient.http`` or ``tritonclient.grpc``; not applicable when not installed."""
    import importlib

    try:
        return importlib.import_module(f"tritonclient.{protocol}")
    except ImportError as exc:
        raise NotApplicable(
            f"the standard client tritonclient.{protocol} cannot be imported ({exc}); install "
            "it with pip install 'interlock[conformance]'"
        ) from None


def _rest_calls(
    context: MatrixContext, handle: ServerHandle, runtime: str, models: list[str], binary: bool
) -> list[str]:
    client_module = _client("http")
    client = client_module.InferenceServerClient(
        handle.address, connection_timeout=_TIMEOUT_S, network_timeout=_TIMEOUT_S
    )
    checked = []
    mode = "binary" if binary else "JSON"
    try:
        for model in models:
            inputs = context.vectors.inputs(model)
            if not binary and not _finite(inputs):
                continue  # JSON numbers cannot carry NaN or infinities
            vector = context.vectors.models[model]
            tensors = []
            for spec in vector.inputs:
                value = inputs[spec.name]
                datatype = _oip_datatype(spec.dtype)
                tensor = client_module.InferInput(spec.name, list(value.shape), datatype)
                tensor.set_data_from_numpy(value, binary_data=binary)
                tensors.append(tensor)
            wanted = [
                client_module.InferRequestedOutput(output.name, binary_data=binary)
                for output in vector.outputs
            ]
            how = f"{model} over REST ({mode} tensors) with the Triton HTTP client"
            with stage("SRV-086", how):
                response = client.infer(model, tensors, outputs=wanted)
            expected = context.outputs(runtime, model)
            for name, value in expected.items():
                problem = _equal(value, response.as_numpy(name), name)
                if problem is not None:
                    raise CellFailure(
                        "SRV-086", f"{how}: {problem} (as {runtime} gives in process)"
                    )
            checked.append(f"{model} ({mode})")
    finally:
        client.close()
    return checked


def _grpc_calls(
    context: MatrixContext, handle: ServerHandle, runtime: str, models: list[str]
) -> list[str]:
    client_module = _client("grpc")
    client = client_module.InferenceServerClient(handle.address)
    checked = []
    try:
        for model in models:
            inputs = context.vectors.inputs(model)
            vector = context.vectors.models[model]
            tensors = []
            for spec in vector.inputs:
                value = inputs[spec.name]
                datatype = _oip_datatype(spec.dtype)
                tensor = client_module.InferInput(spec.name, list(value.shape), datatype)
                tensor.set_data_from_numpy(value)
                tensors.append(tensor)
            how = f"{model} over gRPC with the Triton gRPC client"
            expected = context.outputs(runtime, model)
            with stage("SRV-101", how):
                response = client.infer(model, tensors, client_timeout=_TIMEOUT_S)
                results = {name: response.as_numpy(name) for name in expected}
            for name, value in expected.items():
                problem = _equal(value, results[name], name)
                if problem is not None:
                    raise CellFailure(
                        "SRV-139", f"{how}: {problem} (as {runtime} gives in process)"
                    )
            checked.append(model)
    finally:
        client.close()
    return checked


def _server_runtime(
    context: MatrixContext, served: _Served, server: ComponentRef, runtime: ComponentRef
) -> list[str]:
    server.require()
    runtime.require()
    claims = server.capabilities
    if not claims & {"rest", "grpc"}:
        raise NotApplicable(
            f"server {server.name!r} claims neither 'rest' nor 'grpc': no standard client speaks it"
        )
    models = [m.name for m in context.model_vectors() if context.supports(runtime, m)]
    for model in models:
        context.outputs(runtime.name, model)  # a broken runtime fails here, not the server
    handle = served.start(server, served.repository(runtime, models))
    if "rest" in claims:
        checked = _rest_calls(context, handle, runtime.name, models, binary=False)
        if "rest.binary-data" in claims:
            checked += _rest_calls(context, handle, runtime.name, models, binary=True)
        return checked
    return _grpc_calls(context, handle, runtime.name, models)


def _requirements(server: ComponentRef) -> list[str]:
    if "rest" in server.capabilities:
        return ["CONF-055", "RT-003", "RT-020", "SRV-055", "SRV-086"]
    return ["CONF-055", "RT-003", "RT-020", "SRV-101", "SRV-139"]


def server_section(context: MatrixContext) -> MatrixSection:
    """Every server with every runtime (CONF-055)."""
    servers = context.components("server")
    runtimes = context.components("runtime")
    served = _Served(context)
    try:
        cells = [
            evaluate(
                server.name,
                runtime.name,
                _requirements(server),
                partial(_server_runtime, context, served, server, runtime),
            )
            for server in servers
            for runtime in runtimes
        ]
    finally:
        served.close()
    return MatrixSection(
        name="servers",
        title="the golden models served by the row's server with the column's runtime, called "
        "by the Triton client and compared with the runtime in process",
        requirement="CONF-055",
        row_kind="server",
        column_kind="runtime",
        rows=[s.name for s in servers],
        columns=[r.name for r in runtimes],
        cells=cells,
    )
