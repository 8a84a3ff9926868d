"""Options of the ``sklearn`` exporter (``interlock.export(..., options={...})``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SklearnExportOptions"]


class SklearnExportOptions(BaseModel):
    """What can be tuned when exporting a scikit-learn model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_opset: int | None = Field(
        default=None,
        ge=7,
        description="ONNX operator set of the default domain; None: the newest that both "
        "skl2onnx and the installed onnx support.",
    )
    float_dtype: Literal["float32", "float64"] = Field(
        default="float32",
        description="Element type of the input matrix. float64 keeps full precision where "
        "skl2onnx has double converters (linear models, scalers); tree ensembles still "
        "compute in float32.",
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
