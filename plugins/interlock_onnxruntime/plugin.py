"""Hook implementation of the ``interlock_onnxruntime`` plugin.

Only light imports here: onnxruntime, NumPy and pydantic are imported when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock import FALLBACK_PRIORITY, Runtime, hookimpl

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock import Artifact, Predictor


class OnnxRuntime(Runtime):
    """Runs artifacts with ``onnxruntime.InferenceSession``."""

    name = "onnxruntime"
    description = "ONNX Runtime: CPU, and CUDA with onnxruntime-gpu"
    devices = ("cpu", "cuda")
    capabilities = frozenset(
        {"external-data", "float16", "float64-precision", "int64-range", "string-tensors"}
    )
    priority = FALLBACK_PRIORITY

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_onnxruntime.session import OnnxRuntimeOptions

        return OnnxRuntimeOptions

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        """Open ``model.onnx`` of ``artifact`` in an inference session on ``device``."""
        from interlock_onnxruntime.session import load_session

        kind, index = self.check_device(device)
        return load_session(self, artifact, device, kind, index, self.parse_options(options))


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    """The ``onnxruntime`` runtime."""
    return [OnnxRuntime()]
