"""A runtime that returns float32 outputs as float64 (it upcasts what onnxruntime computes).

Breaks RT-020 (each output is a NumPy array of the declared dtype); ``Predictor.infer`` reports
it as a ``SpecViolation``. Otherwise it is the reference onnxruntime runtime.
"""

from __future__ import annotations

from typing import Any

from interlock import Artifact, Predictor, Runtime, hookimpl
from interlock_onnxruntime.plugin import OnnxRuntime


class UpcastingPredictor(Predictor):
    def __init__(self, inner: Predictor) -> None:
        super().__init__(
            inner.signature,
            inner.columns,
            runtime_name=inner.runtime_name,
            device=inner.device,
            model=inner.model,
        )
        self._inner = inner

    def _run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        outputs = self._inner._run(inputs)
        # The broken part: float32 outputs leave as float64.
        return {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in outputs.items()}


class UpcastingRuntime(OnnxRuntime):
    name = "upcasting"
    priority = 0
    description = "onnxruntime returning float64 for float32 outputs (deliberately broken)"

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        return UpcastingPredictor(super().load(artifact, device, options))


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    return [UpcastingRuntime()]
