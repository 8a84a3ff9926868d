"""A runtime whose library is not installed says so when it loads (spec: runtime.md RT-007,
plugins.md PLG-042).

In a fresh interpreter the runtime loads a golden model and runs it once, and the case records
the libraries beyond interlock's own required dependencies that the plugin imports meanwhile.
Each of them is then hidden (``import`` fails as where it is not installed) in another fresh
interpreter: ``interlock.load_predictor`` must raise ``interlock.MissingDependencyError``
naming the package, with a hint saying how to install it (for interlock's own plugins, its
extra), unless the runtime works without it. A library first imported at inference is no
excuse: ``load`` is where it must be found missing. A runtime that needs nothing beyond
interlock's dependencies has nothing that can be missing, and passes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interlock import Runtime
from interlock.plugins import PluginInfo

from interlock_conformance.cases._dependencies import problems_when_hidden, run_probe
from interlock_conformance.markers import component_kind, requirement
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("runtime")

#: The most libraries a case hides, one interpreter each.
_MOST = 8

_LOAD_AND_INFER = """
import interlock
predictor = interlock.load_predictor(spec["ref"], runtime=spec["runtime"], store=spec["store"])
stage = "infer"
import numpy
with numpy.load(spec["inputs"]) as arrays:
    predictor.infer({name: arrays[name] for name in arrays.files})
"""

_ACTION = {"load": "interlock.load_predictor", "infer": "Predictor.infer"}


def _model_for(component: Runtime, vectors: VectorIndex) -> str:
    """A golden model the runtime claims to run, a plain float32 one where it can."""
    claimed = set(component.capabilities)
    names = sorted(n for n, m in vectors.models.items() if set(m.runtime_capabilities) <= claimed)
    assert names, f"runtime {component.name!r} claims none of the golden models' capabilities"
    return "mlp_float32" if "mlp_float32" in names else names[0]


@requirement("RT-007", "PLG-042")
def test_a_missing_library_makes_load_raise_missing_dependency_error(
    component: Runtime, plugin_info: PluginInfo, golden_store: str, vectors: VectorIndex,
    tmp_path: Path,
) -> None:
    """Each library the runtime imports beyond interlock's dependencies, hidden in turn, makes
    ``load_predictor`` raise ``MissingDependencyError`` naming it, with an install hint."""
    name = _model_for(component, vectors)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **vectors.inputs(name))  # type: ignore[arg-type]
    spec = {"ref": f"{name}:1", "runtime": component.name, "store": golden_store,
            "inputs": str(inputs)}
    plain = run_probe(_LOAD_AND_INFER, spec, hide=None, plugin=plugin_info)
    assert plain.stage != "load", (
        f"in a fresh interpreter, with every library installed, loading {name}:1 with runtime "
        f"{component.name!r} failed, so no library could be made missing: "
        + plain.describe(_ACTION))
    problems = problems_when_hidden(_LOAD_AND_INFER, spec, plain, plugin=plugin_info, names=_ACTION,
                                    most=_MOST)
    assert not problems, (
        f"runtime {component.name!r}, loading {name}:1: " + "; ".join(problems)
        + " (runtime.md RT-007: when the library a runtime needs is not installed, load MUST "
        "raise interlock.MissingDependencyError naming the package and how to install it)")
