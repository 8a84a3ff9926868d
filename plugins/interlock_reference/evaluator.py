"""The reference-evaluator predictor and its options (imported when a model is loaded)."""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from interlock import Predictor, UnsupportedModelError, get_registry

if TYPE_CHECKING:
    import onnx

    from interlock import Artifact, Runtime

__all__ = ["ReferenceOptions", "ReferencePredictor"]


class ReferenceOptions(BaseModel):
    """Options of the ``reference`` runtime (``load_predictor(..., **options)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verbose: int = Field(
        default=0, ge=0, le=4, description="Print each node as it runs (0: silent, up to 4)."
    )


class ReferencePredictor(Predictor):
    """A model in an ``onnx.reference.ReferenceEvaluator``; ``evaluator`` is that evaluator."""

    def __init__(self, artifact: Artifact, options: ReferenceOptions, *, runtime: Runtime) -> None:
        self.evaluator = _evaluator(artifact, artifact.onnx_model(), options, runtime)
        self._output_names = list(self.evaluator.output_names)
        super().__init__(
            artifact.signature,
            artifact.columns,
            runtime_name=runtime.name,
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


#: The domains whose operators ``onnx.reference`` implements (in part: the evaluator names the
#: first operator it lacks); any other domain's operator is unknown unless a model function.
_KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})
#: How ``onnx.reference`` names an operator it lacks: of an unknown domain or type, or of a
#: known domain without an implementation (``Gradient`` of ``ai.onnx.preview.training``).
_UNKNOWN = re.compile(
    r"Node type '([^']+)' from domain '([^']*)' is unknown"
    r"|No registered implementation for operator '([^']+)' and domain '([^']*)'"
)


def _evaluator(
    artifact: Artifact, model: onnx.ModelProto, options: ReferenceOptions, runtime: Runtime
) -> Any:
    """The evaluator of ``model``, or the RT-082 refusal naming the operators it lacks."""
    from onnx.reference import ReferenceEvaluator

    functions = {(f.domain, f.name) for f in model.functions}
    operators = {_operator_name(node.domain, node.op_type) for node in model.graph.node
                 if node.domain not in _KNOWN_DOMAINS
                 and (node.domain, node.op_type) not in functions}
    try:
        evaluator = ReferenceEvaluator(model, verbose=options.verbose)
    except NotImplementedError as exc:
        operators.update(_operator_name(domain or other_domain, op or other_op)
                         for op, domain, other_op, other_domain in _UNKNOWN.findall(str(exc)))
        if not operators:
            raise
        raise _refusal(runtime, artifact, operators) from exc
    if operators:
        raise _refusal(runtime, artifact, operators)
    return evaluator


def _operator_name(domain: str, op_type: str) -> str:
    return f"{domain}.{op_type}" if domain and domain != "ai.onnx" else op_type


def _refusal(runtime: Runtime, artifact: Artifact, operators: set[str]) -> UnsupportedModelError:
    others = [r for r in get_registry().all("runtime") if r.name != runtime.name]
    return UnsupportedModelError.refusing(
        operators, model=artifact.ref, runtime=runtime.name,
        candidates=[(r.name, partial(r.load, artifact, "cpu", {})) for r in others],
    )
