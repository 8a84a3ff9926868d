"""The OpenVINO predictor and its options (imported when a model is loaded)."""

from __future__ import annotations

import re
from functools import partial
import queue
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from interlock.errors import (
    ArtifactIntegrityError,
    DeviceUnavailableError,
    InterlockError,
    MissingDependencyError,
    UnsupportedModelError,
)
from interlock.plugins import get_registry
from interlock.runtimes import Predictor

if TYPE_CHECKING:
    from interlock.artifacts import Artifact
    from interlock.runtimes import Runtime

__all__ = ["OpenVinoOptions", "OpenVinoPredictor", "compile_artifact", "unconverted_operators"]

_INSTALL = "pip install 'interlock[openvino]'"


class OpenVinoOptions(BaseModel):
    """Options of the ``openvino`` runtime (``load_predictor(..., **options)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inference_num_threads: int = Field(
        default=0, ge=0,
        description="Threads OpenVINO may use for one inference (INFERENCE_NUM_THREADS); "
        "0 lets OpenVINO decide.",
    )
    performance_hint: Literal["latency", "throughput"] = Field(
        default="latency",
        description="PERFORMANCE_HINT: 'latency' for one request at a time, 'throughput' for "
        "many concurrent requests (more CPU streams).",
    )
    inference_precision: Literal["f32", "bf16"] = Field(
        default="f32",
        description="INFERENCE_PRECISION_HINT for floating-point layers: 'f32' agrees with the "
        "other runtimes; 'bf16' is faster where the CPU has bfloat16 instructions, but its "
        "results differ by about 1e-2.",
    )


class OpenVinoPredictor(Predictor):
    """A model compiled by OpenVINO; ``compiled_model`` is the ``openvino.CompiledModel``.

    Each call takes an ``InferRequest`` from a pool and puts it back (a request is not safe
    to share between threads; a compiled model is), so concurrent ``infer`` calls run side by
    side (RT-009) and the pool holds as many requests as calls ever ran at once. Not one
    request per thread: a caller on short-lived threads (a Rust writer pulling batches from a
    Python reader on its own worker threads, as deltalake does) would create and destroy one
    per batch, and a request destroyed while Python tears down such a thread's state crashes
    the process.
    """

    def __init__(
        self, compiled_model: Any, artifact: Artifact, *, runtime_name: str, device: str
    ) -> None:
        self.compiled_model = compiled_model
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outputs = [(spec.name, compiled_model.output(spec.name))
                         for spec in artifact.signature.outputs]
        self._int64_inputs = [s.name for s in artifact.signature.inputs if s.dtype == "int64"]
        self._float64_inputs = [s.name for s in artifact.signature.inputs if s.dtype == "float64"]
        super().__init__(
            artifact.signature,
            artifact.columns,
            runtime_name=runtime_name,
            device=device,
            model=f"{artifact.name}:{artifact.version}",
        )

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in self._int64_inputs:
            _check_int64_range(name, inputs[name])
        for name in self._float64_inputs:
            _check_float64_range(name, inputs[name])
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled_model.create_infer_request()
        try:
            results = request.infer(inputs)  # copies the outputs out of the request
        finally:
            self._requests.put(request)
        return {name: results[port] for name, port in self._outputs}


_INT32 = np.iinfo(np.int32)


def _check_int64_range(name: str, value: np.ndarray) -> None:
    """Refuse int64 values that OpenVINO's CPU plugin would truncate (it computes int64 as
    int32): an error, never a wrong result."""
    if value.size and (value.min() < _INT32.min or value.max() > _INT32.max):
        raise InterlockError(
            f"input {name!r} holds int64 values outside the int32 range, which OpenVINO's "
            "CPU plugin computes as int32 and would truncate",
            hint="use runtime='onnxruntime' for int64 values beyond +-2**31",
        )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float64_range(name: str, value: np.ndarray) -> None:
    """Refuse finite float64 values beyond float32's range, which the CPU plugin (computing
    float64 in float32) would turn into +-inf or +-3.4e38 (runtime.md RT-052)."""
    if not value.size:
        return
    if value.max() <= _FLOAT32_MAX and value.min() >= -_FLOAT32_MAX:
        return  # the common case, two passes and no copy (a NaN fails both tests)
    finite = value[np.isfinite(value)]
    if finite.size and (finite.max() > _FLOAT32_MAX or finite.min() < -_FLOAT32_MAX):
        raise InterlockError(
            f"input {name!r} holds float64 values beyond float32's range (above "
            f"{_FLOAT32_MAX:.8g} in magnitude), which OpenVINO's CPU plugin computes in "
            "float32 and would not represent",
            hint="use runtime='onnxruntime' for float64 values beyond float32's range",
        )


def compile_artifact(
    runtime: Runtime, artifact: Artifact, device: str, index: int | None, options: OpenVinoOptions
) -> OpenVinoPredictor:
    """Read ``artifact``'s ONNX model with OpenVINO, compile it and wrap it in a predictor."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise MissingDependencyError(
            "openvino", "openvino", purpose="the 'openvino' runtime"
        ) from exc
    if index is not None:
        raise DeviceUnavailableError(
            f"device {device!r}: the openvino CPU device takes no index",
            hint="use device='cpu'",
            component=runtime.name,
        )
    core = ov.Core()
    config = _compile_config(core, runtime, options)
    try:
        # A path, not bytes: OpenVINO reads external data (model.onnx.data) beside model.onnx,
        # inside the verified artifact directory.
        model = core.read_model(str(artifact.local_dir() / "model.onnx"))
        _refuse_int64_arithmetic(model, runtime, artifact)
        compiled = core.compile_model(model, "CPU", config)
    except RuntimeError as exc:
        operators = unconverted_operators(str(exc))
        if not operators:
            raise
        raise _refusal(runtime, artifact, operators) from exc
    _refuse_string_tensors(runtime, artifact)  # after the operators: those are named first
    _check_ports_match(compiled, artifact, runtime)
    return OpenVinoPredictor(compiled, artifact, runtime_name=runtime.name, device=device)


