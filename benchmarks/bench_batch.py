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
import os
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
