"""The serving benchmark's table, its targets, and the section it writes in docs/performance.md.

Figures are medians over repetitions of each cell. Ratios compare like with like: a REST
configuration with MLServer's REST endpoint (MLServer has no binary tensor extension, so its
JSON endpoint is its best REST) and with the bare ASGI endpoint, a gRPC configuration with
MLServer's gRPC endpoint and with the bare ``grpc.aio`` endpoint.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- bench_serving:begin -->"
END = "<!-- bench_serving:end -->"
MLSERVER = {"rest": "MLServer REST, JSON", "grpc": "MLServer gRPC"}
BARE_REST, BARE_GRPC = "bare ASGI, JSON", "bare gRPC"


@dataclass
class Sample:
    """One measured cell of one repetition."""

    name: str
    batch: int
    concurrency: int  # 0: in-process, no server
    result: dict[str, float]


@dataclass
class Cell:
    """A cell's medians over repetitions."""

    name: str
    batch: int
    concurrency: int
    rps: float
    p50: float
    p99: float
    errors: int

    @property
    def rows(self) -> float:
        return self.rps * self.batch


def _cells(samples: list[Sample]) -> dict[tuple[str, int, int], Cell]:
    grouped: dict[tuple[str, int, int], list[dict[str, float]]] = {}
    for sample in samples:
        grouped.setdefault((sample.name, sample.batch, sample.concurrency), []).append(
            sample.result
        )
    cells = {}
    for (name, batch, concurrency), results in grouped.items():
        cells[name, batch, concurrency] = Cell(
            name,
            batch,
            concurrency,
            statistics.median(r["requests"] / r["seconds"] for r in results),
            statistics.median(r["p50_ms"] for r in results),
            statistics.median(r["p99_ms"] for r in results),
            int(sum(r["errors"] for r in results)),
        )
    return cells


def _peer(name: str) -> str | None:
    if name.startswith("interlock"):
        return MLSERVER["grpc" if "gRPC" in name else "rest"]
    return None


def _table(cells: dict[tuple[str, int, int], Cell]) -> list[list[str]]:
    rows = []
    for cell in sorted(cells.values(), key=lambda c: (c.batch, c.concurrency)):
        peer = cells.get((_peer(cell.name) or "", cell.batch, cell.concurrency))
        bare_name = BARE_GRPC if "gRPC" in cell.name else BARE_REST
        bare = cells.get((bare_name, cell.batch, cell.concurrency))
        is_ours = cell.name.startswith("interlock")
        rows.append([
            str(cell.batch),
            str(cell.concurrency) if cell.concurrency else "-",
            cell.name,
            f"{cell.rps:,.0f}",
            f"{cell.rows:,.0f}",
            f"{cell.p50:.2f}",
            f"{cell.p99:.2f}",
            f"{cell.rps / peer.rps:.2f}x" if peer else "",
            f"{cell.p99 / peer.p99:.2f}x" if peer else "",
            f"{cell.rps / bare.rps:.2f}x" if bare and is_ours else "",
            str(cell.errors) if cell.errors else "",
        ])
    return rows


HEADER = ["batch", "conc.", "server", "req/s", "rows/s", "p50 ms", "p99 ms",
          "req/s vs MLServer", "p99 vs MLServer", "req/s vs bare", "errors"]


def _targets(cells: dict[tuple[str, int, int], Cell]) -> list[tuple[str, str, bool]]:
    def get(name: str, batch: int = 1, concurrency: int = 8) -> Cell | None:
        return cells.get((name, batch, concurrency))

    checks: list[tuple[str, str, bool]] = []

    def ratio(what: str, ours: str, theirs: str, at_least: float) -> None:
        a, b = get(ours), get(theirs)
        if a and b:
            value = a.rps / b.rps
            checks.append((f"{what}: {ours} req/s >= {at_least}x {theirs}",
                           f"{value:.2f}x", value >= at_least))

    ratio("JSON", "interlock REST, JSON", MLSERVER["rest"], 3.0)
    ratio("JSON", "interlock REST, JSON", BARE_REST, 0.5)
    ratio("binary", "interlock REST, binary", MLSERVER["rest"], 4.0)
    ratio("gRPC", "interlock gRPC", MLSERVER["grpc"], 4.0)
    for ours in ("interlock REST, JSON", "interlock REST, binary", "interlock gRPC"):
        a, b = get(ours), get(_peer(ours) or "")
        if a and b:
            checks.append((f"p99: {ours} <= 0.5x {b.name}",
                           f"{a.p99:.2f} vs {b.p99:.2f} ms ({a.p99 / b.p99:.2f}x)",
                           a.p99 <= 0.5 * b.p99))
    for plain in ("interlock REST, JSON", "interlock gRPC"):
        a, b = get(f"{plain}, batching", 1, 32), get(plain, 1, 32)
        if a and b:
            checks.append((f"batching raises rows/s at concurrency 32: {plain}",
                           f"{a.rows:,.0f} vs {b.rows:,.0f} rows/s ({a.rows / b.rows:.2f}x)",
                           a.rows > b.rows))
    return checks


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            found = re.search(r"model name\s*:\s*(.+)", info.read())
        if found:
            model = found.group(1).strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _markdown(rows: list[list[str]], header: list[str]) -> str:
    # The server column reads left to right; the figures line up on the right.
    rule = "|" + "|".join("---" if name == "server" else "---:" for name in header) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(samples: list[Sample], args: argparse.Namespace, load_before: tuple[float, ...],
           load_after: tuple[float, ...], *, pinned_cpus: bool, versions: str,
           doc: Path | None) -> None:
    """Print the table and the targets; replace the benchmark's section of ``doc``."""
    cells = _cells(samples)
    rows = _table(cells)
    checks = _targets(cells)
    header = HEADER
    failed = sum(cell.errors for cell in cells.values())
    if not failed:  # an empty column says nothing: say it once below instead
        header, rows = header[:-1], [row[:-1] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    def line(cells: list[str]) -> str:
        # The server column (the third) reads left to right; the figures line up right.
        return "  ".join(
            c.ljust(w) if i == 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    print()
    print(line(header))
    for row in rows:
        print(line(row))
    errors = f"{failed} requests failed (see the errors column)" if failed else "no request failed"
    print(f"\n{errors}")
    print("\ntargets (batch 1, concurrency 8 unless stated):")
    for what, value, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}: {value}")
    load = (f"load average {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} "
            f"before, {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f} after")
    print(f"\n{_machine()}; {load}")
    if doc is None:
        return
    today = datetime.date.today().isoformat()
    pinning = ("Servers pinned to CPU 0, load generators to CPU 1 (taskset)" if pinned_cpus
               else "No CPU pinning")
    section = "\n".join([
        BEGIN,
        f"Measured {today} on {_machine()}; {load} (1, 5, 15 min). {versions}. "
        f"{pinning}; medians of {args.repeats} interleaved repetitions of {args.duration:g} s "
        f"per cell.",
        "",
        _markdown(rows, header),
        "",
        f"{errors[0].upper()}{errors[1:]}.",
        "",
        "Targets (batch 1, concurrency 8 unless stated):",
        "",
        *[f"- **{'PASS' if ok else 'FAIL'}** {what}: {value}" for what, value, ok in checks],
        END,
    ])
    text = doc.read_text() if doc.exists() else "# Performance\n\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(text)
    print(f"wrote {doc}")
