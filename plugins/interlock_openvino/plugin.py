"""Hook implementation of the ``interlock_openvino`` plugin.

Only light imports here: OpenVINO, NumPy and pydantic are imported when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.plugins import FALLBACK_PRIORITY, hookimpl
from interlock.runtimes import Runtime

if TYPE_CHECKING:
    from pydantic import BaseModel

    from interlock.artifacts import Artifact
    from interlock.runtimes import Predictor


class OpenVinoRuntime(Runtime):
    """Runs artifacts with OpenVINO: ``Core.read_model`` on the ONNX file, compiled for the CPU."""

    name = "openvino"
    description = "Intel OpenVINO: the ONNX model compiled for the CPU"
    devices = ("cpu",)
    # No string-tensors: OpenVINO's ONNX front end does not read string tensors from NumPy.
    capabilities = frozenset({"external-data", "float16"})
    priority = FALLBACK_PRIORITY

    @property
    def options_model(self) -> type[BaseModel]:
        from interlock_openvino.compiled import OpenVinoOptions

        return OpenVinoOptions

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        """Read ``model.onnx`` of ``artifact`` with OpenVINO and compile it for ``device``."""
        from interlock_openvino.compiled import compile_artifact

        settings = self.parse_options(options)
        _, index = self.check_device(device)
        return compile_artifact(self, artifact, device, index, settings)


@hookimpl
def interlock_runtimes() -> list[Runtime]:
    """The ``openvino`` runtime."""
    return [OpenVinoRuntime()]
