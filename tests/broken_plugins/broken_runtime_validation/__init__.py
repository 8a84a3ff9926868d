"""A runtime whose predictor skips the signature checks: ``infer`` hands whatever it gets
(wrong dtypes, missing inputs, wrong shapes) straight to onnxruntime.

Breaks RT-010 and the input checks of RT-011 to RT-016 (nothing reaches ``_run`` unchecked;
mistakes raise ``SignatureMismatch`` naming the tensor). Otherwise it is the reference
onnxruntime runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock import Artifact, Predictor, Runtime, hookimpl
from interlock_onnxruntime.plugin import OnnxRuntime


class UncheckedPredictor(Predictor):
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
        return self._inner._run(inputs)

    def infer(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(dict(inputs))  # the broken part: no validation at all


class UncheckedRuntime(OnnxRuntime):
    name = "unchecked"
    priority = 0
    description = "onnxruntime without input validation (deliberately broken)"

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        return UncheckedPredictor(super().load(artifact, device, options))


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    return [UncheckedRuntime()]
