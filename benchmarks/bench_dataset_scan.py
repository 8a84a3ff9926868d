"""Scan throughput: ``interlock.open_dataset(...).to_reader()`` against the raw libraries.

Writes a multi-million-row Parquet file in a temporary directory, then times full, projected
and filtered scans both ways, interleaving repetitions (alternating which goes first) and
reporting the median wall-clock throughput and, less sensitive to other processes on a shared
machine, the median of the per-repetition ratios and the ratio of CPU time spent. Both sides
open the dataset and iterate every batch in Python, counting rows; the target is interlock
>= 0.97x raw pyarrow.

The same rows are also written as a Delta table (deltalake's ``write_deltalake``) and scanned
through interlock's ``delta`` format against raw deltalake,
``DeltaTable(path).to_pyarrow_dataset()``; the target is >= 0.95x.

    python benchmarks/bench_dataset_scan.py [--rows 5000000] [--repeats 7] [--formats parquet,delta]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

import interlock


def make_table(rows: int) -> pa.Table:
    """A few numeric columns and two string columns (one low-cardinality)."""
    rng = np.random.default_rng(42)
    ids = pa.array(np.arange(rows, dtype=np.int64))
    labels = pc.binary_join_element_wise("item-", pc.cast(pc.divide(ids, 97), pa.string()), "")
    return pa.table(
        {
            "id": ids,
            "x": rng.random(rows),
            "y": rng.normal(size=rows),
            "count": rng.integers(0, 1000, size=rows, dtype=np.int32),
            "category": pa.array(np.array(["red", "green", "blue", "amber"])[ids.to_numpy() % 4]),
            "label": labels,
        }
    )


def scan_raw(path: Path, columns: list[str] | None, filter: pc.Expression | None) -> int:
    dataset = ds.dataset(path, format="parquet")
    return sum(b.num_rows for b in dataset.to_batches(columns=columns, filter=filter))


def scan_raw_delta(path: Path, columns: list[str] | None, filter: pc.Expression | None) -> int:
    from deltalake import DeltaTable

    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    return sum(b.num_rows for b in dataset.to_batches(columns=columns, filter=filter))


def scan_interlock(path: Path, columns: list[str] | None, filter: pc.Expression | None) -> int:
    dataset = interlock.open_dataset(path)
    return sum(b.num_rows for b in dataset.to_reader(columns=columns, filter=filter))


Scan = Callable[[Path, "list[str] | None", "pc.Expression | None"], int]
Scenario = tuple[str, "list[str] | None", "pc.Expression | None"]


def timed(scan: Callable[[], int]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the whole process (all of pyarrow's threads), rows."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = scan()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def compare(path: Path, raw_scan: Scan, repeats: int, scenarios: list[Scenario]) -> None:
    """Time each scenario raw and through interlock, interleaved, and print one line each."""
    header = (
        f"{'scenario':28} {'rows':>10} {'raw rows/s':>11} {'interlock rows/s':>16} "
        f"{'ratio':>6} {'paired':>8} {'CPU ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, columns, filter in scenarios:
        raw: Callable[[], int] = lambda: raw_scan(path, columns, filter)  # noqa: E731
        ours: Callable[[], int] = lambda: scan_interlock(path, columns, filter)  # noqa: E731
        raw(), ours()  # warm the page cache and interlock's plugin registry
        raw_times: list[float] = []
        our_times: list[float] = []
        raw_cpu: list[float] = []
        our_cpu: list[float] = []
        rows = -1
        for repeat in range(repeats):
            order = [(raw, raw_times, raw_cpu), (ours, our_times, our_cpu)]
            for scan, times, cpus in order if repeat % 2 == 0 else reversed(order):
                seconds, cpu, counted = timed(scan)
                times.append(seconds)
                cpus.append(cpu)
                if rows not in (-1, counted):
                    raise SystemExit(f"row counts differ: {rows} != {counted}")
                rows = counted
        raw_rate = rows / statistics.median(raw_times)
        our_rate = rows / statistics.median(our_times)
        # each repetition runs both back to back, under the same outside load
        paired = statistics.median(r / o for r, o in zip(raw_times, our_times, strict=True))
        cpu_ratio = statistics.median(raw_cpu) / statistics.median(our_cpu)
        print(
            f"{name:28} {rows:>10,} {raw_rate:>11,.0f} {our_rate:>16,.0f} "
            f"{our_rate / raw_rate:>5.2f}x {paired:>7.2f}x {cpu_ratio:>8.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--formats", default="parquet,delta",
                        help="comma-separated: parquet (vs pyarrow.dataset), delta (vs deltalake)")
    args = parser.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]

    scenarios: list[Scenario] = [
        ("full scan (6 columns)", None, None),
        ("projected (id, x)", ["id", "x"], None),
        ("filtered (x < 0.25, 3 cols)", ["id", "x", "label"], pc.field("x") < 0.25),
    ]
    with tempfile.TemporaryDirectory() as folder:
        table = make_table(args.rows)
        print(f"pyarrow {pa.__version__}, {args.rows:,} rows, {args.repeats} interleaved "
              "repetitions, median")
        if "parquet" in formats:
            path = Path(folder) / "bench.parquet"
            pq.write_table(table, path)
            print(f"\nparquet ({path.stat().st_size / 1e6:.0f} MB): interlock vs pyarrow.dataset")
            compare(path, scan_raw, args.repeats, scenarios)
        if "delta" in formats:
            import deltalake

            path = Path(folder) / "bench-delta"
            deltalake.write_deltalake(str(path), table)
            size = sum(f.stat().st_size for f in path.rglob("*.parquet")) / 1e6
            print(f"\ndelta ({size:.0f} MB, deltalake {deltalake.__version__}): interlock vs "
                  "DeltaTable(path).to_pyarrow_dataset()")
            compare(path, scan_raw_delta, args.repeats, scenarios)
        print(
            "\nratio: median wall-clock throughput, interlock / raw; paired: median of the "
            "per-repetition ratios;\nCPU ratio: raw / interlock median process CPU time (work "
            "done, insensitive to other load)"
        )


if __name__ == "__main__":
    main()
