"""A runtime that claims the ``cuda`` device but, where no GPU can be used, fails with a plain
``RuntimeError`` from its SDK instead of ``DeviceUnavailableError``.

Breaks RT-006 (a listed device that cannot be used here raises ``DeviceUnavailableError``
naming it, with a hint saying how to get it); users get a ``PluginError`` that tells them
nothing about the device. Otherwise it is the reference onnxruntime runtime.
"""

from __future__ import annotations

from typing import Any

from interlock import Artifact, DeviceUnavailableError, Predictor, Runtime, hookimpl
from interlock_onnxruntime.plugin import OnnxRuntime


class GpuClaimingRuntime(OnnxRuntime):
    name = "claimsgpu"
    priority = 0
    description = "onnxruntime failing obscurely without a GPU (deliberately broken)"

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        try:
            return super().load(artifact, device, options)
        except DeviceUnavailableError:
            raise RuntimeError("cudaGetDeviceCount failed: error 100") from None  # broken


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    return [GpuClaimingRuntime()]
