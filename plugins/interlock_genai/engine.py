"""The ``onnxruntime-genai`` text engine: an interlock text artifact run by onnxruntime-genai.

onnxruntime-genai loads a folder holding the ONNX decoder and a ``genai_config.json`` that
names its tensors. A text artifact's graph already has the decoder layout the library reads
(Optimum's tensor names, text.md TXT-020), so loading writes only that config, from the
manifest's ``text`` section, into a private folder beside links to the artifact's verified
files; the artifact itself is never written to. Greedy decoding gives the tokens of
interlock's own loop (tests/test_genai_engine.py); sampling draws from the library's own
generator, so a seed gives the library's tokens, not interlock's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from interlock.errors import GenerationError, MissingDependencyError
from interlock.text import TextEngine, TokenSource

if TYPE_CHECKING:
    from interlock.artifacts import Artifact, TextInfo
    from interlock.text import TokenSampler

__all__ = ["GenaiEngine", "GenaiSource", "genai_config"]

_PURPOSE = "generating text with onnxruntime-genai"


class GenaiEngine(TextEngine):
    """Generation by onnxruntime-genai, on the CPU."""

    name = "onnxruntime-genai"
    description = "onnxruntime-genai's generation loop over a text artifact's decoder"
    capabilities = frozenset({"sampling", "seeded"})
    devices = ("cpu",)

    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> TokenSource:
        """Write the folder onnxruntime-genai reads, and load the model from it."""
        self.parse_options(options)
        try:
            import onnxruntime_genai as og
        except ImportError:
            raise MissingDependencyError("onnxruntime-genai", "genai", purpose=_PURPOSE) from None
        text = artifact.manifest.text
        if text is None or text.task != "text-generation" or text.kv_cache is None:
            raise GenerationError(
                f"{artifact.ref} is not a text-generation model",
                hint="onnxruntime-genai runs artifacts with a text-generation text section")
        if text.kv_cache.dtype != "float32":
            raise GenerationError(
                f"{artifact.ref} keeps its cache in {text.kv_cache.dtype}; this engine reads "
                "float32 caches", hint="use interlock's own loop (no engine) for this model")
        folder = tempfile.mkdtemp(prefix="interlock-genai-")
        try:
            source_dir = artifact.local_dir()
            for entry in artifact.manifest.files:
                if entry.path.startswith("model.onnx"):
                    os.symlink(source_dir / entry.path, os.path.join(folder, entry.path))
            with open(os.path.join(folder, "genai_config.json"), "w", encoding="utf-8") as out:
                json.dump(genai_config(text, len_vocab(artifact)), out)
            model = og.Model(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return GenaiSource(og, model, folder, len_vocab(artifact))


def len_vocab(artifact: Artifact) -> int:
    """The vocabulary size: the last dimension of the logits, or the tokenizer's."""
    assert artifact.manifest.text is not None and artifact.manifest.text.logits is not None
    size = artifact.signature.output(artifact.manifest.text.logits).shape[-1]
    if isinstance(size, int):
        return size
    from interlock.text import TextTokenizer

    return TextTokenizer.from_artifact(artifact).vocab_size


def genai_config(text: TextInfo, vocab: int) -> dict[str, Any]:
    """The ``genai_config.json`` of a text section: the decoder's tensors and shapes."""
    kv = text.kv_cache
    assert kv is not None and text.generation is not None and text.logits is not None
    names = text.tensors
    layer = "%d"
    inputs = {"input_ids": names.input_ids, "attention_mask": names.attention_mask,
              "past_key_names": kv.past_key.replace("{layer}", layer),
              "past_value_names": kv.past_value.replace("{layer}", layer)}
    if names.position_ids:
        inputs["position_ids"] = names.position_ids
    ends = text.generation.eos_token_ids
    return {
        "model": {
            "type": "llama", "vocab_size": vocab, "context_length": text.context_length,
            "bos_token_id": text.generation.bos_token_id or 0,
            "eos_token_id": ends if len(ends) != 1 else ends[0],
            "pad_token_id": text.generation.pad_token_id or (ends[0] if ends else 0),
            "decoder": {
                "filename": "model.onnx", "session_options": {"provider_options": []},
                "head_size": kv.head_dim, "hidden_size": kv.head_dim * kv.num_kv_heads,
                "num_attention_heads": kv.num_kv_heads, "num_key_value_heads": kv.num_kv_heads,
                "num_hidden_layers": kv.num_layers, "inputs": inputs,
                "outputs": {"logits": text.logits,
                            "present_key_names": kv.present_key.replace("{layer}", layer),
                            "present_value_names": kv.present_value.replace("{layer}", layer)},
            },
        },
        "search": {"do_sample": False, "num_beams": 1, "num_return_sequences": 1,
                   "max_length": text.context_length, "past_present_share_buffer": False},
    }


class GenaiSource(TokenSource):
    """One loaded model; each call of :meth:`tokens` is a generator of its own."""

    def __init__(self, og: Any, model: Any, folder: str, vocab: int) -> None:
        self._og = og
        self._model = model
        self._vocab = vocab
        self.folder = folder
        weakref.finalize(self, shutil.rmtree, folder, True)

    def tokens(self, prompt: list[int], sampler: TokenSampler,
               max_tokens: int) -> Iterator[int]:
        """The ids onnxruntime-genai generates after ``prompt``."""
        import numpy as np

        params = self._og.GeneratorParams(self._model)
        options: dict[str, Any] = {"max_length": len(prompt) + max_tokens}
        if sampler.greedy:
            options["do_sample"] = False
        else:
            options.update(do_sample=True, temperature=sampler.temperature,
                           top_p=sampler.top_p, top_k=min(sampler.top_k or self._vocab, self._vocab))
            if sampler.seed is not None:
                options["random_seed"] = sampler.seed % 2**31
        params.set_search_options(**options)
        generator = self._og.Generator(self._model, params)
        try:
            generator.append_tokens(np.asarray(prompt, dtype=np.int32))
            for _ in range(max_tokens):
                if generator.is_done():
                    return
                generator.generate_next_token()
                yield int(generator.get_next_tokens()[0])
        finally:
            del generator
