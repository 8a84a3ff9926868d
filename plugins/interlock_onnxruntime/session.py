"""The onnxruntime predictor and its options (imported when a model is loaded)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from interlock import (
    ArtifactIntegrityError,
    DeviceUnavailableError,
    MissingDependencyError,
    Predictor,
    UnsupportedModelError,
    get_registry,
)

if TYPE_CHECKING:
    import numpy as np

    from interlock import Artifact, Runtime

__all__ = ["OnnxRuntimeOptions", "OnnxRuntimePredictor", "load_session"]

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


class OnnxRuntimeOptions(BaseModel):
    """Options of the ``onnxruntime`` runtime (``load_predictor(..., **options)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intra_op_num_threads: int = Field(
        default=0, ge=0, description="Threads within one operator; 0 lets onnxruntime decide."
    )
    inter_op_num_threads: int = Field(
        default=0, ge=0, description="Threads across operators (parallel mode); 0: default."
    )
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = Field(
        default="all", description="How far onnxruntime rewrites the graph before running it."
    )
    execution_mode: Literal["sequential", "parallel"] = Field(
        default="sequential", description="Run independent branches of the graph in parallel."
    )
    enable_profiling: bool = Field(
        default=False,
        description="Write an onnxruntime profile (JSON, in the working directory, named "
        "after profile_file_prefix); end it with predictor.session.end_profiling().",
    )
    profile_file_prefix: str = Field(default="onnxruntime_profile", min_length=1)
    enable_cpu_mem_arena: bool = Field(default=True, description="Pool CPU allocations.")
    enable_mem_pattern: bool = Field(default=True, description="Pre-plan memory by pattern.")
    log_severity_level: int = Field(
        default=2, ge=0, le=4, description="0 verbose, 1 info, 2 warning, 3 error, 4 fatal."
    )
    cuda_options: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="Provider options for CUDAExecutionProvider (device 'cuda' only), for "
        "example {'gpu_mem_limit': 2147483648}; the device index comes from the device.",
    )


class OnnxRuntimePredictor(Predictor):
    """A model in an ``onnxruntime.InferenceSession``; ``session`` is that session."""

    def __init__(self, session: Any, artifact: Artifact, *, runtime_name: str, device: str) -> None:
        self.session = session
        # Cached once: _run is on the hot path.
        self._output_names = [output.name for output in session.get_outputs()]
        # InferenceSession.run is a Python wrapper around the C++ session's run: it checks the
        # input names (Predictor.infer has checked the whole feed already) and retries on the
        # CPU provider when an accelerator fails (interlock refuses to fall back silently).
        # Calling the C++ method saves about 7 us a call, a quarter of a small model's run;
        # an onnxruntime without it keeps the wrapper.
        native_run = getattr(getattr(session, "_sess", None), "run", None)
        self._session_run: Callable[[Any, dict[str, np.ndarray]], list[np.ndarray]]
        if callable(native_run):
            names = self._output_names
            self._session_run = lambda _, feed: native_run(names, feed, None)
        else:
            self._session_run = session.run
        super().__init__(
            artifact.signature,
            artifact.columns,
            runtime_name=runtime_name,
            device=device,
            model=f"{artifact.name}:{artifact.version}",
        )

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._output_names, self._session_run(None, inputs)))


