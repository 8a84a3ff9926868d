"""Text artifacts, generation and embeddings (spec text.md), on tiny models built here.

Every model is a randomly initialised transformers model and the tokenizer is trained on the
spot (tests/text_models.py); nothing is downloaded. Parity is checked against the PyTorch
model itself: its logits and its own greedy ``generate``.
"""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import interlock
from interlock import ArtifactIntegrityError, ExportError, GenerationError
from interlock.artifacts import parse_manifest
from interlock.text import ChatTemplate, SamplingParams, TextGenerator, TextTokenizer, TokenSampler
from interlock_conformance import requirement
from text_models import fast_tokenizer, tiny_bert, tiny_gpt2, tiny_llama, tiny_tokenizer

PROMPTS = ["the quick brown fox", "hello interlock", "東京 🙂 café"]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("text-store"))


@pytest.fixture(scope="module")
def llama(tokenizer: Any) -> Any:
    return tiny_llama(tokenizer.get_vocab_size())


@pytest.fixture(scope="module")
def llama_artifact(llama: Any, tokenizer: Any, store: str) -> interlock.Artifact:
    return interlock.export(llama, fast_tokenizer(tokenizer), name="tiny-llama", store=store)


@pytest.fixture(scope="module")
def generator(llama_artifact: interlock.Artifact) -> TextGenerator:
    return TextGenerator.load(llama_artifact)


def _reference_greedy(model: Any, ids: list[int], max_new: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    return [int(t) for t in out[0, len(ids):]]


def _without_eos(generator: TextGenerator, batch_steps: int = 1) -> TextGenerator:
    """The same model with no end token, so that answers run to max_tokens."""
    assert generator.text.generation is not None
    text = generator.text.model_copy(
        update={"generation": generator.text.generation.model_copy(update={"eos_token_ids": []})}
    )
    return TextGenerator(generator.predictor, text, generator.tokenizer, generator.chat_template,
                         batch_steps=batch_steps)


@requirement("TXT-001", "TXT-003", "TXT-020", "TXT-021")
def test_a_causal_lm_exports_with_its_tokenizer_template_and_cache(
    llama_artifact: interlock.Artifact, tokenizer: Any
) -> None:
    text = llama_artifact.manifest.text
    assert text is not None and text.task == "text-generation"
    assert text.kv_cache is not None and text.kv_cache.num_layers == 2
    assert (text.kv_cache.num_kv_heads, text.kv_cache.head_dim) == (2, 8)  # grouped-query
    assert text.context_length == 128 and text.chat_template == "chat_template.jinja"
    listed = {f.path for f in llama_artifact.manifest.files}
    assert {"model.onnx", "tokenizer.json", "chat_template.jinja"} <= listed
    saved = TextTokenizer(llama_artifact.read_bytes("tokenizer.json"))
    for prompt in PROMPTS:
        assert saved.encode(prompt) == tokenizer.encode(prompt).ids
        assert saved.decode(saved.encode(prompt)) == prompt
    names = {t.name for t in llama_artifact.signature.inputs}
    assert {"input_ids", "attention_mask", "position_ids", "past_key_values.1.value"} <= names
    past = llama_artifact.signature.input("past_key_values.0.key")
    assert past.dtype == "float32" and past.shape[1:] == [2, "past_sequence", 8]
    assert llama_artifact.manifest.producer.component == "transformers"


@requirement("TXT-021")
def test_the_exporter_refuses_what_it_cannot_check(llama: Any, tokenizer: Any,
                                                   store: str) -> None:
    with pytest.raises(ExportError, match=r"disagrees with the PyTorch model on the prefill.*"
                                          r"above the tolerance 1e-15"):
        interlock.export(llama, tokenizer, name="strict", store=store,
                         options={"tolerance": 1e-15})
    with pytest.raises(ExportError, match="the sample must be the model's tokenizer, not a dict"):
        interlock.export(llama, {}, name="nosample", store=store)
    with pytest.raises(ExportError, match="cannot read the tokenizer file"):
        interlock.export(llama, "/nonexistent/tokenizer.json", name="nofile", store=store)
    assert not interlock.open_store(store).exists("strict", "1")


@requirement("TXT-030", "TXT-031")
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_greedy_generation_gives_the_frameworks_own_greedy_tokens(
    family: str, tokenizer: Any, llama: Any, generator: TextGenerator, store: str
) -> None:
    model = llama
    if family == "gpt2":
        model = tiny_gpt2(tokenizer.get_vocab_size())  # its dropout is on in the config
        artifact = interlock.export(model, tokenizer, name="tiny-gpt2", store=store)
        generator = TextGenerator.load(artifact)
    free = _without_eos(generator)
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt).ids
        answer = free.generate(prompt, SamplingParams(max_tokens=16))  # default: greedy
        assert list(answer.token_ids) == _reference_greedy(model, ids, 16), prompt
        assert answer.finish_reason == "length" and answer.prompt_tokens == len(ids)


