"""Coverage-guided fuzz targets (atheris, libFuzzer) for the parsers a server exposes.

Each target takes the fuzzer's bytes and fails (raises) only on what must never happen:

* ``http1``: the REST server's HTTP/1.1 request path (httptools, the head checks, the REST
  application with its routing, JSON and binary decoding, a real model), fed in pieces;
  any error it logs as unexpected, or that escapes, is a finding;
* ``http2``: the gRPC server's HTTP/2 frame parser, HPACK header blocks and the gRPC layer
  over them, after a valid preface; the connection may end (GOAWAY), never fail;
* ``grpc_message``: a ModelInferRequest message, parsed and decoded for a one-input model;
  only protobuf's DecodeError and interlock's typed errors are allowed;
* ``rest_body``: a REST inference body (JSON, optionally followed by binary tensor data);
  only interlock's typed errors are allowed;
* ``manifest``: an artifact's ``manifest.json``; only ArtifactIntegrityError is allowed.

``python tests/fuzz_targets.py TARGET [libFuzzer options] [corpus dir]`` runs one target
(``-max_total_time=900`` for the long runs docs/serving.md reports). tests/test_fuzz_servers.py
replays the saved inputs under ``tests/fuzz_corpus/<target>/`` and runs each target briefly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import atheris

with atheris.instrument_imports(include=["interlock", "interlock_rest", "interlock_grpc", "hpack"]):
    import interlock
    from google.protobuf.message import DecodeError
    from interlock import ModelRepository, ServerOptions
    from interlock.artifacts._manifest import parse_manifest
    from interlock.errors import ArtifactIntegrityError, InterlockError
    from interlock.serving.oip.metrics import metrics_for
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb
    from interlock_grpc._codec import decode_inputs
    from interlock_grpc._h2 import ConnectionLimits
    from interlock_grpc._service import InferenceService
    from interlock_grpc._transport import GrpcConnection, GrpcEndpoint
    from interlock_rest._http import HttpServer
    from interlock_rest._http_connection import HttpConnection
    from interlock_rest.app import RestApp
    from interlock_rest.infer import ModelView, parse_request
    # Imported here so that they are instrumented too (the facades import lazily).
    import interlock.serving.oip.tensors  # noqa: F401
    import interlock.tensors._checks  # noqa: F401
    import interlock_grpc._h2_control  # noqa: F401
    import interlock_rest._http_checks  # noqa: F401

sys.path.insert(0, os.path.dirname(__file__))
from attack_server import sum_model  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"

#: Findings a target knows of but does not own: (target, exception type) -> the issue. The
#: input stays in the corpus; once fixed, the entry goes and the input must pass.
KNOWN: dict[tuple[str, type[BaseException]], str] = {}


class _Errors(logging.Handler):
    """Collects what the servers log as unexpected (ERROR and above)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Transport:
    """Enough of an asyncio transport for a protocol to write to and close."""

    def __init__(self) -> None:
        self.out = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out += len(data)

    def writelines(self, parts: Any) -> None:
        self.out += sum(len(p) for p in parts)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def is_reading(self) -> bool:
        return not self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


@functools.cache
def _world() -> dict[str, Any]:
    """One event loop, repository, REST and gRPC endpoint for every run of a target."""
    root = tempfile.mkdtemp(prefix="interlock-fuzz-") + "/store"
    interlock.save_artifact(sum_model(), root, name="sum", version="1")
    repository = ModelRepository([root])
    repository.load()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    errors = _Errors()
    for name in ("interlock.rest", "interlock.grpc"):
        logging.getLogger(name).addHandler(errors)
    options = ServerOptions(port=0, max_request_bytes=1 << 20)

    async def build() -> dict[str, Any]:
        app = RestApp(repository, options, metrics_for(repository))
        http = HttpServer(app, read_timeout_s=5, keep_alive_s=5, max_connections=None,
                          max_body_bytes=1 << 20)
        limits = ConnectionLimits(read_timeout_s=5, keep_alive_s=5)
        service = InferenceService(repository, max_in_flight=64)
        endpoint = GrpcEndpoint(service.methods(), limits, max_request_bytes=1 << 20,
                                max_response_bytes=None)
        return {"http": http, "endpoint": endpoint}

    world = loop.run_until_complete(build())
    world.update(loop=loop, errors=errors, view=ModelView(repository.get("sum")))
    return world


def _pieces(data: bytes) -> list[bytes]:
    """The input cut where its first byte says (so the fuzzer explores the splits too)."""
    if not data:
        return []
    step = 1 + data[0] * 7
    body = data[1:]
    return [body[i : i + step] for i in range(0, len(body), step)] or [b""]


def _drive(protocol: Any, pieces: list[bytes]) -> None:
    world = _world()
    loop: asyncio.AbstractEventLoop = world["loop"]
    errors: _Errors = world["errors"]
    errors.records.clear()

    async def run() -> None:
        transport = _Transport()
        protocol.connection_made(transport)
        for piece in pieces:
            if transport.closing:
                break
            protocol.data_received(piece)
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        for _ in range(3):
            await asyncio.sleep(0)

    loop.run_until_complete(run())
    if errors.records:
        record = errors.records[0]
        raise AssertionError(f"logged as unexpected: {record.getMessage()}") from (
            record.exc_info[1] if record.exc_info else None
        )


def http1(data: bytes) -> None:
    world = _world()
    world["loop"].run_until_complete(asyncio.sleep(0))

    async def make() -> HttpConnection:
        return HttpConnection(world["http"])

    _drive(world["loop"].run_until_complete(make()), _pieces(data))


def http2(data: bytes) -> None:
    world = _world()
    connections: set[Any] = set()

    async def make() -> GrpcConnection:
        return GrpcConnection(world["endpoint"], connections)

    pieces = _pieces(data)
    _drive(world["loop"].run_until_complete(make()), [PREFACE, *pieces])


def grpc_message(data: bytes) -> None:
    try:
        request = pb.ModelInferRequest.FromString(data)
    except DecodeError:
        return
    try:
        decode_inputs(request, label="model 'sum:1'", declared=["x"])
    except InterlockError:
        pass


def rest_body(data: bytes) -> None:
    view = _world()["view"]
    header_length = None if not data or data[0] < 128 else int.from_bytes(data[1:3], "little")
    try:
        parse_request(view, data[3:], header_length, 65_536)
    except InterlockError:
        pass


def manifest(data: bytes) -> None:
    try:
        parse_manifest(data, where="fuzz/manifest.json")
    except ArtifactIntegrityError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "http1": http1,
    "http2": http2,
    "grpc_message": grpc_message,
    "rest_body": rest_body,
    "manifest": manifest,
}


def run_one(name: str, data: bytes) -> None:
    """Run target ``name`` on ``data``; a known finding (see :data:`KNOWN`) passes."""
    try:
        TARGETS[name](data)
    except Exception as exc:  # noqa: BLE001 - sorted out here
        if (name, type(exc)) not in KNOWN:
            raise


def main() -> None:
    name = sys.argv[1]
    target = TARGETS[name]
    _world()  # built once, before the fuzzer starts counting

    def one(data: bytes) -> None:
        try:
            target(data)
        except Exception as exc:  # noqa: BLE001 - a known finding is not a new crash
            if (name, type(exc)) not in KNOWN:
                raise

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
