"""Model signatures and the mapping between Arrow columns and tensors (spec: runtime.md)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interlock.errors import ArtifactError, describe_validation_error
from interlock.tensors._dtypes import DType, by_onnx

if TYPE_CHECKING:
    import onnx

__all__ = ["ColumnMapping", "InputBinding", "OutputBinding", "Signature", "TensorSpec"]

_TENSOR_NAME = re.compile(r"^[^\x00-\x1f]{1,256}$")

#: A dimension: a fixed size (>= 0), a symbolic name (``"batch"``) or ``None`` (unknown).
Dim = Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1, max_length=128)] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    """One input or output tensor of a model."""

    name: str = Field(description="Tensor name as the ONNX graph declares it.")
    dtype: DType = Field(description="Element type (spec v1 name).")
    shape: list[Dim] = Field(
        description="Dimensions: an integer is fixed, a string is symbolic (equal names must "
        "agree within one call), null is unknown."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _TENSOR_NAME.match(value):
            raise ValueError("tensor names are 1-256 characters without control characters")
        return value

    def describe(self) -> str:
        """Return ``dtype[d0,d1,...]`` as error messages show it."""
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype}[{dims}]"


class Signature(_Strict):
    """The inputs and outputs of a model, in graph order."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    @model_validator(mode="after")
    def _unique_names(self) -> Signature:
        for kind, specs in (("input", self.inputs), ("output", self.outputs)):
            names = [s.name for s in specs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} tensor names: {dupes}")
        return self

    @classmethod
    def from_onnx(cls, model: onnx.ModelProto) -> Signature:
        """The signature an ONNX graph declares.

        Inputs are the graph inputs that are not initializers, in graph order; outputs are every
        graph output. A dimension with ``dim_value`` becomes that integer, one with ``dim_param``
        the symbolic name, one with neither ``None``. Raises :class:`interlock.ArtifactError`
        naming the tensor when its type is not a tensor of a spec v1 element type, or when it
        declares no shape (unknown rank).
        """
        return _signature_from_onnx(model)

    def input(self, name: str) -> TensorSpec:
        """Return the input tensor called ``name``; ``KeyError`` if there is none."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def output(self, name: str) -> TensorSpec:
        """Return the output tensor called ``name``; ``KeyError`` if there is none."""
        for spec in self.outputs:
            if spec.name == name:
                return spec
        raise KeyError(name)


class InputBinding(_Strict):
    """Which Arrow columns feed one input tensor.

    One column maps directly (a primitive column to a 1-D tensor, or to ``[rows, 1]`` when the
    tensor is 2-D; a fixed-size-list or ``arrow.fixed_shape_tensor`` column to an N-D tensor).
    Several columns are gathered, in the listed order, into a 2-D ``[rows, len(columns)]``
    tensor.
    """

    tensor: str
    columns: list[str] = Field(min_length=1)


class OutputBinding(_Strict):
    """Which Arrow column an output tensor becomes."""

    tensor: str
    column: str


class ColumnMapping(_Strict):
    """The mapping between Arrow record batches and a model's tensors."""

    inputs: list[InputBinding]
    outputs: list[OutputBinding]

    @classmethod
    def identity(cls, signature: Signature) -> ColumnMapping:
        """Map every tensor to a column of the same name."""
        return cls(
            inputs=[InputBinding(tensor=s.name, columns=[s.name]) for s in signature.inputs],
            outputs=[OutputBinding(tensor=s.name, column=s.name) for s in signature.outputs],
        )

    def check_against(self, signature: Signature) -> None:
        """Raise ``ValueError`` unless every tensor is bound exactly once."""
        for kind, bound, specs in (
            ("input", [b.tensor for b in self.inputs], signature.inputs),
            ("output", [b.tensor for b in self.outputs], signature.outputs),
        ):
            names = [s.name for s in specs]
            if sorted(bound) != sorted(names):
                raise ValueError(
                    f"column mapping binds {kind} tensors {sorted(bound)} but the signature "
                    f"has {sorted(names)}"
                )


def _signature_from_onnx(model: onnx.ModelProto) -> Signature:
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
