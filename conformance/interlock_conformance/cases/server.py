"""Server cases (spec: serving.md): the component is started the way ``interlock.serve`` starts
one, over every golden model plus a model served in two versions, and the server checker
(:mod:`interlock_conformance.oip.checker`) runs each of its checks against it over the protocol
the component claims (``rest`` over HTTP, ``grpc`` over gRPC), comparing values with the
golden vectors. Lifecycle cases (binding, refusing settings, draining, stopping, limits) start
servers of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import onnx
import pytest

import interlock
from interlock import Server

from interlock_conformance.cases._serving import SERVER_NAME, TOKEN, RunningComponent
from interlock_conformance.attribution import attribute
from interlock_conformance.markers import capability, component_kind, requirement
from interlock_conformance.oip.checker import registered_checks, run_check
from interlock_conformance.oip.checks import Check, Expectations, ExpectedModel
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("server")

#: A model served in two versions (the golden perceptron, twice, with different metadata).
VERSIONED = "versioned"


def _check_params() -> list[Any]:
    return [
        pytest.param(check, id=check.id.replace("::", "-"),
                     marks=[requirement(*check.requirements), capability(*check.capabilities)])
        for check in registered_checks()
    ]


def _expectations(vectors: VectorIndex) -> Expectations:
    models = {}
    for name, vector in vectors.models.items():
        models[name] = ExpectedModel(vectors.inputs(name), vectors.outputs(name),
                                     vector.tolerance.rtol, vector.tolerance.atol, ["1"])
    mlp = vectors.models["mlp_float32"]
    models[VERSIONED] = ExpectedModel(vectors.inputs("mlp_float32"), vectors.outputs("mlp_float32"),
                                      mlp.tolerance.rtol, mlp.tolerance.atol, ["1", "2"])
    return Expectations(server_name=SERVER_NAME, server_version=interlock.__version__,
                        rest_platform="onnx_onnxv1", grpc_platform="onnx_onnxv1", models=models)


@pytest.fixture(scope="session")
def serving_store(golden_store: str, vectors: VectorIndex) -> str:
    """The golden store, plus ``versioned`` in versions 1 and 2."""
    model = onnx.load_from_string(vectors.model_bytes("mlp_float32"))
    for version in ("1", "2"):
        if version not in interlock.open_store(golden_store).versions(VERSIONED):
            interlock.save_artifact(model, golden_store, name=VERSIONED, version=version,
                                    metadata={"copy": version})
    return golden_store


@pytest.fixture(scope="session")
def running_servers() -> Iterator[dict[str, RunningComponent]]:
    """Servers started by the cases, by component name; stopped when the run ends."""
    servers: dict[str, RunningComponent] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def served(component: Server, serving_store: str, vectors: VectorIndex,
           running_servers: dict[str, RunningComponent]) -> RunningComponent:
    """The component serving the golden models (started once per run, with a bearer token
    when it claims authentication)."""
    server = running_servers.get(component.name)
    if server is None:
        claims = component.capabilities
        token = TOKEN if {"rest.auth", "grpc.auth"} & set(claims) else None
        server = RunningComponent(component, [serving_store], token=token)
        running_servers[component.name] = server
        models = sorted(vectors.models) + [VERSIONED]
        server.target = server.target_for(models, expected=_expectations(vectors))
    return server


@pytest.mark.parametrize("oip_check", _check_params())
def test_open_inference_protocol(
    component: Server, oip_check: Check, served: RunningComponent
) -> None:
    """One check of the server checker against the component serving the golden models; a
    failure the checker attributes to one requirement (on every model it failed for) is that
    requirement's, as in a report of ``interlock certify --server``."""
    assert served.target is not None
    results = run_check(oip_check, served.target)
    assert results, f"{oip_check.id} found nothing to check among the golden models"
    failed = [r for r in results if r.outcome == "failed"]
    if failed:
        failures = [f"{r.id}: {r.message}" for r in failed]
        error = AssertionError("; ".join(failures[:5]) + (
            f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""))
        causes = {r.root_cause for r in failed}
        cause = causes.pop() if len(causes) == 1 else None
        raise attribute(error, cause) if cause else error


@requirement("SRV-001", "PLG-011")
def test_server_component_declares_itself(component: Server) -> None:
    """A named interlock.Server with an integer default port, claiming a protocol."""
    assert isinstance(component, Server) and isinstance(component.name, str) and component.name
    assert isinstance(component.default_port, int) and 0 <= component.default_port <= 65535
    assert {"rest", "grpc"} & set(component.capabilities), (
        f"server {component.name!r} claims neither 'rest' nor 'grpc'"
    )


@requirement("SRV-104")
@capability("grpc")
def test_grpc_default_port(component: Server) -> None:
    """A gRPC server's default port is 8001."""
    assert component.default_port == 8001, f"default_port is {component.default_port}"