def _compile_config(core: Any, runtime: Runtime, options: OpenVinoOptions) -> dict[str, str]:
    if options.inference_precision == "bf16":
        capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if "BF16" not in capabilities:
            raise InterlockError(
                "option inference_precision='bf16' of runtime 'openvino': this CPU has no "
                f"bfloat16 support (OpenVINO lists {', '.join(capabilities)})",
                hint="use inference_precision='f32'",
                component=runtime.name,
            )
    return {
        "INFERENCE_NUM_THREADS": str(options.inference_num_threads),
        "PERFORMANCE_HINT": options.performance_hint.upper(),
        # OpenVINO's default on CPUs with bfloat16 instructions is bf16: results would differ
        # from every other runtime's, so f32 is asked for unless bf16 is chosen.
        "INFERENCE_PRECISION_HINT": options.inference_precision,
    }


#: What OpenVINO says when it cannot convert or compile an operator: the ONNX front end's
#: report ("No conversion rule found for operations: com.acme.Frobnicate, Foo") or the CPU
#: plugin's ("Unsupported operation of type: Foo").
_NO_RULE = re.compile(r"No conversion rule found for operations?: ([^\n]+)")
_UNSUPPORTED = re.compile(r"Unsupported operation of type: ([\w.]+)")


def unconverted_operators(message: str) -> list[str]:
    """The operators that an OpenVINO error ``message`` says it cannot convert or run."""
    found = [name.strip() for line in _NO_RULE.findall(message) for name in line.split(",")]
    found += _UNSUPPORTED.findall(message)
    return sorted({name for name in found if name})


def _refusal(runtime: Runtime, artifact: Artifact, operators: list[str]) -> UnsupportedModelError:
    """The RT-082 refusal, naming the other installed runtimes that load ``artifact``."""
    others = [r for r in get_registry().all("runtime") if r.name != runtime.name]
    return UnsupportedModelError.refusing(
        operators, model=artifact.ref, runtime=runtime.name,
        candidates=[(r.name, partial(r.load, artifact, "cpu", {})) for r in others],
    )


