"""The options of a tree-ensemble exporter (``interlock.export(..., options={...})``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TreeExportOptions"]


class TreeExportOptions(BaseModel):
    """What can be tuned when exporting a tree ensemble.

    There is no ``float_dtype``: ONNX's tree operators compute in float32, whatever the model
    was trained in. An exporter may subclass this to document or add its own options.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_opset: int | None = Field(
        default=None,
        ge=9,
        description="ONNX operator set of the default domain; None: the newest that "
        "the converter and the installed onnx support.",
    )
    input_name: str = Field(
        default="input", min_length=1, max_length=256, description="Name of the input tensor."
    )
    batch_dim: str = Field(
        default="N",
        min_length=1,
        max_length=128,
        description="Symbolic name of the batch (row) dimension of the input and outputs.",
    )
    parity_rtol: float = Field(
        default=1e-4, ge=0, description="Relative tolerance of the parity check (EXP-051)."
    )
    parity_atol: float = Field(
        default=1e-5, ge=0, description="Absolute tolerance of the parity check (EXP-051)."
    )