@requirement("TXT-031")
def test_the_reference_runtime_generates_the_same_tokens(
    llama_artifact: interlock.Artifact, generator: TextGenerator
) -> None:
    reference = _without_eos(TextGenerator.load(llama_artifact, runtime="reference"))
    params = SamplingParams(max_tokens=6)
    assert (reference.generate("hello", params).token_ids
            == _without_eos(generator).generate("hello", params).token_ids)


@requirement("TXT-032", "TXT-037")
def test_seeded_sampling_repeats_and_streaming_equals_the_whole_answer(
    generator: TextGenerator,
) -> None:
    free = _without_eos(generator)
    params = SamplingParams(max_tokens=24, temperature=0.9, top_p=0.95, top_k=50, seed=7)
    first = free.generate("the lazy dog", params)
    assert free.generate("the lazy dog", params) == first
    pieces = list(free.stream("the lazy dog", params))
    assert "".join(p.text for p in pieces) == first.text
    assert tuple(t for p in pieces for t in p.token_ids) == first.token_ids
    assert [p.finish_reason for p in pieces][-1] == "length"
    assert all(p.finish_reason is None for p in pieces[:-1])
    assert all("\ufffd" not in p.text[-1:] for p in pieces[:-1] if p.text)
    other = free.generate("the lazy dog", SamplingParams(max_tokens=24, temperature=0.9, seed=8))
    assert other.token_ids != first.token_ids


@requirement("TXT-032")
def test_sampling_follows_temperature_top_k_and_top_p() -> None:
    from interlock.artifacts import GenerationDefaults

    defaults = GenerationDefaults()
    logits = np.log(np.array([0.1, 0.6, 0.3], np.float32))
    draws = TokenSampler(SamplingParams(temperature=1.0, seed=1), defaults)
    counts = np.bincount([draws.choose(logits) for _ in range(6000)], minlength=3) / 6000
    assert np.allclose(counts, [0.1, 0.6, 0.3], atol=0.03), counts
    top_k = TokenSampler(SamplingParams(temperature=1.0, top_k=2, seed=1), defaults)
    assert {top_k.choose(logits) for _ in range(300)} == {1, 2}
    top_p = TokenSampler(SamplingParams(temperature=1.0, top_p=0.5, seed=1), defaults)
    assert {top_p.choose(logits) for _ in range(300)} == {1}
    hot = TokenSampler(SamplingParams(temperature=50.0, seed=1), defaults)
    spread = np.bincount([hot.choose(logits) for _ in range(3000)], minlength=3) / 3000
    assert spread.min() > 0.28, spread  # a high temperature flattens the distribution
    assert TokenSampler(SamplingParams(), defaults).greedy  # do_sample false: greedy


@requirement("TXT-033")
@pytest.mark.parametrize(("params", "message"), [
    ({"max_tokens": 0}, "max_tokens is 0"),
    ({"temperature": -0.5}, "temperature is -0.5"),
    ({"temperature": float("nan")}, "temperature is nan"),
    ({"top_p": 0}, "top_p is 0"),
    ({"top_k": -1}, "top_k is -1"),
    ({"seed": -3}, "seed is -3"),
    ({"max_tokens": True}, "max_tokens is True"),
    ({"stop": [""]}, "stop is"),
    ({"stop": ["x"] * 17}, "stop is"),
])
def test_parameters_out_of_range_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(GenerationError, match=message) as caught:
        SamplingParams(**params)
    assert caught.value.hint and "must be" in caught.value.hint


