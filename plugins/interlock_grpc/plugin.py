"""Hook implementations of the ``interlock_grpc`` plugin.

Only light imports here: grpc and the generated stubs are imported when a server is created.
"""

from __future__ import annotations

from interlock import hookimpl
from interlock.servers import Server
from interlock_grpc.server import GrpcServer


@hookimpl
def interlock_servers() -> list[Server]:
    """The ``grpc`` server: the Open Inference Protocol over gRPC."""
    return [GrpcServer()]
