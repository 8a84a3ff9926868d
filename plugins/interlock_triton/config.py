"""``config.pbtxt``: Triton's model configuration, written from an interlock signature and read
back into one, always through Triton's own protobuf (``tritonclient.grpc.model_config_pb2``)
and ``google.protobuf.text_format``, never by pasting strings.

Triton's rules that shape the mapping: with ``max_batch_size > 0`` every input and output has
an implicit first (batch) dimension that ``dims`` leaves out; with ``max_batch_size: 0`` the
``dims`` are the full shape; ``-1`` is a dimension of any size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.errors import ArtifactError, MissingDependencyError
from interlock.tensors import DTYPES, Signature, TensorSpec

if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "ONNX_BACKEND",
    "ONNX_PLATFORM",
    "config_for",
    "config_text",
    "has_batch_dimension",
    "onnx_problem",
    "parse_config",
    "signature_from_config",
    "triton_data_type",
]

ONNX_PLATFORM = "onnxruntime_onnx"
ONNX_BACKEND = "onnxruntime"
#: ``max_batch_size`` written for a model whose tensors all start with a symbolic batch.
DEFAULT_MAX_BATCH_SIZE = 32
#: The batch dimension's name in a signature derived from a config whose graph leaves it unnamed.
BATCH_NAME = "batch"


def _protobuf() -> Any:
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        raise MissingDependencyError(
            "tritonclient", "triton", purpose="reading and writing Triton's config.pbtxt"
        ) from None
    return model_config_pb2


def triton_data_type(dtype: str) -> str:
    """Triton's ``DataType`` name of a spec v1 dtype (``float32`` -> ``TYPE_FP32``; strings,
    OIP ``BYTES``, are ``TYPE_STRING``)."""
    oip = DTYPES[dtype].oip
    return "TYPE_STRING" if oip == "BYTES" else f"TYPE_{oip}"


_BY_TRITON = {triton_data_type(name): name for name in DTYPES}


def has_batch_dimension(signature: Signature) -> bool:
    """Whether every input and output starts with the same symbolic dimension (a named one, or
    an unnamed one), which Triton can then batch."""
    firsts: set[str] = set()
    for spec in (*signature.inputs, *signature.outputs):
        if not spec.shape or isinstance(spec.shape[0], int):
            return False
        if isinstance(spec.shape[0], str):
            firsts.add(spec.shape[0])
    return len(firsts) <= 1


def config_for(
    signature: Signature, name: str, *, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
) -> model_config_pb2.ModelConfig:
    """The ``ModelConfig`` that serves a model of ``signature`` with ONNX Runtime.

    ``max_batch_size`` applies when every tensor starts with a symbolic batch (that dimension
    is then left out of ``dims``); otherwise, or with ``max_batch_size=0``, the config says
    ``max_batch_size: 0`` and gives full shapes. Symbolic dimensions are ``-1``.
    """
    pb = _protobuf()
    if max_batch_size < 0:
        raise ArtifactError(
            f"max_batch_size {max_batch_size} is negative",
            hint="give 0 (no batching by Triton) or a positive batch size",
        )
    batched = max_batch_size > 0 and has_batch_dimension(signature)
    config = pb.ModelConfig(
        name=name,
        platform=ONNX_PLATFORM,
        backend=ONNX_BACKEND,
        max_batch_size=max_batch_size if batched else 0,
    )
    for specs, entries in ((signature.inputs, config.input), (signature.outputs, config.output)):
        for spec in specs:
            entry = entries.add()
            entry.name = spec.name
            entry.data_type = pb.DataType.Value(triton_data_type(spec.dtype))
            shape = spec.shape[1:] if batched else spec.shape
            entry.dims.extend(d if isinstance(d, int) else -1 for d in shape)
    return config


def config_text(config: model_config_pb2.ModelConfig) -> str:
    """The text format of ``config``, as Triton reads ``config.pbtxt``."""
    from google.protobuf import text_format

    text: str = text_format.MessageToString(config)
    return text


def parse_config(text: bytes, where: str) -> model_config_pb2.ModelConfig:
    """Parse ``config.pbtxt`` bytes (found at ``where``) into a ``ModelConfig``.

    Fields that this version of Triton's protobuf does not know (a newer Triton's) are
    skipped: none of them changes what interlock reads (tensors, batching, platform).
    """
    from google.protobuf import text_format

    pb = _protobuf()
    config = pb.ModelConfig()
    try:
        text_format.Parse(text.decode("utf-8"), config, allow_unknown_field=True)
    except (UnicodeDecodeError, text_format.ParseError) as exc:
        raise ArtifactError(
            f"{where} is not a Triton model configuration: {exc}",
            hint="config.pbtxt is a ModelConfig in protobuf text format (see Triton's "
            "model configuration documentation)",
        ) from None
    return config


def onnx_problem(config: model_config_pb2.ModelConfig) -> str | None:
    """Why interlock cannot serve the model of ``config`` as ONNX, or None."""
    platform, backend = config.platform, config.backend
    if platform not in ("", ONNX_PLATFORM) or backend not in ("", ONNX_BACKEND):
        used = " and ".join(
            f"{key} {value!r}" for key, value in (("platform", platform), ("backend", backend))
            if value
        )
        return (
            f"its config.pbtxt names {used}; interlock serves ONNX models only "
            f"(platform {ONNX_PLATFORM!r} or backend {ONNX_BACKEND!r})"
        )
    # Neither named: Triton picks the backend from the model file, and model.onnx is checked
    # to be ONNX when it is read.
    if config.default_model_filename not in ("", "model.onnx"):
        return f"its model file is {config.default_model_filename!r}, not model.onnx"
    return None


def signature_from_config(
    config: model_config_pb2.ModelConfig, graph: Signature, where: str
) -> Signature:
    """The signature of a model whose ``config.pbtxt`` is ``config`` and whose ONNX graph has
    the signature ``graph``: the graph's tensors, with the dimensions the config fixes.

    A config that lists no inputs (or no outputs) takes the graph's (Triton completes them
    from the model). What it lists must be the graph's tensors with their data types and
    ranks, fix no dimension the graph fixes otherwise, and, when ``max_batch_size > 0``, the
    graph's first dimension of every tensor must be open.
    """
    batched = config.max_batch_size > 0
    tensors: dict[str, list[TensorSpec]] = {"input": [], "output": []}
    for kind, entries, specs in (
        ("input", config.input, graph.inputs),
        ("output", config.output, graph.outputs),
    ):
        if not entries:
            tensors[kind] = list(specs)
            continue
        declared = sorted(entry.name for entry in entries)
        if declared != sorted(spec.name for spec in specs):
            raise ArtifactError(
                f"{where} lists the {kind}s {declared}, but the ONNX graph's are "
                f"{sorted(spec.name for spec in specs)}",
                hint=f"make config.pbtxt list every {kind} of model.onnx by its graph name",
            )
        by_name = {entry.name: entry for entry in entries}
        for spec in specs:
            tensors[kind].append(_checked_spec(by_name[spec.name], spec, batched, where))
    return Signature(inputs=tensors["input"], outputs=tensors["output"])


def _checked_spec(entry: Any, spec: TensorSpec, batched: bool, where: str) -> TensorSpec:
    pb = _protobuf()
    tensor = f"{where}: tensor {spec.name!r}"
    type_name = pb.DataType.Name(entry.data_type)
    if _BY_TRITON.get(type_name) != spec.dtype:
        raise ArtifactError(
            f"{tensor} has data_type {type_name}, but model.onnx says {spec.dtype} "
            f"({triton_data_type(spec.dtype)})",
            hint="make data_type in config.pbtxt agree with the ONNX graph",
        )
    if entry.HasField("reshape"):
        raise ArtifactError(
            f"{tensor} uses reshape, which interlock does not apply",
            hint="remove reshape from config.pbtxt and give the model's own shape in dims",
        )
    dims: list[int | str | None] = list(entry.dims)
    graph_shape = list(spec.shape)
    if batched:
        if not graph_shape or isinstance(graph_shape[0], int):
            raise ArtifactError(
                f"{tensor}: max_batch_size > 0, but the graph's first dimension is "
                f"{graph_shape[0] if graph_shape else 'missing (a scalar)'}, not a batch",
                hint="set max_batch_size: 0 and give the full shape in dims",
            )
        dims = [graph_shape[0] if graph_shape[0] is not None else BATCH_NAME, *dims]
    if len(dims) != len(graph_shape):
        raise ArtifactError(
            f"{tensor} has {len(dims)} dimensions in config.pbtxt (batch included), but "
            f"{len(graph_shape)} in model.onnx",
            hint="give dims the model's shape (without the batch when max_batch_size > 0)",
        )
    shape: list[int | str | None] = []
    for index, (mine, theirs) in enumerate(zip(dims, graph_shape, strict=True)):
        if isinstance(mine, int) and mine < 0:
            mine = theirs
        if isinstance(theirs, int) and mine != theirs:
            raise ArtifactError(
                f"{tensor}: dimension {index} is {mine} in config.pbtxt but {theirs} in "
                "model.onnx",
                hint="make dims in config.pbtxt agree with the ONNX graph (-1: any size)",
            )
        shape.append(mine)
    return TensorSpec(name=spec.name, dtype=spec.dtype, shape=shape)
