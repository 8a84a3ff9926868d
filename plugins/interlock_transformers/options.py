"""Options of the ``transformers`` exporter (docs/text.md, "Exporting")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TransformersExportOptions"]


class TransformersExportOptions(BaseModel):
    """What ``interlock.export(model, tokenizer, options={...})`` accepts."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["text-generation", "embedding"] | None = Field(
        default=None,
        description="text-generation for a causal LM (the default for *ForCausalLM models), "
        "embedding for an encoder (the default for other models).",
    )
    chat_template: str | None = Field(
        default=None, description="Jinja chat template; default: the tokenizer's own, if any."
    )
    context_length: int | None = Field(
        default=None, ge=1, description="Default: the config's max_position_embeddings."
    )
    max_new_tokens: int | None = Field(default=None, ge=1)
    pooling: Literal["mean", "cls", "last"] = Field(
        default="mean", description="embedding: how token vectors become one vector."
    )
    normalize: bool = Field(default=True, description="embedding: unit-length vectors.")
    opset: int = Field(default=17, ge=14, le=21, description="ONNX opset of the graph.")
    tolerance: float = Field(
        default=1e-4, gt=0, description="Largest |onnx - torch| allowed in the parity check."
    )
