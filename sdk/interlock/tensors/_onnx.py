"""The signature an ONNX graph declares (spec: artifact.md, the signature).

Imported only on first use: it needs ``onnx``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.errors import ArtifactError, describe_validation_error
from interlock.tensors._dtypes import by_onnx
from interlock.tensors._signature import Dim, Signature, TensorSpec

if TYPE_CHECKING:
    import onnx

__all__ = ["signature_from_onnx"]


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
