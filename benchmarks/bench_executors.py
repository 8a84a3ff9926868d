"""Executors against each other: rows/s and peak RSS of ``dask`` and of ``local`` resuming
(the shard kit in one process) against plain ``local``, in the same run.

The input is the one of ``bench_batch.py`` (an ``id`` and 8 float64 features, row groups of
131072 rows) at ``--rows`` and at ten times that; each is scored by a cheap model (logistic
regression) and an expensive one (a random forest of 50 trees of depth 8), keeping ``id``, with
``predict_dataset`` and:

* ``local``: the streaming executor;
* ``local+resume``: ``resume=True`` (shard by shard through the kit: parts staged as Arrow IPC,
  then published through ``write_dataset``);
* ``dask``: a LocalCluster of 2 workers x 1 thread started for the job (its start included).

Each job runs in a fresh process, so its peak RSS is its own: ``driver`` is the peak of the
process that called ``predict_dataset`` (``VmHWM``), ``worker`` the largest RSS any process it
started (Dask's workers) was seen at, sampled every 20 ms. Ratios
are rows/s against ``local`` for the same model and size (above 1: faster than local).

    python benchmarks/bench_executors.py [--rows 200000] [--reps 1] [--batch-size 65536]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

EXECUTORS: dict[str, dict[str, Any]] = {
    "local": {},
    "local+resume": {"resume": True},
    "dask": {"executor": "dask", "executor_options": {"n_workers": 2, "threads_per_worker": 1}},
}


def one_job(spec: dict[str, Any]) -> None:
    """Run one job in this process and print its figures as JSON (the ``--one`` mode)."""
    import interlock

    interlock.get_registry()  # loading the plugins is not the job's cost
    baseline = _rss_mb("VmRSS")
    watcher = _WorkerWatcher()
    watcher.start()
    started = time.perf_counter()
    summary = interlock.predict_dataset(spec["source"], spec["ref"], spec["output"],
                                        store=spec["store"], keep_columns=["id"],
                                        batch_size=spec["batch_size"], **spec["kwargs"])
    seconds = time.perf_counter() - started
    watcher.stop()
    print(json.dumps({
        "seconds": seconds,
        "rows": summary["rows"],
        "driver_mb": _rss_mb("VmHWM"),
        "baseline_mb": baseline,
        "worker_mb": watcher.peak_mb,
    }))


def _rss_mb(field: str) -> float:
    """This process's ``VmRSS`` (now) or ``VmHWM`` (its peak; unlike ``ru_maxrss`` it starts
    afresh at exec) in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _WorkerWatcher(threading.Thread):
    """Samples the RSS of this process's descendants (Dask's workers) every 20 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._done.wait(0.02):
            for child in me.children(recursive=True):
                try:
                    self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    pass

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the job {spec['kwargs']} failed:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def prepare(work: Path, rows: int) -> tuple[dict[str, str], dict[int, str]]:
    """The two models in a store, and the input at both sizes."""
    import numpy as np
    import pyarrow as pa
    from bench_batch import FEATURES, make_input
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import interlock

    rng = np.random.default_rng(1)
    x = rng.normal(size=(5_000, len(FEATURES)))
    y = np.digitize(x[:, 0] + x[:, 1] - x[:, 2], [-1.0, 1.0])
    sample = pa.table({name: x[:, i] for i, name in enumerate(FEATURES)})
    models = {
        "logistic regression": LogisticRegression().fit(x, y),
        "random forest (50 x depth 8)": RandomForestClassifier(
            n_estimators=50, max_depth=8, random_state=0).fit(x, y),
    }
    refs = {label: interlock.export(model, sample, name=f"bench{i}",
                                    store=str(work / "store")).ref
            for i, (label, model) in enumerate(models.items())}
    sources = {}
    for size in (rows, rows * 10):
        sources[size] = str(work / f"input-{size}.parquet")
        make_input(size, Path(sources[size]))
    return refs, sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_job(json.loads(args.one))
        return
    work = Path(tempfile.mkdtemp(prefix="interlock-bench-executors-"))
    try:
        refs, sources = prepare(work, args.rows)
        print(f"batch size {args.batch_size}; medians of {args.reps} run(s); dask: LocalCluster "
              "2 workers x 1 thread, its start included\n")
        print("driver MB: the driver's peak RSS (in brackets: its RSS before the job, with "
              "interlock and its plugins loaded); worker MB: the largest worker's peak RSS\n")
        print("| model | rows | executor | s | rows/s | vs local | driver MB | worker MB |")
        print("|---|---|---|---|---|---|---|---|")
        for label, ref in refs.items():
            for size, source in sources.items():
                _report(label, ref, size, source, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(label: str, ref: str, size: int, source: str, work: Path,
            args: argparse.Namespace) -> None:
    local_rate = 0.0
    for name, kwargs in EXECUTORS.items():
        runs = []
        for rep in range(args.reps):
            output = work / f"out-{rep}.parquet"
            spec = {"source": source, "ref": ref, "output": str(output),
                    "store": str(work / "store"), "batch_size": args.batch_size,
                    "kwargs": kwargs}
            runs.append(run_job(spec))
            output.unlink()
        seconds = statistics.median(r["seconds"] for r in runs)
        rate = size / seconds
        local_rate = rate if name == "local" else local_rate
        driver = max(r["driver_mb"] for r in runs)
        baseline = min(r["baseline_mb"] for r in runs)
        worker = max(r["worker_mb"] for r in runs)
        print(f"| {label} | {size:,} | {name} | {seconds:.2f} | {rate:,.0f} | "
              f"{rate / local_rate:.2f} | {driver:.0f} ({baseline:.0f}) | {worker:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
