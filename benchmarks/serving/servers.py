"""The servers of the serving benchmark that run in interlock's own virtualenv.

    python servers.py interlock STORE --http-port P --grpc-port G [--max-batch-size 32]
    python servers.py bare MODEL.onnx --http-port P
    python servers.py bare-grpc MODEL.onnx --grpc-port G

* ``interlock``: ``interlock.serve`` on a store, REST and gRPC on one event loop, in the
  foreground, exactly as ``interlock serve`` runs it (the CLI has no runtime options, and
  the benchmark needs onnxruntime's ``intra_op_num_threads=1`` on every side);
* ``bare``: the practical limit of a Python REST endpoint. A raw ASGI callable that reads the
  body, decodes it with orjson, runs onnxruntime on the first input and answers an
  OIP-shaped JSON response with orjson, with no validation, limits, errors or metrics, on
  uvicorn with httptools and uvloop, one worker, like interlock;
* ``bare-grpc``: the same for gRPC, the floor of any Python front end on ``grpc.aio``: a
  unary ``ModelInfer`` that does ``numpy.frombuffer``, onnxruntime and ``tobytes`` on uvloop,
  nothing else (no validation, limits, metrics or read timeout).

All run until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

THREADS = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}


def run_interlock(store: str, http_port: int, grpc_port: int, max_batch_size: int) -> None:
    """Serve every artifact in ``store`` until SIGINT/SIGTERM."""
    import interlock

    interlock.serve(
        [store],
        servers={"rest": http_port, "grpc": grpc_port},
        max_batch_size=max_batch_size,
        runtime_options=dict(THREADS),
        block=True,
    )


class BareApp:
    """Body -> orjson -> NumPy -> onnxruntime -> orjson, and nothing else."""

    def __init__(self, model_path: str) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS["intra_op_num_threads"]
        options.inter_op_num_threads = THREADS["inter_op_num_threads"]
        self.session = ort.InferenceSession(
            model_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.output = self.session.get_outputs()[0].name

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        import numpy as np
        import orjson

        if scope["type"] != "http":
            return
        if scope["method"] == "GET":  # the readiness probe: always ready once listening
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        tensor = orjson.loads(body)["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        y = self.session.run(None, {tensor["name"]: x})[0]
        answer = orjson.dumps(
            {
                "model_name": "mlp",
                "outputs": [
                    {"name": self.output, "datatype": "FP32", "shape": y.shape, "data": y.ravel()}
                ],
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def run_bare(model_path: str, http_port: int) -> None:
    """Serve ``model_path`` on 127.0.0.1:``http_port`` until SIGINT/SIGTERM."""
    import uvicorn

    uvicorn.run(
        BareApp(model_path),
        host="127.0.0.1",
        port=http_port,
        loop="uvloop",
        http="httptools",
        workers=1,
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


def run_bare_grpc(model_path: str, grpc_port: int) -> None:
    """Serve ``model_path`` over gRPC on 127.0.0.1:``grpc_port`` until SIGINT/SIGTERM."""
    import asyncio
    import signal

    import grpc
    import numpy as np
    import onnxruntime as ort
    import uvloop
    from interlock.serving.oip.proto import open_inference_grpc_pb2 as pb

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS["intra_op_num_threads"]
    options.inter_op_num_threads = THREADS["inter_op_num_threads"]
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    output = session.get_outputs()[0].name

    async def model_infer(request: Any, context: Any) -> Any:
        tensor = request.inputs[0]
        x = np.frombuffer(request.raw_input_contents[0], dtype=np.float32).reshape(tensor.shape)
        y = session.run(None, {tensor.name: x})[0]
        response = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
        response.outputs.add(name=output, datatype="FP32", shape=y.shape)
        response.raw_output_contents.append(y.tobytes())
        return response

    async def serve() -> None:
        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            model_infer,
            request_deserializer=pb.ModelInferRequest.FromString,
            response_serializer=pb.ModelInferResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(
                "inference.GRPCInferenceService", {"ModelInfer": handler}
            ),)
        )
        server.add_insecure_port(f"127.0.0.1:{grpc_port}")
        await server.start()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(1)

    uvloop.run(serve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["interlock", "bare", "bare-grpc"])
    parser.add_argument("source", help="a store root (interlock) or an ONNX file (bare)")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--max-batch-size", type=int, default=1)
    args = parser.parse_args()
    if args.kind == "interlock":
        run_interlock(args.source, args.http_port, args.grpc_port, args.max_batch_size)
    elif args.kind == "bare":
        run_bare(args.source, args.http_port)
    else:
        run_bare_grpc(args.source, args.grpc_port)


if __name__ == "__main__":
    main()