def load_session(
    runtime: Runtime,
    artifact: Artifact,
    device: str,
    kind: str,
    index: int | None,
    options: OnnxRuntimeOptions,
) -> OnnxRuntimePredictor:
    """Create the inference session for ``artifact`` and wrap it in a predictor."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError(
            "onnxruntime", "onnxruntime", purpose="the 'onnxruntime' runtime"
        ) from exc

    providers = _providers(ort, runtime, device, kind, index, options)
    session_options = _session_options(ort, options)

    # A path, not bytes: onnxruntime resolves external data next to model.onnx, inside the
    # verified artifact directory.
    model_path = artifact.local_dir() / "model.onnx"
    try:
        session = ort.InferenceSession(
            str(model_path), sess_options=session_options, providers=providers
        )
    except Exception as exc:
        operators = unimplemented_operators(str(exc))
        if not operators:
            raise
        raise _refusal(runtime, artifact, operators) from exc
    if kind == "cuda" and session.get_providers()[0] != _CUDA:
        # onnxruntime falls back to CPU (logging only) when the CUDA libraries fail to load.
        raise DeviceUnavailableError(
            f"onnxruntime could not start {_CUDA} for device {device!r} (it fell back to "
            f"{', '.join(session.get_providers())})",
            hint="check that the CUDA and cuDNN versions match the installed onnxruntime-gpu",
            component=runtime.name,
        )
    _check_session_matches(session, artifact)
    return OnnxRuntimePredictor(session, artifact, runtime_name=runtime.name, device=device)


#: What onnxruntime says when a session cannot be built for lack of a kernel: an operator of an
#: unknown domain or name ("com.acme:Frobnicate(-1) is not a registered function/op"), or one
#: without an implementation for its version or types (NOT_IMPLEMENTED, "Could not find an
#: implementation for Frobnicate(7) node with name 'n'").
_UNREGISTERED = re.compile(r"(?:([\w.]*):)?(\w+)\(-?\d+\) is not a registered function/op")
_NOT_IMPLEMENTED = re.compile(r"Could not find an implementation for (\w+)\(\d+\) node")


def unimplemented_operators(message: str) -> list[str]:
    """The operators that an onnxruntime session-creation error ``message`` says it lacks."""
    found = [f"{domain}.{op}" if domain and domain != "ai.onnx" else op
             for domain, op in _UNREGISTERED.findall(message)]
    found += _NOT_IMPLEMENTED.findall(message)
    return sorted(set(found))


def _refusal(runtime: Runtime, artifact: Artifact, operators: list[str]) -> UnsupportedModelError:
    """The RT-082 refusal, naming the other installed runtimes that load ``artifact``."""
    others = [r for r in get_registry().all("runtime") if r.name != runtime.name]
    return UnsupportedModelError.refusing(
        operators, model=artifact.ref, runtime=runtime.name,
        candidates=[(r.name, partial(r.load, artifact, "cpu", {})) for r in others],
    )


def _providers(
    ort: Any,
    runtime: Runtime,
    device: str,
    kind: str,
    index: int | None,
    options: OnnxRuntimeOptions,
) -> list[Any]:
    """The execution providers for ``device``: CUDA (then CPU) for ``cuda``, else the CPU.

    Raises :class:`interlock.DeviceUnavailableError` when the installed onnxruntime has no
    CUDA provider, or when a CPU device is given an index.
    """
    if kind == "cuda":
        available = ort.get_available_providers()
        if _CUDA not in available:
            raise DeviceUnavailableError(
                f"device {device!r} needs onnxruntime's {_CUDA}, but the installed onnxruntime "
                f"{ort.__version__} offers only {', '.join(available)}",
                hint="pip install onnxruntime-gpu (in place of onnxruntime) on a machine with "
                "an NVIDIA GPU and CUDA, or use device='cpu'",
                component=runtime.name,
            )
        return [(_CUDA, {**options.cuda_options, "device_id": index or 0}), _CPU]
    if index is not None:
        raise DeviceUnavailableError(
            f"device {device!r}: the onnxruntime CPU device takes no index",
            hint="use device='cpu'",
            component=runtime.name,
        )
    return [_CPU]


def _session_options(ort: Any, options: OnnxRuntimeOptions) -> Any:
    """``options`` as an ``onnxruntime.SessionOptions``."""
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_op_num_threads
    session_options.inter_op_num_threads = options.inter_op_num_threads
    session_options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[options.graph_optimization_level]
    session_options.execution_mode = (
        ort.ExecutionMode.ORT_PARALLEL
        if options.execution_mode == "parallel"
        else ort.ExecutionMode.ORT_SEQUENTIAL
    )
    session_options.enable_profiling = options.enable_profiling
    session_options.profile_file_prefix = options.profile_file_prefix
    session_options.enable_cpu_mem_arena = options.enable_cpu_mem_arena
    session_options.enable_mem_pattern = options.enable_mem_pattern
    session_options.log_severity_level = options.log_severity_level
    return session_options


def _check_session_matches(session: Any, artifact: Artifact) -> None:
    inputs = sorted(i.name for i in session.get_inputs())
    outputs = sorted(o.name for o in session.get_outputs())
    declared_inputs = sorted(s.name for s in artifact.signature.inputs)
    declared_outputs = sorted(s.name for s in artifact.signature.outputs)
    if inputs != declared_inputs or outputs != declared_outputs:
        raise ArtifactIntegrityError(
            f"artifact {artifact.ref}: its manifest declares inputs {declared_inputs} and "
            f"outputs {declared_outputs}, but model.onnx has inputs {inputs} and outputs "
            f"{outputs}",
            hint="re-save the artifact with interlock.save_artifact so that the signature is "
            "read from the model",
        )
