"""Run the ONNX backend test cases shipped in the ``onnx`` package through every installed
runtime (``load_predictor`` on an artifact saved in a temporary store) and through raw
onnxruntime, and print pass / fail / refused / error counts per runtime.

A case is a folder holding ``model.onnx`` and ``test_data_set_0/{input,output}_*.pb``. By default
the ``node`` cases are used where the installed ``onnx`` ships them, else the ``simple``,
``pytorch-operator`` and ``pytorch-converted`` ones. ``pass``: outputs agree by RT-060
(``interlock.tensors.compare_outputs``, with the tolerances ``tolerances_for`` gives for the
runtime's capabilities: ``float64`` within the ``float32`` row for a runtime without
``float64-precision``, RT-052); ``fail``: they differ; ``refused``: the runtime raised
``UnsupportedModelError`` at load (RT-082), or an ``InterlockError`` at inference by a rule of
the spec (an ``int64`` beyond ``int32`` or a ``float64`` beyond ``float32`` refused, RT-051 and
RT-052); ``error``: anything else (the artifact could not be saved, the load or the run raised,
the inputs did not match the signature).

    python scripts/onnx_scoreboard.py [--limit N] [--case NAME ...] [--suite DIR ...]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from importlib import metadata
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

import interlock
from interlock.tensors import compare_outputs, tolerances_for

OUTCOMES = ("pass", "fail", "refused", "error")
RAW = "raw onnxruntime"
#: A runtime whose engine is not installed (``MissingDependencyError`` at load): left off the table.
MISSING = "missing"


def data_root() -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data"


def default_suites() -> list[Path]:
    root = data_root()
    if (root / "node").is_dir():
        return [root / "node"]
    return [root / name for name in ("simple", "pytorch-operator", "pytorch-converted")]


def find_cases(suites: list[Path]) -> list[Path]:
    return sorted(d for suite in suites for d in suite.iterdir()
                  if (d / "model.onnx").is_file() and (d / "test_data_set_0").is_dir())


def _tensors(folder: Path, prefix: str, names: list[str]) -> dict[str, np.ndarray]:
    files = sorted(folder.glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    values = {}
    for i, path in enumerate(files):
        proto = onnx.TensorProto()
        proto.ParseFromString(path.read_bytes())
        values[proto.name or names[i]] = numpy_helper.to_array(proto)
    return values


def load_case(case: Path) -> tuple[onnx.ModelProto, dict[str, np.ndarray], dict[str, np.ndarray]]:
    model = onnx.load(str(case / "model.onnx"))
    initializers = {t.name for t in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in initializers]
    out_names = [o.name for o in model.graph.output]
    data = case / "test_data_set_0"
    return model, _tensors(data, "input", in_names), _tensors(data, "output", out_names)


def run_case(case: Path, runtimes: list[str], store: str) -> dict[str, str]:
    """The outcome of ``case`` for each runtime and for raw onnxruntime."""
    outcomes: dict[str, str] = {}
    try:
        model, inputs, expected = load_case(case)
        outcomes[RAW] = _raw_onnxruntime(model, inputs, expected)
        artifact = interlock.save_artifact(model, store, name=case.name.replace("_", "-"),
                                           version="1")
    except Exception:
        return {**{name: "error" for name in runtimes}, RAW: outcomes.get(RAW, "error")}
    for name in runtimes:
        outcomes[name] = _through_interlock(artifact, name, inputs, expected)
    return outcomes


def _verdict(
    expected: dict[str, np.ndarray], got: dict[str, Any], capabilities: Collection[str] | None = None
) -> str:
    tolerances = None if capabilities is None else tolerances_for(capabilities)
    actual = {k: np.asarray(v) for k, v in got.items()}
    return "fail" if compare_outputs(expected, actual, tolerances) else "pass"


def _raw_onnxruntime(model: onnx.ModelProto, inputs: dict[str, np.ndarray],
                     expected: dict[str, np.ndarray]) -> str:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        results = session.run(None, inputs)
    except Exception:
        return "error"
    return _verdict(expected, dict(zip([o.name for o in session.get_outputs()], results)))


def _through_interlock(artifact: interlock.Artifact, runtime: str, inputs: dict[str, np.ndarray],
                       expected: dict[str, np.ndarray]) -> str:
    try:
        predictor = interlock.load_predictor(artifact, runtime)
    except interlock.UnsupportedModelError:
        return "refused"
    except interlock.MissingDependencyError:
        return MISSING
    except Exception:
        return "error"
    try:
        claimed = interlock.get_registry().get("runtime", runtime).capabilities
        return _verdict(expected, predictor.infer(inputs), claimed)
    except interlock.SignatureMismatch:
        return "error"
    except interlock.InterlockError:  # refused by a rule of the spec (RT-051, RT-052)
        return "refused"
    except Exception:
        return "error"


def scoreboard(cases: list[Path], runtimes: list[str]) -> dict[str, collections.Counter[str]]:
    counts: dict[str, collections.Counter[str]] = {n: collections.Counter() for n in [*runtimes, RAW]}
    with tempfile.TemporaryDirectory() as store:
        for case in cases:
            for name, outcome in run_case(case, runtimes, store).items():
                counts[name][outcome] += 1
    return counts


def table(counts: dict[str, collections.Counter[str]]) -> str:
    lines = [f"{'runtime':<18}" + "".join(f"{o:>9}" for o in OUTCOMES) + f"{'total':>9}"]
    for name, counter in counts.items():
        lines.append(f"{name:<18}" + "".join(f"{counter[o]:>9}" for o in OUTCOMES)
                     + f"{sum(counter.values()):>9}")
    return "\n".join(lines)


def versions() -> str:
    """The versions of the engines installed, e.g. ``onnx 1.23.2, onnxruntime 1.32.0``; an
    engine that is not installed (``openvino`` on many machines) is left out, never imported."""
    found = []
    for package in ("onnx", "onnxruntime", "openvino"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--suite", action="append", type=Path, help="a folder of cases")
    parser.add_argument("--case", action="append", help="only the cases of these names")
    parser.add_argument("--limit", type=int, help="only the first N cases")
    args = parser.parse_args(argv)
    cases = find_cases(args.suite or default_suites())
    if args.case:
        cases = [c for c in cases if c.name in set(args.case)]
    cases = cases[: args.limit] if args.limit else cases
    runtimes = sorted(r.name for r in interlock.get_registry().all("runtime"))
    print(f"{versions()}; {len(cases)} cases")
    counts = scoreboard(cases, runtimes)
    for name in [n for n, counter in counts.items() if counter[MISSING]]:
        print(f"{name}: left out, its engine is not installed")
        del counts[name]
    print(table(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
