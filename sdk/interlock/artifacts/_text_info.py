"""The manifest's optional ``text`` section: language and embedding models (spec: text.md).

An artifact whose graph takes token ids rather than features says so here: which file is its
tokenizer (a Hugging Face ``tokenizer.json``, never a pickle), which file its chat template,
which tensors carry the token ids, the attention mask, the positions and the key/value cache,
and the generation defaults. Every file named here is also listed, with its sha256, in the
manifest's ``files``, so it is verified like any other.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "TOKENIZER_FILE",
    "EmbeddingInfo",
    "GenerationDefaults",
    "KVCache",
    "TextInfo",
    "TextTensors",
]

TOKENIZER_FILE: Final = "tokenizer.json"
_LAYER = "{layer}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextTensors(_Strict):
    """Names of the graph inputs that carry the tokens."""

    input_ids: str = Field(default="input_ids", description="int64 [batch, sequence] token ids.")
    attention_mask: str = Field(
        default="attention_mask",
        description="int64 [batch, past + sequence]: 1 for a real token, 0 for padding.",
    )
    position_ids: str | None = Field(
        default="position_ids",
        description="int64 [batch, sequence] positions, or null if the graph has none.",
    )


class KVCache(_Strict):
    """The key/value cache a decoder reads and returns, one key and one value per layer.

    Names are patterns in which ``{layer}`` stands for the layer index (0-based). Past tensors
    are graph inputs of shape [batch, num_kv_heads, past, head_dim]; present tensors are graph
    outputs of shape [batch, num_kv_heads, past + sequence, head_dim].
    """

    num_layers: int = Field(ge=1, le=4096, description="Number of decoder layers.")
    num_kv_heads: int = Field(ge=1, description="Key/value heads per layer.")
    head_dim: int = Field(ge=1, description="Size of one head.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Element type of the cache tensors."
    )
    past_key: str = Field(default="past_key_values.{layer}.key")
    past_value: str = Field(default="past_key_values.{layer}.value")
    present_key: str = Field(default="present.{layer}.key")
    present_value: str = Field(default="present.{layer}.value")

    @field_validator("past_key", "past_value", "present_key", "present_value")
    @classmethod
    def _has_layer(cls, value: str) -> str:
        if value.count(_LAYER) != 1:
            raise ValueError(f"{value!r} must contain '{_LAYER}' exactly once")
        return value

    def past_names(self) -> list[tuple[str, str]]:
        """(key, value) input names, layer by layer."""
        return [self._pair(self.past_key, self.past_value, i) for i in range(self.num_layers)]

    def present_names(self) -> list[tuple[str, str]]:
        """(key, value) output names, layer by layer."""
        return [
            self._pair(self.present_key, self.present_value, i) for i in range(self.num_layers)
        ]

    @staticmethod
    def _pair(key: str, value: str, layer: int) -> tuple[str, str]:
        return key.replace(_LAYER, str(layer)), value.replace(_LAYER, str(layer))


class GenerationDefaults(_Strict):
    """What a generation request gets when it does not say (spec: text.md TXT-030)."""

    max_new_tokens: int = Field(default=256, ge=1, description="Tokens generated at most.")
    temperature: float = Field(
        default=1.0, ge=0, le=100, description="Sampling temperature; 0 means greedy."
    )
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling mass.")
    top_k: int = Field(default=0, ge=0, description="Keep the k most likely tokens; 0: all.")
    do_sample: bool = Field(
        default=False, description="Sample by default; false: greedy unless asked."
    )
    eos_token_ids: list[int] = Field(
        default_factory=list, description="Token ids that end a sequence."
    )
    bos_token_id: int | None = Field(default=None, ge=0)
    pad_token_id: int | None = Field(default=None, ge=0)


class EmbeddingInfo(_Strict):
    """How an embedding model's output becomes one vector per text."""

    output: str = Field(
        default="last_hidden_state",
        description="Graph output of shape [batch, sequence, dimensions].",
    )
    pooling: Literal["mean", "cls", "last"] = Field(
        default="mean",
        description="mean: masked mean over tokens; cls: first token; last: last real token.",
    )
    normalize: bool = Field(default=True, description="Scale each vector to unit L2 norm.")
    dimensions: int = Field(ge=1, description="Length of one embedding.")


class TextInfo(_Strict):
    """The ``text`` section of a manifest."""

    task: Literal["text-generation", "embedding"] = Field(
        description="text-generation: a decoder-only causal LM; embedding: a text encoder."
    )
    tokenizer: str = Field(
        default=TOKENIZER_FILE, description="Path of the tokenizer.json listed in files."
    )
    chat_template: str | None = Field(
        default=None, description="Path of a Jinja chat template listed in files, or null."
    )
    context_length: int = Field(ge=1, description="Positions the model can attend to.")
    tensors: TextTensors = Field(default_factory=TextTensors)
    logits: str | None = Field(
        default=None, description="text-generation: output of shape [batch, sequence, vocab]."
    )
    kv_cache: KVCache | None = None
    generation: GenerationDefaults | None = None
    embedding: EmbeddingInfo | None = None

    @model_validator(mode="after")
    def _task_fields(self) -> TextInfo:
        if self.task == "text-generation":
            missing = [k for k in ("logits", "kv_cache", "generation") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"task 'text-generation' needs {', '.join(missing)}")
            if self.embedding is not None:
                raise ValueError("task 'text-generation' takes no 'embedding' section")
        else:
            if self.embedding is None:
                raise ValueError("task 'embedding' needs an 'embedding' section")
            extra = [k for k in ("logits", "kv_cache", "generation") if getattr(self, k)]
            if extra:
                raise ValueError(f"task 'embedding' takes no {', '.join(extra)}")
        return self

    def files(self) -> list[str]:
        """The artifact files this section names."""
        return [self.tokenizer] + ([self.chat_template] if self.chat_template else [])

    def graph_inputs(self) -> list[str]:
        """Every graph input this section names."""
        names = [self.tensors.input_ids, self.tensors.attention_mask]
        if self.tensors.position_ids:
            names.append(self.tensors.position_ids)
        if self.kv_cache is not None:
            names += [n for pair in self.kv_cache.past_names() for n in pair]
        return names

    def graph_outputs(self) -> list[str]:
        """Every graph output this section names."""
        if self.embedding is not None:
            return [self.embedding.output]
        assert self.logits is not None and self.kv_cache is not None
        return [self.logits] + [n for pair in self.kv_cache.present_names() for n in pair]