@requirement("TXT-034", "TXT-035")
def test_stop_strings_end_the_answer_before_them(generator: TextGenerator) -> None:
    free = _without_eos(generator)
    whole = free.generate("hello world", SamplingParams(max_tokens=30)).text
    stop = whole[8:11]
    expected = whole[: whole.find(stop)]
    answer = free.generate("hello world", SamplingParams(max_tokens=30, stop=[stop, "never"]))
    assert answer.text == expected and answer.finish_reason == "stop"
    pieces = list(free.stream("hello world", SamplingParams(max_tokens=30, stop=[stop])))
    assert "".join(p.text for p in pieces) == expected
    assert pieces[-1].finish_reason == "stop"


@requirement("TXT-034")
def test_streaming_holds_back_a_possible_stop_string() -> None:
    from interlock.text._generate import _StopMatcher

    matcher = _StopMatcher(["END!"])
    assert matcher.feed("abcE") == ("abc", False)   # "E" may start "END!"
    assert matcher.feed("N") == ("", False)
    assert matcher.feed("x") == ("ENx", False)      # it did not
    assert matcher.feed("EN") == ("", False)
    assert matcher.feed("D!tail") == ("", True)
    assert matcher.flush() == ""


@requirement("TXT-035")
def test_an_end_token_and_the_context_end_the_answer(generator: TextGenerator) -> None:
    ids = generator.tokenizer.encode("hello")
    free = _without_eos(generator)
    greedy = free.generate(ids, SamplingParams(max_tokens=4))
    # Make the first greedy token the end token: the answer stops before it, empty.
    assert generator.text.generation is not None
    ending = generator.text.generation.model_copy(
        update={"eos_token_ids": [greedy.token_ids[0]]})
    stopper = TextGenerator(generator.predictor,
                            generator.text.model_copy(update={"generation": ending}),
                            generator.tokenizer)
    answer = stopper.generate(ids, SamplingParams(max_tokens=4))
    assert (answer.text, answer.token_ids, answer.finish_reason) == ("", (), "stop")
    near_end = [ids[0]] * (generator.text.context_length - 3)
    answer = free.generate(near_end, SamplingParams(max_tokens=50))
    assert answer.finish_reason == "length" and answer.completion_tokens == 3


@requirement("TXT-036")
def test_prompts_the_model_cannot_read_are_refused(generator: TextGenerator) -> None:
    with pytest.raises(GenerationError, match=r"the prompt is empty \(0 tokens\)"):
        generator.generate("")
    with pytest.raises(GenerationError, match="the prompt is 128 tokens; .* reads at most 128"):
        generator.generate([5] * 128)
    with pytest.raises(GenerationError, match="prompt token id 99999 is outside the vocabulary"):
        generator.stream([1, 99999])


