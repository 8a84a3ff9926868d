"""Tracing a transformers model to ONNX with its key/value cache, and checking parity.

The decoder graph takes ``input_ids``, ``attention_mask``, ``position_ids`` and one past key
and value per layer, and returns ``logits`` and the present keys and values: the layout
interlock's text section describes (spec text.md) and onnxruntime-genai's decoder uses. The
legacy TorchScript exporter (``dynamo=False``) is used because it traces the cache object of
transformers 5 into plain tensors in well under a second; parity against the PyTorch model
is checked on a prefill step and a cached decode step before anything is returned.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, cast

import numpy as np

from interlock.artifacts import (
    TOKENIZER_FILE,
    EmbeddingInfo,
    ExportedModel,
    GenerationDefaults,
    KVCache,
    TextInfo,
    TextTensors,
)
from interlock.errors import ExportError
from interlock.tensors import ColumnMapping, Signature
from interlock_transformers.options import TransformersExportOptions

__all__ = ["export_text_model"]

CHAT_TEMPLATE_FILE = "chat_template.jinja"
_DECODER_AXES = {"input_ids": {0: "batch", 1: "sequence"},
                 "attention_mask": {0: "batch", 1: "total_sequence"},
                 "position_ids": {0: "batch", 1: "sequence"},
                 "logits": {0: "batch", 1: "sequence"}}


def export_text_model(model: Any, sample: Any, opts: TransformersExportOptions) -> ExportedModel:
    """The ExportedModel of ``model`` read through the tokenizer ``sample``."""
    tokenizer_json, template = _tokenizer_files(sample)
    task = opts.task or ("text-generation" if _is_causal_lm(model) else "embedding")
    template = opts.chat_template or template
    files = {TOKENIZER_FILE: tokenizer_json}
    if template and task == "text-generation":
        files[CHAT_TEMPLATE_FILE] = template.encode("utf-8")
    config = model.config
    context = opts.context_length or _context_length(config)
    model.eval()
    if task == "text-generation":
        proto, text = _export_decoder(model, opts, context)
    else:
        proto, text = _export_encoder(model, opts, context)
    if CHAT_TEMPLATE_FILE in files:
        text = text.model_copy(update={"chat_template": CHAT_TEMPLATE_FILE})
    signature = Signature.from_onnx(proto)
    import torch
    import transformers

    metadata = {"transformers": {
        "version": transformers.__version__, "torch": torch.__version__,
        "architecture": type(model).__name__, "model_type": getattr(config, "model_type", ""),
        "opset": opts.opset,
    }}
    return ExportedModel(proto, signature, ColumnMapping.identity(signature), metadata,
                         text=text, files=files)


def _is_causal_lm(model: Any) -> bool:
    return type(model).__name__.endswith(("ForCausalLM", "LMHeadModel"))


def _context_length(config: Any) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ExportError("the model's config states no context length",
                      hint="pass options={'context_length': N}")


def _tokenizer_files(sample: Any) -> tuple[bytes, str | None]:
    """tokenizer.json bytes and the chat template of a tokenizer given as ``sample``."""
    template = getattr(sample, "chat_template", None)
    if isinstance(sample, (str, os.PathLike)):
        try:
            with open(sample, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ExportError(f"cannot read the tokenizer file {str(sample)!r}: {exc.strerror}",
                              hint="pass the path of a tokenizer.json") from None
        return data, None
    backend = getattr(sample, "backend_tokenizer", sample)
    to_str = getattr(backend, "to_str", None)
    if to_str is None:
        raise ExportError(
            f"the sample must be the model's tokenizer, not a {type(sample).__name__}",
            hint="pass a tokenizers.Tokenizer, a fast transformers tokenizer, or the path of "
            "a tokenizer.json (slow, pickled tokenizers are not read)",
        )
    return str(to_str()).encode("utf-8"), template if isinstance(template, str) else None


def _traced(function: Any) -> Any:
    """Run a torch.onnx.export quietly (its tracer warnings are about shapes it keeps)."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return function()


def _decoder_shape(config: Any) -> tuple[int, int, int]:
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    return int(layers), int(kv_heads), int(head_dim)


def _export_decoder(model: Any, opts: TransformersExportOptions,
                    context: int) -> tuple[Any, TextInfo]:
    import onnx
    import torch

    layers, kv_heads, head_dim = _decoder_shape(model.config)
    kv = KVCache(num_layers=layers, num_kv_heads=kv_heads, head_dim=head_dim)
    wrapper = _decoder_wrapper_class()(model, layers).eval()
    past_names = [n for pair in kv.past_names() for n in pair]
    present_names = [n for pair in kv.present_names() for n in pair]
    axes: dict[str, dict[int, str]] = dict(_DECODER_AXES)
    axes.update({n: {0: "batch", 2: "past_sequence"} for n in past_names})
    axes.update({n: {0: "batch", 2: "total_sequence"} for n in present_names})
    vocab = int(model.config.vocab_size)
    ids = torch.randint(0, vocab, (2, 3))
    past = [torch.randn(2, kv_heads, 4, head_dim) for _ in past_names]
    feeds = (ids, torch.ones(2, 7, dtype=torch.long), torch.arange(4, 7).expand(2, 3), *past)
    buffer = io.BytesIO()
    _traced(lambda: torch.onnx.export(
        wrapper, feeds, cast(Any, buffer), input_names=["input_ids", "attention_mask", "position_ids",
                                             *past_names],
        output_names=["logits", *present_names], dynamic_axes=axes, dynamo=False,
        opset_version=opts.opset))
    proto = onnx.load_from_string(buffer.getvalue())
    _check_decoder_parity(proto, model, kv, vocab, opts.tolerance)
    text = TextInfo(task="text-generation", context_length=context, logits="logits",
                    kv_cache=kv, generation=_generation_defaults(model, opts, vocab))
    return proto, text