#: OpenVINO operations whose int64 result can leave the int32 range of their inputs, with
#: the ONNX operator each comes from.
_GROWING = {
    "Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Divide": "Div", "Power": "Pow",
    "Negative": "Neg", "Abs": "Abs", "CumSum": "CumSum", "ReduceSum": "ReduceSum",
    "ReduceProd": "ReduceProd", "ReduceL1": "ReduceL1", "MatMul": "MatMul", "Einsum": "Einsum",
    "SquaredDifference": "Sub", "Convert": "Cast",
}
#: Element types whose every value fits in int32: converting them to int64 cannot overflow.
_NARROW = {"boolean", "i8", "i16", "i32", "u8", "u16"}


def _refuse_int64_arithmetic(model: Any, runtime: Runtime, artifact: Artifact) -> None:
    """OpenVINO's CPU plugin computes int64 in 32 bits, so int64 arithmetic on values that
    come from the model's inputs could wrap around unseen: refused at load (RT-051), never a
    wrong result. Arithmetic on shapes (ShapeOf and what follows from it) stays allowed:
    shapes never come near 2**31."""
    from_inputs: set[str] = set()
    found: set[str] = set()
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        sources = [i.get_source_output().get_node() for i in op.inputs()]
        fed = any(source.get_name() in from_inputs for source in sources)
        if kind == "Parameter" or (fed and kind != "ShapeOf"):
            from_inputs.add(op.get_name())
        if not fed or kind not in _GROWING or op.get_output_element_type(0).get_type_name() != "i64":
            continue
        if kind == "Convert" and op.get_input_element_type(0).get_type_name() in _NARROW:
            continue
        found.add(_GROWING[kind])
    if found:
        refusal = _refusal(runtime, artifact, sorted(found))
        raise UnsupportedModelError(
            f"runtime {runtime.name!r} cannot run model {artifact.ref} exactly: it does int64 "
            f"arithmetic on its inputs ({', '.join(sorted(found))}), which OpenVINO's CPU "
            "plugin computes in 32 bits, so a result beyond +-2**31 would wrap around unseen",
            operators=refusal.operators, runtimes=refusal.runtimes, hint=refusal.hint,
            component=runtime.name,
        )


def _refuse_string_tensors(runtime: Runtime, artifact: Artifact) -> None:
    """This runtime does not claim string-tensors: say so at load, not at the first inference
    (RT-070)."""
    strings = [s.name for s in [*artifact.signature.inputs, *artifact.signature.outputs]
               if s.dtype == "string"]
    if strings:
        raise InterlockError(
            f"runtime {runtime.name!r} does not run string tensors (it does not claim "
            f"string-tensors); model {artifact.ref} has string tensor(s) {strings}",
            hint="load it with runtime='onnxruntime' or runtime='reference'",
            component=runtime.name,
        )


def _check_ports_match(compiled: Any, artifact: Artifact, runtime: Runtime) -> None:
    """Every declared tensor must survive compilation. OpenVINO drops graph inputs it does not
    use, and its conversion of sequence operators drops inputs that ARE used (the outputs then
    come from uninitialised memory): either way the model is refused at load (RT-082), naming
    the operators that consume the dropped inputs."""
    names = {name for port in [*compiled.inputs, *compiled.outputs] for name in port.get_names()}
    declared = [s.name for s in [*artifact.signature.inputs, *artifact.signature.outputs]]
    missing = [name for name in declared if name not in names]
    if missing:
        graph = artifact.onnx_model(load_external_data=False).graph
        consumers = {f"{n.domain}.{n.op_type}" if n.domain else n.op_type
                     for n in graph.node if set(n.input) & set(missing)}
        raise _refusal(runtime, artifact, sorted(consumers) or [f"(dropped {missing})"])