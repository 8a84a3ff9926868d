"""What ``interlock.predict_dataset`` (the ``local`` executor) costs against a hand-written loop.

A scikit-learn model is exported with ``interlock.export``; a Parquet file of ``--rows`` rows
(an ``id`` column and 8 float64 features, row groups of 131072 rows) is scored two ways into a
Parquet file holding ``id`` and the prediction columns:

* interlock: ``predict_dataset(path, artifact, out, keep_columns=["id"])`` (fingerprinting the
  input for lineage, loading the predictor, streaming, writing atomically, all included);
* raw: ``pyarrow.parquet.ParquetFile.iter_batches`` -> NumPy ``[rows, 8]`` -> the same
  ``model.onnx`` in an ``onnxruntime.InferenceSession`` -> ``pyarrow.parquet.ParquetWriter``.

Both use onnxruntime's default threading and batches of ``--batch-size`` rows. Repetitions of
the two sides alternate (and alternate which goes first); figures are medians. The cost of the
lineage fingerprint (hashing the input file) is measured on its own as well.

    python benchmarks/bench_batch.py [--rows 1000000] [--reps 5] [--batch-size 65536]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import interlock

FEATURES = [f"f{i}" for i in range(8)]


def make_input(rows: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, 131_072):
        n = min(131_072, rows - start)
        x = rng.normal(size=(n, len(FEATURES)))
        columns: dict[str, Any] = {"id": np.arange(start, start + n)}
        columns.update({name: x[:, i] for i, name in enumerate(FEATURES)})
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=131_072)
    assert writer is not None
    writer.close()


def raw_loop(model_path: str, source: Path, target: Path, batch_size: int) -> None:
    """The hand-written pipeline a user would otherwise write."""
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]
    writer = None
    for batch in pq.ParquetFile(source).iter_batches(batch_size=batch_size):
        x = np.stack([batch.column(name).to_numpy() for name in FEATURES], axis=1)
        outputs = session.run(output_names, {input_name: x})
        arrays: list[pa.Array] = [batch.column("id")]
        for value in outputs:
            if value.ndim == 1:
                arrays.append(pa.array(value))
            else:
                flat = pa.array(np.ascontiguousarray(value).reshape(-1))
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, value.shape[1]))
        out = pa.RecordBatch.from_arrays(arrays, names=["id", *output_names])
        if writer is None:
            writer = pq.ParquetWriter(target, out.schema)
        writer.write_batch(out)
    assert writer is not None
    writer.close()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        os.remove(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=65_536)
    parser.add_argument("--executors", action="store_true",
                        help="compare the local, dask and ray executors instead (see below)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.executors:
        return executor_mode(args)

    work = Path(tempfile.mkdtemp(prefix="interlock-bench-batch-"))
    try:
        source = work / "input.parquet"
        make_input(args.rows, source)
        size_mb = source.stat().st_size / 1e6
        rng = np.random.default_rng(1)
        x = rng.normal(size=(5_000, len(FEATURES)))
        y = np.digitize(x[:, 0] + x[:, 1] - x[:, 2], [-1.0, 1.0])
        sample = pa.table({name: x[:, i] for i, name in enumerate(FEATURES)})
        models = {
            "logistic regression (3 classes)": LogisticRegression().fit(x, y),
            "random forest (50 trees, depth 8)": RandomForestClassifier(
                n_estimators=50, max_depth=8, random_state=0
            ).fit(x, y),
        }
        dataset = interlock.open_dataset(str(source))
        fingerprint_s = statistics.median(timed(dataset.fingerprint) for _ in range(3))
        print(f"input: {args.rows:,} rows, {size_mb:.0f} MB Parquet; batch size {args.batch_size}")
        print(f"lineage fingerprint of the input alone: {fingerprint_s:.3f} s\n")
        print(f"| model | raw loop (s) | predict_dataset (s) | rows/s interlock | ratio raw/interlock |")
        print("|---|---|---|---|---|")
        for label, model in models.items():
            artifact = interlock.export(model, sample, name="bench", version=str(len(label)),
                                        store=str(work / "store"))
            model_path = str(artifact.local_dir() / "model.onnx")
            ours, theirs = [], []
            for rep in range(args.reps):
                out_ours, out_raw = work / "ours.parquet", work / "raw.parquet"
                remove(out_ours)
                remove(out_raw)
                sides = [
                    ("ours", lambda: interlock.predict_dataset(
                        str(source), artifact, str(out_ours), keep_columns=["id"],
                        batch_size=args.batch_size)),
                    ("raw", lambda: raw_loop(model_path, source, out_raw, args.batch_size)),
                ]
                if rep % 2:
                    sides.reverse()
                for side, action in sides:
                    (ours if side == "ours" else theirs).append(timed(action))
            mine, raw = statistics.median(ours), statistics.median(theirs)
            print(f"| {label} | {raw:.3f} | {mine:.3f} | {args.rows / mine:,.0f} | {raw / mine:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- executors: local, dask and ray on the same job; ray against a hand-written Ray Data pipeline --
#
#     python benchmarks/bench_batch.py --executors [--rows 200000] [--reps 3] [--batch-size 65536]
#
# Each job runs in a fresh driver process (so that an engine's start is counted, and memory is
# the job's own); the parent samples the resident memory of that process and every process
# below it (a local Ray's or a LocalCluster's workers included) and reports the peak. The
# dataset is scored at 1x and 10x --rows, for a cheap and an expensive model. Ray against the
# hand-written pipeline (read_parquet -> map_batches(actor pool, onnxruntime) -> write_parquet,
# the same pool: one actor of one CPU, the same batch size) runs in one driver on one local
# Ray, alternating, so that both sides pay the same (and no) start-up.


def executor_mode(args: argparse.Namespace) -> None:
    """``--executors`` (default ``--rows``: 200,000), or one job of it (``--child``)."""
    if args.child:
        print(json.dumps(executor_child(json.loads(args.child))))
    else:
        executor_section(args.rows if args.rows != 1_000_000 else 200_000, args.reps,
                         args.batch_size)


def executor_child(job: dict[str, Any]) -> dict[str, float]:
    """Run one job (in a driver process of its own) and return its times."""
    if job["kind"] == "executor":
        started = time.perf_counter()
        interlock.predict_dataset(job["source"], job["artifact"], job["target"],
                                  store=job["store"], keep_columns=["id"],
                                  batch_size=job["batch_size"], executor=job["executor"])
        return {"seconds": time.perf_counter() - started}
    import ray

    ray.init(address="local", num_cpus=job["cpus"], include_dashboard=False,
             log_to_driver=False, logging_level="ERROR")
    ours, theirs = [], []
    for rep in range(job["reps"]):
        sides = [("ours", ours, lambda t: interlock.predict_dataset(
                     job["source"], job["artifact"], t, store=job["store"], keep_columns=["id"],
                     batch_size=job["batch_size"], executor="ray")),
                 ("raw", theirs, lambda t: ray_data_pipeline(job, t))]
        for name, times, action in sides[::-1] if rep % 2 else sides:
            target = f"{job['target']}-{name}-{rep}.parquet"
            times.append(timed(lambda: action(target)))
    ray.shutdown()
    return {"ours": statistics.median(ours), "raw": statistics.median(theirs)}


class _OrtPredictor:
    """The hand-written Ray Data predictor: an onnxruntime session per actor."""

    def __init__(self, model_path: str) -> None:
        self.session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, batch: pa.Table) -> pa.Table:
        x = np.stack([batch.column(name).to_numpy() for name in FEATURES], axis=1)
        columns: dict[str, Any] = {"id": batch.column("id")}
        for name, value in zip(self.outputs, self.session.run(self.outputs, {self.input: x})):
            columns[name] = (pa.array(value) if value.ndim == 1 else
                             pa.FixedSizeListArray.from_arrays(
                                 pa.array(np.ascontiguousarray(value).reshape(-1)),
                                 value.shape[1]))
        return pa.table(columns)


def ray_data_pipeline(job: dict[str, Any], target: str) -> None:
    import ray.data

    dataset = ray.data.read_parquet(job["source"]).select_columns(["id", *FEATURES])
    dataset.context.enable_progress_bars = False
    dataset.map_batches(
        _OrtPredictor, fn_constructor_args=(job["model_path"],), batch_format="pyarrow",
        batch_size=job["batch_size"], compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1,
    ).write_parquet(target)


def run_child(job: dict[str, Any]) -> tuple[dict[str, float], float]:
    """Run ``job`` in a driver process; its result and the peak RSS (MB) of its process tree."""
    import psutil

    errors = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(job)],
                               stdout=subprocess.PIPE, stderr=errors, text=True)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        time.sleep(0.05)
    output, _ = process.communicate()
    errors.seek(0)
    assert process.returncode == 0, f"the job {job} failed:\n{errors.read()[-3000:]}"
    return json.loads(output.strip().splitlines()[-1]), peak / 1e6


def executor_section(rows: int, reps: int, batch_size: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="interlock-bench-executors-"))
    try:
        rng = np.random.default_rng(1)
        x = rng.normal(size=(5_000, len(FEATURES)))
        y = np.digitize(x[:, 0] + x[:, 1] - x[:, 2], [-1.0, 1.0])
        sample = pa.table({name: x[:, i] for i, name in enumerate(FEATURES)})
        models = {"cheap (logistic regression)": LogisticRegression().fit(x, y),
                  "expensive (random forest, 50 trees)": RandomForestClassifier(
                      n_estimators=50, max_depth=8, random_state=0).fit(x, y)}
        print(f"batch size {batch_size}, {os.cpu_count()} CPUs; each job in a fresh driver, "
              f"engine start included; RSS = peak of the driver's process tree\n")
        print("| model | rows | executor | s | rows/s | vs local | peak RSS (MB) |")
        print("|---|---|---|---|---|---|---|")
        pairs = []
        for label, model in models.items():
            artifact = interlock.export(model, sample, name="bench", version=str(len(label)),
                                        store=str(work / "store"))
            for n in (rows, rows * 10):
                source = work / f"input-{n}.parquet"
                if not source.exists():
                    make_input(n, source)
                base = {"source": str(source), "artifact": artifact.ref, "store": str(work / "store"),
                        "batch_size": batch_size}
                local_s = None
                for executor in ("local", "dask", "ray"):
                    seconds = []
                    for rep in range(reps):
                        target = str(work / f"out-{executor}-{rep}.parquet")
                        result, peak = run_child({**base, "kind": "executor",
                                                  "executor": executor, "target": target})
                        seconds.append(result["seconds"])
                        remove(Path(target))
                    median = statistics.median(seconds)
                    local_s = median if executor == "local" else local_s
                    assert local_s is not None
                    print(f"| {label} | {n:,} | {executor} | {median:.2f} | {n / median:,.0f} | "
                          f"{local_s / median:.2f} | {peak:,.0f} |", flush=True)
                pair, _ = run_child({**base, "kind": "ray-pair", "cpus": os.cpu_count() or 2,
                                     "reps": reps, "target": str(work / f"pair-{len(label)}-{n}"),
                                     "model_path": str(artifact.local_dir() / "model.onnx")})
                pairs.append((label, n, pair))
        print("\n| model | rows | ray executor (s) | hand-written Ray Data (s) | "
              "rows/s ratio ray executor / hand-written |")
        print("|---|---|---|---|---|")
        for label, n, pair in pairs:
            print(f"| {label} | {n:,} | {pair['ours']:.2f} | {pair['raw']:.2f} | "
                  f"{pair['raw'] / pair['ours']:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