def _decoder_wrapper_class() -> Any:
    import torch

    class DecoderWrapper(torch.nn.Module):
        """Flat tensors in and out around a transformers cache object."""

        def __init__(self, model: Any, layers: int) -> None:
            super().__init__()
            self.model = model
            self.layers = layers

        def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any,
                    *past: Any) -> tuple[Any, ...]:
            from transformers.cache_utils import DynamicCache

            cache = DynamicCache()
            for layer in range(self.layers):
                cache.update(past[2 * layer], past[2 * layer + 1], layer)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=position_ids, past_key_values=cache, use_cache=True)
            flat: list[Any] = []
            for layer in out.past_key_values.layers[: self.layers]:
                flat += [layer.keys, layer.values]
            return (out.logits, *flat)

    return DecoderWrapper


def _session(proto: Any) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def _check_decoder_parity(proto: Any, model: Any, kv: KVCache, vocab: int,
                          tolerance: float) -> None:
    import torch

    session = _session(proto)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (1, 5), generator=generator)
    empty = np.zeros((1, kv.num_kv_heads, 0, kv.head_dim), np.float32)
    feeds: dict[str, np.ndarray] = {"input_ids": ids.numpy(),
                                    "attention_mask": np.ones((1, 5), np.int64),
                                    "position_ids": np.arange(5, dtype=np.int64)[None]}
    feeds.update({n: empty for pair in kv.past_names() for n in pair})
    first = session.run(None, feeds)
    step = np.array([[int(first[0][0, -1].argmax())]], np.int64)
    feeds = {"input_ids": step, "attention_mask": np.ones((1, 6), np.int64),
             "position_ids": np.array([[5]], np.int64)}
    feeds.update({n: t for n, t in zip([n for p in kv.past_names() for n in p], first[1:])})
    second = session.run(None, feeds)
    with torch.no_grad():
        expected = model(input_ids=torch.cat([ids, torch.from_numpy(step)], 1)).logits.numpy()
    _compare("prefill", first[0], expected[:, :5], tolerance)
    _compare("cached decode step", second[0], expected[:, 5:], tolerance)


def _compare(what: str, got: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    worst = float(np.max(np.abs(got - expected)))
    if not np.isfinite(worst) or worst > tolerance:
        raise ExportError(
            f"the ONNX graph disagrees with the PyTorch model on the {what}: largest "
            f"|difference| {worst:.3g} is above the tolerance {tolerance:g}",
            hint="raise options={'tolerance': ...} if the model is known to be sensitive, or "
            "report the architecture",
        )


def _generation_defaults(model: Any, opts: TransformersExportOptions,
                         vocab: int) -> GenerationDefaults:
    config = getattr(model, "generation_config", None) or model.config
    eos = getattr(config, "eos_token_id", None)
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])

    def in_vocab(value: Any) -> int | None:
        return value if isinstance(value, int) and 0 <= value < vocab else None

    return GenerationDefaults(
        max_new_tokens=opts.max_new_tokens or getattr(config, "max_new_tokens", None) or 256,
        temperature=float(getattr(config, "temperature", None) or 1.0),
        top_p=float(getattr(config, "top_p", None) or 1.0),
        top_k=int(getattr(config, "top_k", None) or 0),
        do_sample=bool(getattr(config, "do_sample", False)),
        eos_token_ids=[i for i in eos_ids if in_vocab(i) is not None],
        bos_token_id=in_vocab(getattr(config, "bos_token_id", None)),
        pad_token_id=in_vocab(getattr(config, "pad_token_id", None)),
    )


def _encoder_wrapper_class() -> Any:
    import torch

    class EncoderWrapper(torch.nn.Module):
        """input_ids and attention_mask in, last_hidden_state out."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return EncoderWrapper


def _export_encoder(model: Any, opts: TransformersExportOptions,
                    context: int) -> tuple[Any, TextInfo]:
    import onnx
    import torch

    wrapper = _encoder_wrapper_class()(model).eval()
    vocab = int(model.config.vocab_size)
    ids = torch.randint(0, vocab, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0
    axes = {"input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"}}
    buffer = io.BytesIO()
    _traced(lambda: torch.onnx.export(
        wrapper, (ids, mask), cast(Any, buffer), input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"], dynamic_axes=axes, dynamo=False,
        opset_version=opts.opset))
    proto = onnx.load_from_string(buffer.getvalue())
    check_ids = torch.randint(0, vocab, (2, 9), generator=torch.Generator().manual_seed(1))
    check_mask = torch.ones(2, 9, dtype=torch.long)
    check_mask[0, 6:] = 0
    got = _session(proto).run(None, {"input_ids": check_ids.numpy(),
                                     "attention_mask": check_mask.numpy()})[0]
    with torch.no_grad():
        expected = wrapper(check_ids, check_mask).numpy()
    _compare("encoder output", got, expected, opts.tolerance)
    hidden = int(expected.shape[-1])
    text = TextInfo(
        task="embedding", context_length=context,
        tensors=TextTensors(position_ids=None),
        embedding=EmbeddingInfo(pooling=opts.pooling, normalize=opts.normalize,
                                dimensions=hidden),
    )
    return proto, text
