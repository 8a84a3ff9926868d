"""What saving and loading through artifacts costs, against raw ``onnx.save_model``/``onnx.load``.

For a small model (weights inline) and a large one (weights as external data), times:

- save: ``onnx.save_model`` to a directory  vs  ``interlock.save_artifact`` into a local store
  (manifest, sha256 of every file, checker, staged atomic publish with fsync, verified reload);
- load: ``onnx.load`` (external data included)  vs  ``interlock.load_artifact(...)`` with full
  verification followed by ``.onnx_model()``.

Repetitions are interleaved (alternating which side goes first) and the median is reported.
The interlock side does strictly more work (hashing, verification, durability), so ratios above
1 are expected; the figure to watch is how far above.

A second table compares the ``mlflow`` store (a SQLite tracking database and a local artifact
root: a run logged and a model version registered per publish, the registry searched on load)
with the ``fsspec`` store on local disk, for the same ``save_artifact`` and
``load_artifact(...).onnx_model()`` calls (``--no-mlflow`` leaves it out).

    python benchmarks/bench_artifacts.py [--large-mb 128] [--repeats 5] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import interlock


def make_model(weight_mb: float) -> onnx.ModelProto:
    """y = x @ w with w: float32[1024, n], about ``weight_mb`` MB of weights."""
    cols = max(1, int(weight_mb * 1e6 / 4 / 1024))
    w = np.random.default_rng(0).standard_normal((1024, cols), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", cols])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run_case(
    label: str, model: onnx.ModelProto, external: bool, repeats: int, work: Path
) -> list[tuple[str, float, float]]:
    """Median save and load times, raw onnx against interlock, for one model."""
    store = str(work / f"store-{label}")
    raw_dir = work / f"raw-{label}"
    raw_dir.mkdir()
    saves: dict[str, list[float]] = {"raw": [], "interlock": []}
    loads: dict[str, list[float]] = {"raw": [], "interlock": []}
    for rep in range(repeats):
        raw_path = raw_dir / f"m{rep}.onnx"
        # onnx.save_model converts the model it is given to external data in place: give it a
        # copy, made outside the timing.
        raw_model = onnx.ModelProto()
        raw_model.CopyFrom(model)

        def save_raw() -> None:
            onnx.save_model(
                raw_model,
                str(raw_path),
                save_as_external_data=external,
                location=f"m{rep}.onnx.data",
            )

        def save_interlock() -> None:
            interlock.save_artifact(
                model, store, name="bench", version=f"v{rep}", external_data=external
            )

        def load_raw() -> None:
            onnx.load(str(raw_path))

        def load_interlock() -> None:
            interlock.load_artifact(f"bench:v{rep}", store).onnx_model()

        order = [("raw", save_raw, load_raw), ("interlock", save_interlock, load_interlock)]
        if rep % 2:
            order.reverse()
        for side, save, _ in order:
            saves[side].append(timed(save))
        for side, _, load in order:
            loads[side].append(timed(load))
    return [
        (f"{label}: save", statistics.median(saves["raw"]), statistics.median(saves["interlock"])),
        (f"{label}: load", statistics.median(loads["raw"]), statistics.median(loads["interlock"])),
    ]


def run_store_case(
    label: str, model: onnx.ModelProto, external: bool, repeats: int, work: Path
) -> list[tuple[str, float, float]]:
    """Median save and load times through the fsspec store against the mlflow store."""
    from interlock_mlflow import MlflowArtifactStore

    roots = {
        "fsspec": str(work / f"fs-{label}"),
        "mlflow": MlflowArtifactStore.populate(work / f"mlflow-{label}", []),
    }
    stores = {side: interlock.open_store(root) for side, root in roots.items()}
    stores["mlflow"].names()  # connect (create the database) outside the timings
    saves: dict[str, list[float]] = {"fsspec": [], "mlflow": []}
    loads: dict[str, list[float]] = {"fsspec": [], "mlflow": []}
    for rep in range(repeats):
        order = ["fsspec", "mlflow"] if rep % 2 == 0 else ["mlflow", "fsspec"]
        for side in order:
            saves[side].append(timed(lambda: interlock.save_artifact(
                model, stores[side], name="bench", version=f"v{rep}", external_data=external)))
        for side in order:
            # a fresh store object: nothing cached, every lookup goes to the registry
            loads[side].append(timed(lambda: interlock.load_artifact(
                f"bench:v{rep}", interlock.open_store(roots[side])).onnx_model()))
    return [
        (f"{label}: save", statistics.median(saves["fsspec"]), statistics.median(saves["mlflow"])),
        (f"{label}: load", statistics.median(loads["fsspec"]), statistics.median(loads["mlflow"])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mb", type=float, default=128.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true", help="skip the mlflow store table")
    args = parser.parse_args()
    rows = []
    store_rows = []
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        work = Path(tmp)
        interlock.open_store(str(work / "warm")).names()  # load plugins outside the timings
        rows += run_case("small (1 MB inline)", make_model(1.0), False, args.repeats, work)
        rows += run_case(
            f"large ({args.large_mb:.0f} MB external)",
            make_model(args.large_mb),
            True,
            args.repeats,
            work,
        )
        if not args.no_mlflow:
            small, large = make_model(1.0), make_model(args.large_mb)
            store_rows += run_store_case("small (1 MB inline)", small, False, args.repeats, work)
            store_rows += run_store_case(
                f"large ({args.large_mb:.0f} MB external)", large, True, args.repeats, work
            )
    print(f"{'case':34} {'raw onnx':>10} {'interlock':>10} {'ratio':>7}")
    for case, raw, ours in rows:
        print(f"{case:34} {raw * 1000:8.1f}ms {ours * 1000:8.1f}ms {ours / raw:6.2f}x")
    if store_rows:
        print()
        print(f"{'store case':34} {'fsspec':>10} {'mlflow':>10} {'ratio':>7}")
        for case, fs_time, mlflow_time in store_rows:
            print(f"{case:34} {fs_time * 1000:8.1f}ms {mlflow_time * 1000:8.1f}ms "
                  f"{mlflow_time / fs_time:6.2f}x")


if __name__ == "__main__":
    main()
