"""How long ``import interlock`` takes in a fresh interpreter, and what loading plugins costs.

Each figure is the median over fresh processes, measured inside the child with
``time.perf_counter`` around the statement (interpreter start-up excluded), and compared in the
same run with importing the libraries interlock builds on. Target: ``import interlock`` under
150 ms on the project's 2-core machine.

    python benchmarks/bench_import.py [--runs 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CASES = {
    "import interlock": "import interlock",
    "import interlock + load every plugin": "import interlock; interlock.get_registry()",
    "raw: import pyarrow": "import pyarrow",
    "raw: import pydantic": "import pydantic",
    "raw: import onnx": "import onnx",
}

CHILD = """
import time
t = time.perf_counter()
{statement}
print(time.perf_counter() - t)
"""


def measure(statement: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", CHILD.format(statement=statement)],
            capture_output=True, text=True, check=True,
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    results = {name: measure(statement, args.runs) for name, statement in CASES.items()}
    base = results["import interlock"]
    print(f"{'case':<40} {'median ms':>10} {'x import interlock':>20}")
    for name, seconds in results.items():
        print(f"{name:<40} {seconds * 1000:>10.1f} {seconds / base:>20.1f}")
    verdict = "PASS" if base < 0.150 else "FAIL"
    print(f"\nimport interlock: {base * 1000:.1f} ms (target < 150 ms): {verdict}")


if __name__ == "__main__":
    main()
