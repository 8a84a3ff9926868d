"""What interlock reads out of an ONNX model: its signature, IR version and opsets, and the
tensors whose data lives outside the model file (spec: artifact.md).

Imported only on first use (it needs ``onnx``); the walkers never follow a path on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interlock.tensors import by_onnx
from interlock.errors import ArtifactError
from interlock.artifacts._manifest import OnnxInfo

if TYPE_CHECKING:
    import onnx

__all__ = [
    "ExternalDataRef",
    "external_data_refs",
    "iter_tensors",
    "onnx_info",
]

_DEFAULT_DOMAIN_ALIASES = ("", "ai.onnx")


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
