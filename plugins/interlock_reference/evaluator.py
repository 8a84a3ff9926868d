"""The reference-evaluator predictor and its options (imported when a model is loaded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from interlock import Predictor

if TYPE_CHECKING:
    from interlock import Artifact

__all__ = ["ReferenceOptions", "ReferencePredictor"]


class ReferenceOptions(BaseModel):
    """Options of the ``reference`` runtime (``load_predictor(..., **options)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verbose: int = Field(
        default=0, ge=0, le=4, description="Print each node as it runs (0: silent, up to 4)."
    )


class ReferencePredictor(Predictor):
    """A model in an ``onnx.reference.ReferenceEvaluator``; ``evaluator`` is that evaluator."""

    def __init__(self, artifact: Artifact, options: ReferenceOptions, *, runtime_name: str) -> None:
        from onnx.reference import ReferenceEvaluator

        self.evaluator = ReferenceEvaluator(artifact.onnx_model(), verbose=options.verbose)
        self._output_names = list(self.evaluator.output_names)
        super().__init__(
            artifact.signature,
            artifact.columns,
            runtime_name=runtime_name,
            device="cpu",
            model=f"{artifact.name}:{artifact.version}",
        )
        self._string_outputs = frozenset(
            s.name for s in artifact.signature.outputs if s.dtype == "string"
        )

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.evaluator.run(None, inputs)
        outputs: dict[str, np.ndarray] = {}
        for name, value in zip(self._output_names, results):
            # The evaluator returns NumPy scalars for some 0-d results, and str_ arrays from
            # some string kernels; the predictor contract is ndarrays, strings as objects.
            array = np.asarray(value)
            if name in self._string_outputs and array.dtype.kind == "U":
                array = array.astype(object)
            outputs[name] = array
        return outputs
