"""What ``interlock.export`` costs on top of calling each framework's ONNX converter directly.

Four models, each exported two ways in the same run:

* ``pytorch``: an MLP (64-256-256-10, float32, seeded random weights, ReLU) against
  ``torch.onnx.export(..., dynamo=True)`` to an in-memory model serialized to bytes, with the
  same dynamic batch dimension, opset 18 and ``optimize=True`` as the exporter uses;
* ``xgboost``: an ``XGBClassifier`` (100 trees, depth 6, 20 features) against
  ``onnxmltools.convert_xgboost``;
* ``lightgbm``: an ``LGBMClassifier`` (100 trees, depth 6, 20 features) against
  ``onnxmltools.convert_lightgbm`` (``zipmap=False``);
* ``sklearn``: a ``RandomForestClassifier`` (100 trees, depth 8, 20 features) against
  ``skl2onnx.to_onnx`` (``zipmap=False``, keyed by ``id(model)``).

The interlock side is the whole of ``interlock.export`` into a temporary store: reading the
sample, converting, the parity check against the framework on the sample's rows, checking the
graph, hashing every file, writing the artifact atomically and loading it back verified. The
ratio is what all of that costs against the bare conversion, not overhead in the converter.

Repetitions of the two sides alternate (and alternate which goes first); figures are medians,
of wall-clock seconds and of this process's CPU seconds (all threads). Sizes: bytes of the raw
ONNX model against the bytes of every file in the saved artifact directory.

    python benchmarks/bench_exporters.py [--reps 7] [--rows 64] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import interlock

FEATURES, TREES, DEPTH, TRAIN_ROWS = 20, 100, 6, 2000
MLP_SIZES = (64, 256, 256, 10)


@dataclass
class Case:
    """One model, its export sample, and the bare converter call it is compared with."""

    name: str
    model: object
    sample: pa.Table
    raw: Callable[[], bytes]
    description: str


def _table(x: np.ndarray) -> pa.Table:
    return pa.table({f"f{i}": x[:, i] for i in range(x.shape[1])})


def _tabular_data(rows: int) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """Seeded training data (a binary label) and the export sample of ``rows`` rows."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((TRAIN_ROWS, FEATURES)).astype(np.float32)
    y = (x[:, :5].sum(axis=1) + 0.3 * rng.standard_normal(TRAIN_ROWS) > 0).astype(np.int64)
    return x, y, _table(x[:rows])


def pytorch_case(rows: int) -> Case:
    import torch

    torch.manual_seed(0)
    layers: list[Any] = []
    for fan_in, fan_out in zip(MLP_SIZES, MLP_SIZES[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).eval()
    x = np.random.default_rng(0).standard_normal((rows, MLP_SIZES[0])).astype(np.float32)

    def raw() -> bytes:
        # As quiet as the exporter keeps it: torch.onnx prints progress and warns.
        for logger in ("torch", "torch.onnx", "onnxscript"):
            logging.getLogger(logger).setLevel(logging.ERROR + 10)
        batch = torch.export.Dim("N")
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, (torch.from_numpy(x),), dynamo=True, input_names=["input"],
                output_names=["output"], dynamic_shapes=({0: batch},), opset_version=18,
                optimize=True, verbose=False, report=False, external_data=False,
            )
        assert program is not None
        return bytes(program.model_proto.SerializeToString())

    sizes = "-".join(map(str, MLP_SIZES))
    return Case("pytorch", model, _table(x), raw, f"MLP {sizes} float32")


def xgboost_case(rows: int) -> Case:
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y, sample = _tabular_data(rows)
    model = xgboost.XGBClassifier(n_estimators=TREES, max_depth=DEPTH, random_state=0)
    model.fit(x, y)

    def raw() -> bytes:
        types = [("input", FloatTensorType([None, FEATURES]))]
        return bytes(convert_xgboost(model, initial_types=types).SerializeToString())

    return Case("xgboost", model, sample, raw, f"XGBClassifier {TREES} trees depth {DEPTH}")


def lightgbm_case(rows: int) -> Case:
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y, sample = _tabular_data(rows)
    model = lightgbm.LGBMClassifier(
        n_estimators=TREES, max_depth=DEPTH, num_leaves=2**DEPTH - 1, random_state=0, verbose=-1
    )
    model.fit(x, y)

    def raw() -> bytes:
        types = [("input", FloatTensorType([None, FEATURES]))]
        onnx_model = convert_lightgbm(model, initial_types=types, zipmap=False)
        return bytes(onnx_model.SerializeToString())

    return Case("lightgbm", model, sample, raw, f"LGBMClassifier {TREES} trees depth {DEPTH}")