@requirement("TXT-038")
def test_threads_share_one_generator(generator: TextGenerator) -> None:
    free = _without_eos(generator)
    requests = [(PROMPTS[i % 3], SamplingParams(max_tokens=12, temperature=0.8, seed=i))
                for i in range(8)]
    alone = [free.generate(p, s) for p, s in requests]
    together: list[Any] = [None] * len(requests)

    def run(index: int) -> None:
        together[index] = free.generate(*requests[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert together == alone


@requirement("TXT-011")
def test_the_chat_template_renders_messages(generator: TextGenerator) -> None:
    prompt = generator.chat_prompt([{"role": "system", "content": "be brief"},
                                    {"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert prompt == "<|system|> be brief <|user|> hi <|assistant|>"
    with pytest.raises(GenerationError, match=r"messages\[1\]\.role is 'robot'"):
        generator.chat_prompt([{"role": "user", "content": "a"}, {"role": "robot"}])
    with pytest.raises(GenerationError, match=r"messages\[0\]\.content is int"):
        generator.chat_prompt([{"role": "user", "content": 3}])
    with pytest.raises(GenerationError, match="messages is empty"):
        generator.chat_prompt([])


@requirement("TXT-012")
@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__.__init__.__globals__ }}",
    "{% set x = messages.append({'role': 'user'}) %}{{ x }}",
    "{{ raise_exception('no system messages') }}",
])
def test_a_chat_template_runs_in_a_sandbox(source: str) -> None:
    template = ChatTemplate(source)
    with pytest.raises(GenerationError):
        template.render([{"role": "user", "content": "hi"}])


@requirement("TXT-010")
def test_only_a_tokenizer_json_is_read(tmp_path: Path) -> None:
    evil = pickle.dumps({"not": "a tokenizer"})
    with pytest.raises(ArtifactIntegrityError, match="tokenizer.json is not a tokenizer"):
        TextTokenizer(evil)
    with pytest.raises(ArtifactIntegrityError, match="is not a tokenizer"):
        TextTokenizer(b'{"version": "1.0"}')
    with pytest.raises(ArtifactIntegrityError, match="bytes; interlock reads tokenizers up to"):
        TextTokenizer(b" " * (64 * 1024 * 1024 + 1))


@requirement("TXT-001")
def test_a_text_section_must_name_listed_files_and_real_tensors(
    llama_artifact: interlock.Artifact,
) -> None:
    raw = json.loads(llama_artifact.manifest.to_json_bytes())
    raw["text"]["tokenizer"] = "missing.json"
    with pytest.raises(ArtifactIntegrityError, match="names the file 'missing.json'"):
        parse_manifest(json.dumps(raw).encode(), where="m", check_digest=False)
    raw = json.loads(llama_artifact.manifest.to_json_bytes())
    raw["text"]["kv_cache"]["num_layers"] = 3
    with pytest.raises(ArtifactIntegrityError, match="past_key_values.2.key"):
        parse_manifest(json.dumps(raw).encode(), where="m", check_digest=False)
    raw = json.loads(llama_artifact.manifest.to_json_bytes())
    del raw["text"]["kv_cache"]
    with pytest.raises(ArtifactIntegrityError, match="needs kv_cache"):
        parse_manifest(json.dumps(raw).encode(), where="m", check_digest=False)


@requirement("TXT-002")
def test_a_manifest_without_text_is_written_as_before(tmp_path: Path) -> None:
    from runtime_models import mlp

    artifact = interlock.save_artifact(mlp(), str(tmp_path), name="d", version="1")
    raw = (tmp_path / "d" / "1" / "manifest.json").read_bytes()
    assert "text" not in json.loads(raw)
    manifest = parse_manifest(raw, where="m")
    assert manifest.text is None and manifest.to_json_bytes() == raw
    assert manifest.expected_digest() == manifest.digest


@requirement("TXT-040")
@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_embeddings_pool_real_tokens_only(pooling: str, tokenizer: Any, store: str) -> None:
    bert = tiny_bert(tokenizer.get_vocab_size())
    artifact = interlock.export(bert, tokenizer, name=f"tiny-bert-{pooling}", store=store,
                                options={"pooling": pooling})
    embedder = interlock.TextEmbedder.load(artifact)
    texts = ["hello world", "the quick brown fox jumps over the lazy dog", "東京"]
    together = embedder.embed(texts)
    assert together.shape == (3, 32) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    for index, text in enumerate(texts):
        alone = embedder.embed([text])[0]
        assert np.allclose(alone, together[index], atol=1e-5)
        ids = torch.tensor([tokenizer.encode(text).ids])
        with torch.no_grad():
            hidden = bert(input_ids=ids).last_hidden_state[0].numpy()
        vector = {"mean": hidden.mean(axis=0), "cls": hidden[0], "last": hidden[-1]}[pooling]
        assert np.allclose(together[index], vector / np.linalg.norm(vector), atol=1e-4)
    with pytest.raises(GenerationError, match=r"input\[1\] is empty"):
        embedder.embed(["a", ""])


@requirement("TXT-039")
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_merged_decode_steps_give_each_request_its_own_answer(
    family: str, llama_artifact: interlock.Artifact, tokenizer: Any, store: str
) -> None:
    artifact = llama_artifact
    if family == "gpt2":
        artifact = interlock.export(tiny_gpt2(tokenizer.get_vocab_size(), seed=3), tokenizer,
                                    name="gpt2-merged", store=store)
    alone = _without_eos(TextGenerator.load(artifact))
    merged = _without_eos(alone, batch_steps=8)
    requests = [(PROMPTS[i % 3] * (1 + i % 2), SamplingParams(max_tokens=10, temperature=0.8,
                                                               seed=i)) for i in range(8)]
    requests += [(p, SamplingParams(max_tokens=10)) for p in PROMPTS]  # greedy ones too
    expected = [alone.generate(p, s).token_ids for p, s in requests]
    got: list[Any] = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def run(index: int) -> None:
        barrier.wait()
        got[index] = merged.generate(*requests[index]).token_ids

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert got == expected
    stats = merged._batcher
    assert stats is not None and stats.rows > stats.calls, (stats.rows, stats.calls)
    with pytest.raises(GenerationError, match="batch_steps is 0"):
        TextGenerator.load(artifact, batch_steps=0)
