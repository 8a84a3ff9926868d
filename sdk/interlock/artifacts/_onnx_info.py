"""What interlock reads out of an ONNX model: its signature, IR version and opsets, and the
tensors whose data lives outside the model file (spec: artifact.md).

Imported only on first use (it needs ``onnx``); the walkers never follow a path on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interlock.tensors._dtypes import by_onnx
from interlock.errors import ArtifactError
from interlock.artifacts._manifest import OnnxInfo, describe_validation_error
from interlock.tensors._signature import Dim, Signature, TensorSpec

if TYPE_CHECKING:
    import onnx

__all__ = [
    "ExternalDataRef",
    "external_data_refs",
    "iter_tensors",
    "onnx_info",
    "signature_from_onnx",
]

_DEFAULT_DOMAIN_ALIASES = ("", "ai.onnx")


def signature_from_onnx(model: onnx.ModelProto) -> Signature:
    """The :class:`interlock.Signature` an ONNX graph declares.

    Inputs are the graph inputs that are not initializers (an initializer-backed input is a
    constant with an overridable default, not something a caller feeds), in graph order; outputs
    are every graph output. A dimension with ``dim_value`` becomes that integer, one with
    ``dim_param`` becomes the symbolic name, one with neither becomes ``None``.

    Raises :class:`interlock.ArtifactError` naming the tensor when its type is not a tensor of
    a spec v1 element type, or when it declares no shape at all (unknown rank).
    """
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    constants.update(sparse.values.name for sparse in graph.sparse_initializer)
    inputs = [_tensor_spec(vi, "input") for vi in graph.input if vi.name not in constants]
    outputs = [_tensor_spec(vi, "output") for vi in graph.output]
    from pydantic import ValidationError

    try:
        return Signature(inputs=inputs, outputs=outputs)
    except ValidationError as exc:
        raise ArtifactError(
            "the ONNX graph's inputs and outputs do not form a valid signature: "
            + describe_validation_error(exc),
            hint="give every graph input and output a unique name",
        ) from exc


def _tensor_spec(value_info: onnx.ValueInfoProto, kind: str) -> TensorSpec:
    import onnx

    name = value_info.name
    which = value_info.type.WhichOneof("value")
    if which != "tensor_type":
        raise ArtifactError(
            f"graph {kind} {name!r} is a {which or 'untyped value'}, not a tensor; interlock v1 "
            "signatures hold dense tensors only",
            hint="change the graph so that every input and output is a tensor",
        )
    tensor_type = value_info.type.tensor_type
    info = by_onnx(tensor_type.elem_type)
    if info is None:
        type_name = (
            onnx.TensorProto.DataType.Name(tensor_type.elem_type)
            if tensor_type.elem_type in onnx.TensorProto.DataType.values()
            else str(tensor_type.elem_type)
        )
        raise ArtifactError(
            f"graph {kind} {name!r} has element type {type_name}, which interlock v1 does not "
            "support",
            hint="cast the tensor to a supported type (bool, int8-64, uint8-64, float16, "
            "bfloat16, float32, float64, string) inside the graph",
        )
    if not tensor_type.HasField("shape"):
        raise ArtifactError(
            f"graph {kind} {name!r} declares no shape (its rank is unknown)",
            hint="declare the shape in the graph (use symbolic dimensions such as 'batch' "
            "for sizes that vary)",
        )
    shape: list[Dim] = []
    for dim in tensor_type.shape.dim:
        which_dim = dim.WhichOneof("value")
        if which_dim == "dim_value":
            shape.append(int(dim.dim_value))
        elif which_dim == "dim_param" and dim.dim_param:
            shape.append(dim.dim_param)
        else:
            shape.append(None)
    from pydantic import ValidationError

    try:
        return TensorSpec(name=name, dtype=info.name, shape=shape)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ArtifactError(
            f"graph {kind} {name!r} cannot be described by a signature: "
            + describe_validation_error(exc),
            hint="tensor names are 1-256 characters without control characters; dimensions "
            "are non-negative integers or names of at most 128 characters",
        ) from exc


def onnx_info(model: onnx.ModelProto) -> OnnxInfo:
    """The model's IR version and operator-set versions by domain (``""`` is ``ai.onnx``)."""
    opsets: dict[str, int] = {}
    for opset in model.opset_import:
        # ONNX treats "" and "ai.onnx" as the same domain; the manifest spells it "".
        domain = "" if opset.domain in _DEFAULT_DOMAIN_ALIASES else opset.domain
        opsets[domain] = max(int(opset.version), opsets.get(domain, 0))
    if model.ir_version < 1:
        raise ArtifactError(
            "the ONNX model has no IR version",
            hint="set model.ir_version (onnx.helper.make_model does it for you)",
        )
    return OnnxInfo(ir_version=int(model.ir_version), opsets=opsets)


def iter_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every :class:`onnx.TensorProto` in the model that can hold data.

    That is the initializers of the main graph and of every subgraph, sparse initializers,
    tensors in node attributes (``Constant`` values and the like, in graphs and in functions)
    and in function attribute defaults. Any of them may point at external data, so any of them
    could make a runtime read a file.
    """
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)
        for attribute in function.attribute_proto:
            yield from _attribute_tensors(attribute)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attribute in node.attribute:
        yield from _attribute_tensors(attribute)


def _attribute_tensors(attribute: onnx.AttributeProto) -> Iterator[onnx.TensorProto]:
    if attribute.HasField("t"):
        yield attribute.t
    yield from attribute.tensors
    sparse_tensors = list(attribute.sparse_tensors)
    if attribute.HasField("sparse_tensor"):
        sparse_tensors.append(attribute.sparse_tensor)
    for sparse in sparse_tensors:
        yield sparse.values
        yield sparse.indices
    if attribute.HasField("g"):
        yield from _graph_tensors(attribute.g)
    for graph in attribute.graphs:
        yield from _graph_tensors(graph)


@dataclass(frozen=True)
class ExternalDataRef:
    """Where one tensor's data lives: ``location`` (as written, unchecked), byte ``offset`` and
    ``length`` (``None``: to the end of the file)."""

    tensor: onnx.TensorProto
    location: str
    offset: int
    length: int | None


def external_data_refs(model: onnx.ModelProto) -> list[ExternalDataRef]:
    """Every tensor whose ``data_location`` is ``EXTERNAL``, with its parsed location.

    Raises :class:`ValueError` (naming the tensor) for a missing location or a malformed
    offset or length; the caller turns it into the right interlock error.
    """
    import onnx

    refs = []
    for tensor in iter_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        if not location:
            raise ValueError(f"tensor {tensor.name!r} is external but names no location")
        try:
            offset = int(entries.get("offset") or 0)
            length = int(entries["length"]) if entries.get("length") else None
        except ValueError:
            raise ValueError(
                f"tensor {tensor.name!r} has a malformed external-data offset or length"
            ) from None
        if offset < 0 or (length is not None and length < 0):
            raise ValueError(
                f"tensor {tensor.name!r} has a negative external-data offset or length"
            )
        refs.append(ExternalDataRef(tensor, location, offset, length))
    return refs
