"""A runtime that imports onnxruntime without minding that it may not be installed: where it is
not, ``load`` fails with the bare ``ModuleNotFoundError`` (wrapped by the core as a
``PluginError``) instead of ``MissingDependencyError``.

Breaks RT-007 and PLG-042 (a missing library raises ``interlock.MissingDependencyError`` naming
the package and how to install it); users learn that a module is missing but not which
distribution or extra brings it. Otherwise it is the reference onnxruntime runtime.
"""

from __future__ import annotations

from typing import Any

from interlock import Artifact, Predictor, Runtime, hookimpl
from interlock_onnxruntime.plugin import OnnxRuntime


class BareImportRuntime(OnnxRuntime):
    name = "bareimport"
    priority = 0
    description = "onnxruntime imported with no install hint (deliberately broken)"

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        import onnxruntime  # noqa: F401  (broken: no MissingDependencyError when it is missing)

        return super().load(artifact, device, options)


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    return [BareImportRuntime()]
