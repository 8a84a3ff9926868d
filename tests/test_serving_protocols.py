"""Servers take any ``interlock.servers.Repository``, and ``serve()`` knows no server names."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Callable, Mapping, Sequence

import interlock
import numpy as np
import pytest
from interlock import ServerOptions, Signature, TensorSpec
from interlock.servers import Model, Repository
from interlock_conformance import requirement


class Tripling:
    """A model that is not an artifact: three times its input, computed right here."""

    name = "triple"
    version = "7"
    versions = ["7"]
    platform = "python"
    ready = True
    queue_depth = 0

    def __init__(self) -> None:
        spec = [TensorSpec(name="x", dtype="float32", shape=["batch", 2])]
        self.signature = Signature(
            inputs=spec, outputs=[TensorSpec(name="y", dtype="float32", shape=["batch", 2])]
        )
        self.batch_observers: list[Callable[[int], None]] = []
        self.calls = 0

    async def infer(self, inputs: dict[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        self.calls += 1
        return {"y": inputs["x"] * 3}

    def infer_now(self, inputs: dict[str, np.ndarray]) -> Mapping[str, np.ndarray] | None:
        return None  # always the awaited path


class OneModelSource:
    """A vendor's own model source, written against the protocol alone (not the kit's class)."""

    def __init__(self, model: Tripling) -> None:
        self.model = model
        self.ready = True

    def get(self, name: str, version: str | None = None) -> Tripling:
        if name != self.model.name or version not in (None, "", self.model.version):
            raise interlock.ArtifactNotFoundError(f"model {name!r} is not served here")
        return self.model

    def models(self) -> Sequence[Tripling]:
        return [self.model]


def test_the_protocols_describe_the_hand_written_source() -> None:
    # What mypy proves for the kit's classes, checked here at run time for the test's own.
    source = OneModelSource(Tripling())
    members = [m for m in dir(Repository) if not m.startswith("_")]
    assert sorted(members) == ["get", "models", "ready"]
    assert all(hasattr(source, m) for m in members)
    assert all(hasattr(source.model, m) for m in dir(Model) if not m.startswith("_"))


@requirement("SRV-002", "SRV-006")
def test_the_rest_server_serves_a_hand_written_repository_over_loopback() -> None:
    model = Tripling()
    source = OneModelSource(model)
    server = interlock.get_registry().get("server", "rest")
    handle = server.create(source, ServerOptions(port=0))

    def call(path: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
        conn = http.client.HTTPConnection(handle.host, handle.port, timeout=10)
        try:
            conn.request("POST" if body is not None else "GET", path, body=body)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    async def main() -> list[tuple[int, dict[str, object]]]:
        await handle.start()
        try:
            request = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                                   "data": [1, 2, 3, 4]}]}
            return [
                await asyncio.to_thread(call, "/v2/health/ready"),
                await asyncio.to_thread(call, "/v2/models/triple"),
                await asyncio.to_thread(call, "/v2/models/triple/infer", json.dumps(request).encode()),
                await asyncio.to_thread(call, "/v2/models/other/infer", json.dumps(request).encode()),
            ]
        finally:
            await handle.stop(1.0)

    ready, metadata, answer, unknown = asyncio.run(main())
    assert handle.url.startswith("http://127.0.0.1:")
    assert ready == (200, {"ready": True})
    assert metadata[0] == 200 and metadata[1]["versions"] == ["7"]
    assert metadata[1]["platform"] == "python"
    status, body = answer
    assert status == 200, body
    assert body["model_name"] == "triple" and body["model_version"] == "7"
    assert body["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [2, 2],
                                "data": [3.0, 6.0, 9.0, 12.0]}]
    assert model.calls == 1
    assert unknown[0] == 404 and "not served here" in str(unknown[1]["error"])


@requirement("SRV-001", "SRV-098")
def test_serve_starts_every_installed_server_whatever_its_name(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock_rest.server import RestServer
    from serving_models import mlp_model

    class AcmeServer(RestServer):
        name = "acme"
        description = "a vendor's server of a name interlock does not know"
        default_port = 0  # any free port: the default is what this test starts it on

    class AcmePlugin:
        @interlock.hookimpl
        def interlock_servers(self) -> list[interlock.Server]:
            return [AcmeServer()]

    store = str(tmp_path) + "/store"
    interlock.save_artifact(mlp_model(0), store, name="mlp", version="1")
    # Only the vendor's server is installed, so the default ports of the reference ones
    # (which other processes on this machine may hold) are not needed.
    monkeypatch.setenv("INTERLOCK_BLOCK_PLUGINS", "interlock_rest,interlock_grpc")
    interlock.reset_registry()
    interlock.get_registry().register(AcmePlugin(), name="acme")
    with interlock.serve([store], block=False) as running:
        assert list(running.handles) == ["acme"]
        conn = http.client.HTTPConnection(running.address("acme"), timeout=10)
        try:
            conn.request("GET", "/v2/models/mlp/ready")
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    with pytest.raises(interlock.PluginError, match=r"no server named 'rest' \(installed: acme\)"):
        interlock.serve([store], servers={"rest": 0}, block=False)
