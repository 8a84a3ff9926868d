"""Regenerate the Python stubs of the Open Inference Protocol gRPC service.

    python scripts/generate_grpc.py           # rewrite the committed stubs
    python scripts/generate_grpc.py --check   # exit 1 if the committed stubs are stale

The proto lives at ``sdk/interlock/serving/oip/proto/open_inference_grpc.proto``; the stubs
(``*_pb2.py``, ``*_pb2.pyi``, ``*_pb2_grpc.py``) are written next to it by the ``grpcio-tools``
protoc, then adjusted in one way: the messages are registered in a private descriptor pool
instead of protobuf's process-wide default pool. Other software defines the same protobuf
package (the Triton client ships its own ``inference`` messages), and two files that define
``inference.ModelInferRequest`` cannot share one pool; with a private pool they coexist in one
process while the wire format (field numbers) and the service path stay identical.

The output depends only on the proto and the ``grpcio-tools`` version, so it is reproducible;
``tests/test_grpc_stubs.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "sdk"  # the import root of the proto path below
PROTO = Path("interlock/serving/oip/proto/open_inference_grpc.proto")  # relative to PLUGINS
STUB_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

_DEFAULT_POOL_LINE = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL_LINES = (
    "# interlock: a private pool, so that another definition of the `inference` package (the\n"
    "# Triton client's, for one) can live in the same process; see scripts/generate_grpc.py.\n"
    "POOL = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = POOL.AddSerializedFile("
)


def _stub_names() -> list[str]:
    stem = PROTO.name.removesuffix(".proto")
    return [stem + suffix for suffix in STUB_SUFFIXES]


def generate(out_dir: Path) -> dict[str, bytes]:
    """Run protoc on the proto and return ``{file name: contents}`` of the adjusted stubs.

    ``out_dir`` is scratch space for protoc.
    """
    from grpc_tools import protoc  # a test/dev dependency only

    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PLUGINS}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO),
    ]
    status = protoc.main(args)
    if status != 0:
        raise SystemExit(f"protoc failed with status {status} on {PLUGINS / PROTO}")
    stubs: dict[str, bytes] = {}
    for name in _stub_names():
        data = (out_dir / PROTO.parent / name).read_bytes()
        if name.endswith("_pb2.py"):
            text = data.decode("utf-8")
            if text.count(_DEFAULT_POOL_LINE) != 1:
                raise SystemExit(
                    f"protoc output for {name} no longer has the expected descriptor-pool line; "
                    "update scripts/generate_grpc.py for this grpcio-tools version"
                )
            data = text.replace(_DEFAULT_POOL_LINE, _PRIVATE_POOL_LINES).encode("utf-8")
        stubs[name] = data
    return stubs


def main(argv: list[str] | None = None) -> int:
    """Write the stubs, or with ``--check`` report whether the committed ones are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare instead of writing; exit 1 if stale"
    )
    options = parser.parse_args(argv)
    target = PLUGINS / PROTO.parent
    with tempfile.TemporaryDirectory() as scratch:
        stubs = generate(Path(scratch))
    stale = [
        name
        for name, data in stubs.items()
        if not (target / name).is_file() or (target / name).read_bytes() != data
    ]
    if options.check:
        if stale:
            print(
                "stale gRPC stubs: " + ", ".join(stale) + "; run python scripts/generate_grpc.py",
                file=sys.stderr,
            )
            return 1
        print("gRPC stubs are up to date")
        return 0
    for name in stale:
        # write-then-rename, so an interrupted run never leaves a half-written stub
        tmp = target / f".{name}.tmp"
        tmp.write_bytes(stubs[name])
        tmp.replace(target / name)
    print(f"wrote {len(stale)} stub file(s) in {target}" if stale else "stubs already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
