"""A runtime that computes float32 models in half precision: its float32 outputs hold only
float16's precision and range.

Breaks RT-060 (two conforming runtimes agree within rtol 1e-4, atol 1e-5 on float32 outputs),
so its outputs differ from the golden ones and from every other runtime's. Otherwise it is the
reference onnxruntime runtime.
"""

from __future__ import annotations

from typing import Any

from interlock import Artifact, Predictor, Runtime, hookimpl
from interlock_onnxruntime.plugin import OnnxRuntime


class HalfPrecisionPredictor(Predictor):
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
        return {  # the broken part: float32 results rounded through float16
            k: v.astype(np.float16).astype(np.float32) if v.dtype == np.float32 else v
            for k, v in outputs.items()
        }


class HalfPrecisionRuntime(OnnxRuntime):
    name = "halfprecision"
    priority = 0
    description = "onnxruntime rounding float32 results to float16 (deliberately broken)"

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        return HalfPrecisionPredictor(super().load(artifact, device, options))


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    return [HalfPrecisionRuntime()]
