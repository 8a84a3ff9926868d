"""A closed-loop gRPC load generator for ``ModelInfer``: N requests in flight, latency of each.

``wrk`` has no gRPC, so this is its equivalent for the benchmark: ``--processes`` worker
processes (spawned, so that none inherits a gRPC runtime) each open one channel and keep their
share of ``--concurrency`` calls in flight on a uvloop event loop. The request is a serialised
``ModelInferRequest`` read from a file and sent as raw bytes, and responses are not decoded,
so the client spends as little CPU as a Python client can and every server receives the very
same bytes. Workers warm up, then count the calls that complete inside a common measuring
window (wall clock), recording each call's latency. Prints one JSON line:

    {"requests": ..., "seconds": ..., "errors": ..., "p50_ms": ..., "p99_ms": ...}

    python grpc_load.py HOST:PORT REQUEST_FILE [--concurrency 8] [--processes 1]
                        [--duration 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from array import array
from typing import Any

METHOD = "/inference.GRPCInferenceService/ModelInfer"


async def _drive(
    address: str, payload: bytes, in_flight: int, begin: float, end: float
) -> tuple[array[float], int]:
    import grpc

    latencies: array[float] = array("d")
    errors = 0
    stop_at = end + 0.05
    async with grpc.aio.insecure_channel(address) as channel:
        await channel.channel_ready()
        # No serializers: the payload goes out as it is and the answer stays bytes.
        call = channel.unary_unary(METHOD)
        clock, wall = time.perf_counter, time.time

        async def loop() -> None:
            nonlocal errors
            while True:
                start = clock()
                try:
                    await call(payload)
                except grpc.aio.AioRpcError:
                    ok = False
                else:
                    ok = True
                now = wall()
                if now >= stop_at:
                    return
                if begin <= now < end:
                    if ok:
                        latencies.append(clock() - start)
                    else:
                        errors += 1

        await asyncio.gather(*(loop() for _ in range(in_flight)))
    return latencies, errors


def _worker(
    address: str, payload: bytes, in_flight: int, begin: float, end: float, results: Any
) -> None:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is part of interlock's serve extra
        runner = asyncio.run
    latencies, errors = runner(_drive(address, payload, in_flight, begin, end))
    results.put((latencies.tobytes(), errors))


def measure(
    address: str, payload: bytes, concurrency: int, processes: int, duration: float, warmup: float
) -> dict[str, float]:
    """Run the load and summarise it (requests, seconds, errors, p50_ms, p99_ms)."""
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    # The window opens once every worker had time to start, connect and warm up.
    begin = time.time() + 1.0 + warmup
    end = begin + duration
    workers = [
        context.Process(target=_worker, args=(address, payload, share, begin, end, results))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    latencies: array[float] = array("d")
    errors = 0
    for _ in workers:
        raw, failed = results.get(timeout=duration + warmup + 60)
        chunk: array[float] = array("d")
        chunk.frombytes(raw)
        latencies.extend(chunk)
        errors += failed
    for worker in workers:
        worker.join()
    ordered = sorted(latencies)
    count = len(ordered)

    def percentile(q: float) -> float:
        return ordered[min(count - 1, int(q * count))] * 1000 if count else float("nan")

    return {
        "requests": count,
        "seconds": duration,
        "errors": errors,
        "p50_ms": statistics.median(ordered) * 1000 if count else float("nan"),
        "p99_ms": percentile(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address")
    parser.add_argument("request_file")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    with open(args.request_file, "rb") as file:
        payload = file.read()
    summary = measure(
        args.address, payload, args.concurrency, args.processes, args.duration, args.warmup
    )
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
