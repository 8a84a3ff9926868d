"""What a predictor costs on top of calling onnxruntime directly.

An MLP (64-256-256-10, float32, random weights, ReLU) is saved as an artifact and run three
ways against raw ``onnxruntime.InferenceSession.run`` on the same model file, both sides with
``intra_op_num_threads=1`` so that the comparison is fair and stable on a small machine:

* ``Predictor.infer`` at batch 1: added microseconds per call (target <= 10 us);
* ``Predictor.infer`` at batch 1024: throughput ratio (target >= 0.98);
* ``Predictor.predict`` on record batches of 1024 rows, from 64 float32 columns gathered into
  one tensor and from one ``fixed_size_list<float32, 64>`` column, against a hand-written
  pyarrow -> NumPy -> onnxruntime -> pyarrow loop (target >= 0.95).

Where OpenVINO is installed, ``infer_openvino.py`` adds a second table: OpenVINO against
onnxruntime on this MLP and on a small convolutional net, and the ``openvino`` predictor
against OpenVINO called directly (``--no-openvino`` leaves it out).

Repetitions of the two sides alternate (and alternate which goes first); figures are medians.

    python benchmarks/bench_infer.py [--reps 21] [--calls 1000] [--rows 1024] [--no-openvino]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pyarrow as pa
from onnx import TensorProto, helper, numpy_helper

import interlock

FEATURES, HIDDEN, CLASSES = 64, 256, 10
THREADS = {"intra_op_num_threads": 1, "inter_op_num_threads": 1}


def mlp() -> Any:
    """The benchmark model, built with onnx.helper."""
    rng = np.random.default_rng(0)
    sizes = [FEATURES, HIDDEN, HIDDEN, CLASSES]
    nodes, weights, current = [], [], "x"
    for layer, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.1).astype(np.float32)
        weights += [
            numpy_helper.from_array(w, f"w{layer}"),
            numpy_helper.from_array(b, f"b{layer}"),
        ]
        last = layer == len(sizes) - 2
        nodes.append(helper.make_node("MatMul", [current, f"w{layer}"], [f"m{layer}"]))
        summed = "y" if last else f"z{layer}"
        nodes.append(helper.make_node("Add", [f"m{layer}", f"b{layer}"], [summed]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"z{layer}"], [f"a{layer}"]))
            current = f"a{layer}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", CLASSES])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def raw_session(artifact: interlock.Artifact) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS["intra_op_num_threads"]
    options.inter_op_num_threads = THREADS["inter_op_num_threads"]
    path = str(artifact.local_dir() / "model.onnx")
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def timed(function: Callable[[], object], calls: int) -> tuple[float, float]:
    """Wall-clock and this thread's CPU seconds per call over ``calls`` calls.

    With one intra-op and one inter-op thread, onnxruntime computes on the calling thread, so
    CPU time covers all the work and is not inflated when other processes share the cores.
    """
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        function()
    return (time.perf_counter() - wall) / calls, (time.thread_time() - cpu) / calls


def compare(
    raw: Callable[[], object], ours: Callable[[], object], calls: int, reps: int
) -> dict[str, float]:
    """Medians per call of each side, on both clocks, and of the per-repetition differences."""
    for _ in range(max(3, calls // 10)):  # warm both up
        raw()
        ours()
    keys = ("raw", "ours", "raw_cpu", "ours_cpu", "diff", "diff_cpu")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for rep in range(reps):
        if rep % 2:
            o, oc = timed(ours, calls)
            r, rc = timed(raw, calls)
        else:
            r, rc = timed(raw, calls)
            o, oc = timed(ours, calls)
        for key, value in zip(samples, (r, o, rc, oc, o - r, oc - rc)):
            samples[key].append(value)
    return {key: statistics.median(values) for key, values in samples.items()}


Row = tuple[str, ...]


def added_row(case: str, m: dict[str, float]) -> Row:
    """A table row for the fixed cost a predictor adds to each call."""
    verdict = "PASS" if m["diff_cpu"] * 1e6 <= 10 else "FAIL"
    return (
        case,
        "us/call",
        f"{m['raw_cpu'] * 1e6:,.1f}",
        f"{m['ours_cpu'] * 1e6:,.1f}",
        f"+{m['diff_cpu'] * 1e6:.2f} us",
        f"+{m['diff'] * 1e6:.2f} us",
        f"<= 10 us {verdict}",
    )


def throughput_row(case: str, m: dict[str, float], rows_per_call: int, target: float | None) -> Row:
    """A table row for rows per second against raw, with its target (``None``: a control)."""
    ratio_cpu, ratio_wall = m["raw_cpu"] / m["ours_cpu"], m["raw"] / m["ours"]
    if target is None:
        verdict = "(noise floor)"
    else:
        verdict = f">= {target} " + ("PASS" if ratio_cpu >= target else "FAIL")
    return (
        case,
        "rows/s",
        f"{rows_per_call / m['raw_cpu']:,.0f}",
        f"{rows_per_call / m['ours_cpu']:,.0f}",
        f"{ratio_cpu:.3f}x",
        f"{ratio_wall:.3f}x",
        verdict,
    )


def save_models(store: str) -> tuple[interlock.Artifact, interlock.Artifact]:
    """The MLP saved twice: reading tensor ``x``, and gathering ``x`` from 64 columns."""
    model = mlp()
    plain = interlock.save_artifact(model, store, name="mlp", version="1")
    gathered = interlock.save_artifact(
        model,
        store,
        name="mlp-columns",
        version="1",
        columns=interlock.ColumnMapping(
            inputs=[interlock.InputBinding(tensor="x", columns=[f"f{i}" for i in range(FEATURES)])],
            outputs=[interlock.OutputBinding(tensor="y", column="y")],
        ),
    )
    return plain, gathered


def infer_cases(
    session: ort.InferenceSession,
    predictor: Any,
    rng: np.random.Generator,
    args: argparse.Namespace,
) -> list[Row]:
    """``Predictor.infer`` at batch 1 and at a large batch, and the noise-floor control."""
    big_calls = max(10, args.calls // 25)
    # infer at batch 1: the added fixed cost per call
    one = {"x": rng.standard_normal((1, FEATURES)).astype(np.float32)}
    m = compare(lambda: session.run(None, one), lambda: predictor.infer(one), args.calls, args.reps)
    rows = [added_row("infer, batch 1", m)]

    # infer at a large batch: throughput
    big = {"x": rng.standard_normal((args.rows, FEATURES)).astype(np.float32)}
    m = compare(lambda: session.run(None, big), lambda: predictor.infer(big), big_calls, args.reps)
    rows.append(throughput_row(f"infer, batch {args.rows}", m, args.rows, 0.98))

    # control: the predictor's own session called raw, against the raw session; the
    # difference is the noise floor of this machine (both sides do the same work)
    own = predictor.session
    m = compare(lambda: session.run(None, big), lambda: own.run(None, big), big_calls, args.reps)
    rows.append(throughput_row(f"control: raw vs raw, batch {args.rows}", m, args.rows, None))
    return rows


def _predictions(y: np.ndarray) -> pa.RecordBatch:
    """Model outputs as the record batch a predictor returns: one fixed_size_list column."""
    flat = pa.array(y.reshape(-1))
    return pa.record_batch({"y": pa.FixedSizeListArray.from_arrays(flat, CLASSES)})


def predict_cases(
    session: ort.InferenceSession,
    predictor: Any,
    columns_predictor: Any,
    rng: np.random.Generator,
    args: argparse.Namespace,
) -> list[Row]:
    """``Predictor.predict`` from 64 float32 columns and from one fixed_size_list column,
    each against a hand-written pyarrow -> NumPy -> onnxruntime -> pyarrow loop."""
    big_calls = max(10, args.calls // 25)
    matrix = rng.standard_normal((args.rows, FEATURES)).astype(np.float32)
    wide = pa.record_batch({f"f{i}": matrix[:, i].copy() for i in range(FEATURES)})

    def by_hand_columns() -> pa.RecordBatch:
        x = np.column_stack([column.to_numpy() for column in wide.columns])
        return _predictions(session.run(None, {"x": x})[0])

    m = compare(by_hand_columns, lambda: columns_predictor.predict(wide), big_calls, args.reps)
    rows = [throughput_row(f"predict, {FEATURES} columns x {args.rows}", m, args.rows, 0.95)]

    flat = pa.array(matrix.reshape(-1))
    listed = pa.record_batch({"x": pa.FixedSizeListArray.from_arrays(flat, FEATURES)})

    def by_hand_list() -> pa.RecordBatch:
        x = listed.column(0).flatten().to_numpy().reshape(-1, FEATURES)
        return _predictions(session.run(None, {"x": x})[0])

    m = compare(by_hand_list, lambda: predictor.predict(listed), big_calls, args.reps)
    rows.append(throughput_row(f"predict, fixed_size_list x {args.rows}", m, args.rows, 0.95))
    return rows


def print_table(rows: list[Row], reps: int) -> None:
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}, pyarrow {pa.__version__}; "
          f"MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{CLASSES} float32; intra/inter-op threads 1; "
          f"medians of {reps} alternating repetitions; raw/interlock columns in CPU time")
    header = ("case", "unit", "raw", "interlock", "vs raw (CPU)", "vs raw (wall)", "target")
    widths = (34, 8, 12, 12, 13, 14, 16)
    for row in [header, *rows]:
        cells = (c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        print("  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=21, help="alternating repetitions per case")
    parser.add_argument("--calls", type=int, default=1000, help="calls per repetition at batch 1")
    parser.add_argument("--rows", type=int, default=1024, help="rows of the large batches")
    parser.add_argument("--no-openvino", action="store_true", help="leave out the OpenVINO cases")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="interlock-bench-") as store:
        plain, gathered = save_models(store)
        session = raw_session(plain)
        predictor = interlock.load_predictor(plain, **THREADS)
        columns_predictor = interlock.load_predictor(gathered, **THREADS)
        rng = np.random.default_rng(1)
        rows = infer_cases(session, predictor, rng, args)
        rows += predict_cases(session, predictor, columns_predictor, rng, args)
        print_table(rows, args.reps)
        if not args.no_openvino:
            openvino_table(store, args)


def openvino_table(store: str, args: argparse.Namespace) -> None:
    """The OpenVINO cases (``infer_openvino.py``), where OpenVINO is installed."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        print("\nopenvino is not installed: no OpenVINO cases (pip install 'interlock[openvino]')")
        return
    from infer_openvino import openvino_cases, print_openvino_table

    print_openvino_table(openvino_cases(store, args), args.reps)


if __name__ == "__main__":
    main()
