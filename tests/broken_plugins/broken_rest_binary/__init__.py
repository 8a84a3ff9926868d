"""A REST server that sends binary output tensors big-endian (the binary tensor data extension
is little-endian); JSON outputs are right.

Breaks SRV-083 (binary outputs are in the encoding of SRV-082: little-endian, row-major,
unpadded), which the standard Triton client relies on (SRV-086). Otherwise it is the reference
REST server.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from interlock.servers import Repository
from interlock import Server, ServerHandle, ServerOptions, hookimpl
from interlock_rest.server import RestServer

_ITEMSIZE = {
    **dict.fromkeys(["INT16", "UINT16", "FP16"], 2),
    **dict.fromkeys(["INT32", "UINT32", "FP32"], 4),
    **dict.fromkeys(["INT64", "UINT64", "FP64"], 8),
}


def _big_endian(body: bytes, header_length: int) -> bytes:
    import numpy as np

    header = json.loads(body[:header_length])
    parts, offset = [body[:header_length]], header_length
    for output in header.get("outputs", []):
        size = (output.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        segment = body[offset : offset + size]
        offset += size
        width = _ITEMSIZE.get(output["datatype"])
        if width:  # the broken part: each element's bytes reversed
            segment = np.frombuffer(segment, dtype=f"<u{width}").byteswap().tobytes()
        parts.append(segment)
    return b"".join(parts) + body[offset:]


def _mangle(answer: Any) -> Any:
    status, body, content_type, extra = answer
    for key, value in extra:
        if key == b"inference-header-content-length":
            body = _big_endian(body, int(value))
    return status, body, content_type, extra


@cache
def _handle_class() -> type[ServerHandle]:
    # Built on first use: the reference handle imports httptools and orjson (PLG-006).
    from interlock_rest._handle import RestHandle
    from interlock_rest.app import RestApp

    class BigEndianApp(RestApp):
        def handle(self, request: Any) -> Any:
            answer = super().handle(request)
            if isinstance(answer, tuple):
                return _mangle(answer)

            async def later() -> Any:
                return _mangle(await answer)

            return later()

    class BigEndianHandle(RestHandle):
        async def start(self) -> None:
            await super().start()
            assert self.app is not None
            self.app.__class__ = BigEndianApp

    return BigEndianHandle


class BigEndianServer(RestServer):
    name = "rest-big-endian"
    priority = 0
    description = "OIP REST sending binary tensors big-endian (deliberately broken)"

    def create(self, repository: Repository, options: ServerOptions) -> Any:
        handle = super().create(repository, options)
        handle.__class__ = _handle_class()
        return handle


@hookimpl
def interlock_servers() -> list[Server]:
    return [BigEndianServer()]
