"""A gRPC server that answers ``ModelInfer`` with typed ``contents`` (``fp32_contents``, ...)
instead of ``raw_output_contents``.

Breaks SRV-136 (outputs travel in ``raw_output_contents`` and never in ``contents``), so the
Triton gRPC client, which decodes only the raw form, gets no data (SRV-101). Otherwise it is
the reference gRPC server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from interlock.servers import Repository
from interlock import Server, ServerOptions, hookimpl
from interlock_grpc.server import GrpcServer

#: OIP datatype -> (NumPy dtype of the raw bytes, InferTensorContents field).
_FIELDS = {
    "BOOL": ("bool", "bool_contents"),
    "INT8": ("<i1", "int_contents"),
    "INT16": ("<i2", "int_contents"),
    "INT32": ("<i4", "int_contents"),
    "INT64": ("<i8", "int64_contents"),
    "UINT8": ("<u1", "uint_contents"),
    "UINT16": ("<u2", "uint_contents"),
    "UINT32": ("<u4", "uint_contents"),
    "UINT64": ("<u8", "uint64_contents"),
    "FP32": ("<f4", "fp32_contents"),
    "FP64": ("<f8", "fp64_contents"),
}


def _typed(response: Any) -> Any:
    import numpy as np

    raw = list(response.raw_output_contents)
    del response.raw_output_contents[:]
    for output, data in zip(response.outputs, raw):
        dtype, field = _FIELDS.get(output.datatype, (None, None))
        if field is None:  # FP16 and BYTES have no simple typed form here: left out
            continue
        values = np.frombuffer(data, dtype=dtype)
        getattr(output.contents, field).extend(values.tolist())  # the broken part
    return response


@cache
def _service_class() -> type:
    # Built on first use: the reference service imports protobuf stubs (PLG-006).
    from interlock_grpc._service import InferenceService

    class TypedRepliesService(InferenceService):
        async def ModelInfer(self, requests: Any, context: Any) -> Any:  # type: ignore[override]
            response = await super().ModelInfer(requests, context)
            return None if response is None else _typed(response)

    return TypedRepliesService


class TypedRepliesServer(GrpcServer):
    name = "grpc-typed-replies"
    priority = 0
    description = "OIP gRPC replying in typed contents (deliberately broken)"

    def create(self, repository: Repository, options: ServerOptions) -> Any:
        handle = super().create(repository, options)
        handle.service.__class__ = _service_class()
        return handle


@hookimpl
def interlock_servers() -> list[Server]:
    return [TypedRepliesServer()]
