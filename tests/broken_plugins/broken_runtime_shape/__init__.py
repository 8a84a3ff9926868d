"""A runtime that returns every output of rank 2 or more flattened to one row per batch row
(``[rows, k, ...]`` becomes ``[rows * k * ...]``).

Breaks RT-020 (each output has the declared rank and sizes); ``Predictor.infer`` reports it as
a ``SpecViolation``. Otherwise it is the reference onnxruntime runtime.
"""

from __future__ import annotations

from typing import Any

from interlock import Artifact, Predictor, Runtime, hookimpl
from interlock_onnxruntime.plugin import OnnxRuntime


class FlatteningPredictor(Predictor):
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
        outputs = self._inner._run(inputs)
        return {k: v.reshape(-1) if v.ndim > 1 else v for k, v in outputs.items()}  # broken


class FlatteningRuntime(OnnxRuntime):
    name = "flattening"
    priority = 0
    description = "onnxruntime returning flattened outputs (deliberately broken)"

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        return FlatteningPredictor(super().load(artifact, device, options))


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    return [FlatteningRuntime()]