def sklearn_case(rows: int) -> Case:
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    x, y, sample = _tabular_data(rows)
    model = RandomForestClassifier(n_estimators=TREES, max_depth=8, random_state=0, n_jobs=1)
    model.fit(x, y)

    def raw() -> bytes:
        # Options keyed by id(model), as the exporter does: keyed by class, skl2onnx walks
        # every attribute of every tree looking for the model, which doubles the time.
        onnx_model = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
        return bytes(onnx_model.SerializeToString())

    return Case("sklearn", model, sample, raw, f"RandomForestClassifier {TREES} trees depth 8")


CASES: dict[str, Callable[[int], Case]] = {
    "pytorch": pytorch_case,
    "xgboost": xgboost_case,
    "lightgbm": lightgbm_case,
    "sklearn": sklearn_case,
}


def timed(function: Callable[[], object]) -> tuple[float, float, object]:
    """Wall-clock and process CPU seconds of one call, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def artifact_bytes(artifact: interlock.Artifact) -> int:
    """Bytes of every file of a saved artifact (manifest, model, and anything beside them)."""
    return sum(p.stat().st_size for p in artifact.local_dir().rglob("*") if p.is_file())


def measure(case: Case, store: str, reps: int) -> dict[str, float]:
    """Medians of both sides over ``reps`` alternating repetitions, after one warm-up each
    (the first ``torch.onnx.export`` of a process pays for imports and tracing set-up)."""
    versions = (str(n) for n in itertools.count())

    def ours() -> interlock.Artifact:
        return interlock.export(
            case.model, case.sample, name=case.name, version=next(versions), store=store,
            exporter=case.name,
        )

    raw_bytes = case.raw()
    artifact = ours()
    samples: dict[str, list[float]] = {k: [] for k in ("raw", "ours", "raw_cpu", "ours_cpu")}
    for rep in range(reps):
        sides = [("raw", case.raw), ("ours", ours)]
        for side, function in sides[::-1] if rep % 2 else sides:
            wall, cpu, _ = timed(function)
            samples[side].append(wall)
            samples[f"{side}_cpu"].append(cpu)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    medians["raw_bytes"] = float(len(raw_bytes))
    medians["artifact_bytes"] = float(artifact_bytes(artifact))
    return medians


Row = tuple[str, ...]


def row(case: Case, m: dict[str, float]) -> Row:
    """One table row: times of both sides, their ratios, and the two sizes."""
    return (
        case.name,
        case.description,
        f"{m['raw'] * 1e3:,.0f}",
        f"{m['ours'] * 1e3:,.0f}",
        f"{m['ours'] / m['raw']:.2f}x",
        f"{m['ours_cpu'] / m['raw_cpu']:.2f}x",
        f"{m['raw_bytes']:,.0f}",
        f"{m['artifact_bytes']:,.0f}",
        f"{m['artifact_bytes'] / m['raw_bytes']:.3f}x",
    )


def versions_line() -> str:
    import lightgbm
    import onnx
    import onnxmltools
    import onnxruntime
    import skl2onnx
    import sklearn
    import torch
    import xgboost

    named = [("torch", torch), ("xgboost", xgboost), ("lightgbm", lightgbm),
             ("scikit-learn", sklearn), ("onnxmltools", onnxmltools), ("skl2onnx", skl2onnx),
             ("onnx", onnx), ("onnxruntime", onnxruntime)]
    return ", ".join(f"{name} {module.__version__}" for name, module in named)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(versions_line())
    print(f"sample {args.rows} rows; medians of {args.reps} alternating repetitions after one "
          "warm-up; interlock = convert + parity check + graph checks + hashing + atomic save "
          "+ verified load")
    header = ("exporter", "model", "raw ms", "interlock ms", "ratio (wall)", "ratio (CPU)",
              "raw ONNX bytes", "artifact bytes", "size ratio")
    widths = (9, 38, 8, 12, 12, 11, 14, 14, 10)
    for cells in [header, *rows]:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=7, help="alternating repetitions per case")
    parser.add_argument("--rows", type=int, default=64, help="rows of the export sample")
    parser.add_argument("--quick", action="store_true", help="3 repetitions (under a minute)")
    parser.add_argument("--only", choices=sorted(CASES), action="append",
                        help="run only this exporter (repeatable)")
    args = parser.parse_args()
    if args.quick:
        args.reps = 3
    rows = []
    with tempfile.TemporaryDirectory(prefix="interlock-bench-") as store:
        for name in args.only or CASES:
            case = CASES[name](args.rows)
            rows.append(row(case, measure(case, str(Path(store)), args.reps)))
    print_table(rows, args)


if __name__ == "__main__":
    main()
