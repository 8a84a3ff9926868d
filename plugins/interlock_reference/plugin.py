"""Hook implementation of the ``interlock_reference`` plugin.

Only light imports here: ONNX, NumPy and pydantic are imported when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock import FALLBACK_PRIORITY, Runtime, hookimpl

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock import Artifact, Predictor


class ReferenceRuntime(Runtime):
    """Runs artifacts with ``onnx.reference.ReferenceEvaluator`` (CPU, pure Python)."""

    name = "reference"
    description = "ONNX reference evaluator: pure Python, slow, independent of onnxruntime"
    devices = ("cpu",)
    capabilities = frozenset(
        {"external-data", "float16", "float64-precision", "int64-range", "string-tensors"}
    )
    priority = FALLBACK_PRIORITY

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_reference.evaluator import ReferenceOptions

        return ReferenceOptions

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        """Build a reference evaluator for the ONNX model of ``artifact``."""
        from interlock_reference.evaluator import ReferencePredictor

        kind, index = self.check_device(device)
        if index is not None:
            from interlock import DeviceUnavailableError

            raise DeviceUnavailableError(
                f"device {device!r}: the reference runtime's CPU device takes no index",
                hint="use device='cpu'",
                component=self.name,
            )
        return ReferencePredictor(artifact, self.parse_options(options), runtime=self)


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    """The ``reference`` runtime."""
    return [ReferenceRuntime()]
