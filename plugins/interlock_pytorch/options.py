"""Options of the ``pytorch`` exporter (``interlock.export(..., options={...})``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_OPSET", "MIN_OPSET", "PyTorchExportOptions"]

#: torch's dynamo-based exporter writes opset 18 and newer.
MIN_OPSET = 18
#: The newest opset both reference runtimes (onnxruntime, onnx's reference) run.
MAX_OPSET = 23


class PyTorchExportOptions(BaseModel):
    """What can be tuned when exporting a PyTorch module."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_opset: int | None = Field(
        default=None,
        ge=MIN_OPSET,
        le=MAX_OPSET,
        description=f"ONNX operator set of the default domain, {MIN_OPSET} to {MAX_OPSET}; "
        f"None: {MIN_OPSET}.",
    )
    input_names: list[str] | None = Field(
        default=None,
        description="Names of the input tensors, one per input, in the order forward takes "
        "them; None: derived (docs/pytorch.md).",
    )
    output_names: list[str] | None = Field(
        default=None,
        description="Names of the output tensors, one per output; None: 'output', "
        "'output_0', ... or the keys of a dict the module returns.",
    )
    input_columns: dict[str, list[str]] | None = Field(
        default=None,
        description="For an Arrow sample: input tensor -> the columns it gathers, in the "
        "order forward takes the inputs; None: derived (docs/pytorch.md).",
    )
    dynamic_batch: bool = Field(
        default=True,
        description="Make the first dimension of every input symbolic (batch_dim), so that "
        "any number of rows can be predicted.",
    )
    batch_dim: str = Field(
        default="N", min_length=1, max_length=128, description="Name of the batch dimension."
    )
    dynamic_axes: dict[str, dict[int, str]] = Field(
        default_factory=dict,
        description="More symbolic dimensions: input tensor -> {axis: dimension name}; one "
        "name on several inputs is one dimension.",
    )
