"""The onnxruntime-genai text engine (plugins/interlock_genai) on a tiny Llama built here:
the same greedy tokens as interlock's own loop, its own seeded sampling, and interlock's
stop strings, end tokens and streaming around it (text.md TXT-070..TXT-072)."""

from __future__ import annotations

import os
import pytest

import interlock
from interlock import GenerationError
from interlock.text import SamplingParams, TextGenerator
from interlock_conformance import requirement
from text_models import fast_tokenizer, tiny_gpt2, tiny_llama, tiny_tokenizer

PROMPTS = ["the quick brown fox", "hello interlock", "東京 🙂 café"]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> interlock.Artifact:
    tokenizer = tiny_tokenizer()
    store = str(tmp_path_factory.mktemp("genai"))
    return interlock.export(tiny_llama(tokenizer.get_vocab_size()), fast_tokenizer(tokenizer),
                            name="lm", store=store)


@pytest.fixture(scope="module")
def engines(artifact: interlock.Artifact) -> dict[str, TextGenerator]:
    return {"interlock": TextGenerator.load(artifact),
            "genai": TextGenerator.load(artifact, engine="onnxruntime-genai")}


@requirement("TXT-070", "TXT-071")
def test_greedy_tokens_are_interlocks_own(engines: dict[str, TextGenerator],
                                         artifact: interlock.Artifact) -> None:
    own, genai = engines["interlock"], engines["genai"]
    for prompt in PROMPTS:
        params = SamplingParams(max_tokens=12, temperature=0)
        assert genai.generate(prompt, params) == own.generate(prompt, params), prompt
    assert genai.source is not None and own.source is None
    folder = genai.source.folder  # type: ignore[attr-defined]
    assert sorted(os.listdir(folder)) == ["genai_config.json", "model.onnx"]
    assert os.path.islink(os.path.join(folder, "model.onnx"))  # the artifact is not copied
    assert sorted(os.listdir(artifact.local_dir())) == sorted(
        ["manifest.json", "model.onnx", "tokenizer.json", "chat_template.jinja"])


@requirement("TXT-070", "TXT-071")
def test_interlock_keeps_stops_streams_and_reasons_around_the_engine(
    engines: dict[str, TextGenerator],
) -> None:
    own, genai = engines["interlock"], engines["genai"]
    whole = own.generate("hello world", SamplingParams(max_tokens=20, temperature=0)).text
    stop = whole[5:8]
    params = SamplingParams(max_tokens=20, temperature=0, stop=[stop])
    answer = genai.generate("hello world", params)
    assert answer.text == whole[: whole.find(stop)] and answer.finish_reason == "stop"
    pieces = list(genai.stream("hello world", params))
    assert "".join(p.text for p in pieces) == answer.text
    assert pieces[-1].finish_reason == "stop"
    with pytest.raises(GenerationError, match="temperature is -1"):
        genai.generate("x", SamplingParams(temperature=-1))


@requirement("TXT-071")
def test_seeded_sampling_repeats_on_the_engine(engines: dict[str, TextGenerator]) -> None:
    genai = engines["genai"]
    params = SamplingParams(max_tokens=16, temperature=0.9, top_p=0.95, top_k=40, seed=7)
    first = genai.generate("the lazy dog", params)
    assert genai.generate("the lazy dog", params) == first
    other = genai.generate("the lazy dog", SamplingParams(max_tokens=16, temperature=0.9,
                                                          seed=8))
    assert other.token_ids != first.token_ids


@requirement("TXT-070")
def test_engine_mistakes_are_named(artifact: interlock.Artifact) -> None:
    with pytest.raises(interlock.PluginError, match="no text engine"):
        TextGenerator.load(artifact, engine="no-such-engine")
    with pytest.raises(interlock.DeviceUnavailableError, match="does not run on device 'cuda'"):
        TextGenerator.load(artifact, engine="onnxruntime-genai", device="cuda")
    with pytest.raises(interlock.InterlockError, match="option"):
        TextGenerator.load(artifact, engine="onnxruntime-genai", threads=2)


@requirement("TXT-070", "TXT-072")
def test_an_engine_that_cannot_sample_refuses_and_its_failures_are_named(
    engines: dict[str, TextGenerator],
) -> None:
    from collections.abc import Iterator

    from interlock.text import TokenSampler, TokenSource

    class GreedyOnly(TokenSource):
        def tokens(self, prompt: list[int], sampler: TokenSampler,
                   max_tokens: int) -> Iterator[int]:
            if not sampler.greedy:
                raise GenerationError("this engine decodes greedily only",
                                      hint="send temperature 0")
            yield from (1, 2, 3)
            raise RuntimeError("device lost")

    own = engines["interlock"]
    greedy = TextGenerator(None, own.text, own.tokenizer, source=GreedyOnly(), name="lm:1")
    with pytest.raises(GenerationError, match="greedily only"):
        greedy.generate("hi", SamplingParams(temperature=0.5))
    answer = greedy.generate("hi", SamplingParams(max_tokens=3, temperature=0))
    assert answer.token_ids == (1, 2, 3) and answer.finish_reason == "length"
    with pytest.raises(interlock.PluginError, match="text engine failed .*RuntimeError: device"):
        greedy.generate("hi", SamplingParams(max_tokens=10, temperature=0))


@requirement("TXT-071")
def test_a_gpt2_artifact_runs_on_the_engine_with_interlocks_greedy_tokens(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # GPT-2's learned positions and fused attention export to the same decoder layout.
    tokenizer = tiny_tokenizer()
    artifact = interlock.export(tiny_gpt2(tokenizer.get_vocab_size(), seed=3),
                                fast_tokenizer(tokenizer), name="gpt2",
                                store=str(tmp_path_factory.mktemp("genai-gpt2")))
    own = TextGenerator.load(artifact)
    genai = TextGenerator.load(artifact, engine="onnxruntime-genai")
    params = SamplingParams(max_tokens=16, temperature=0)
    answers = [own.generate(prompt, params) for prompt in PROMPTS]
    assert [genai.generate(prompt, params) for prompt in PROMPTS] == answers
    assert len({a.text for a in answers}) == len(PROMPTS)  # the prompts lead somewhere different


@requirement("TXT-073")
def test_interlock_serve_generates_with_the_engine_it_is_given(
    artifact: interlock.Artifact, engines: dict[str, TextGenerator],
) -> None:
    import openai

    store = str(artifact.local_dir().parent.parent)
    with interlock.serve([store], servers={"rest": 0}, text_engine="onnxruntime-genai",
                         block=False) as running:
        served = running.repository.get("lm").generator
        assert served is not None and served.source is not None
        client = openai.OpenAI(base_url=running.url("rest") + "/v1", api_key="-", max_retries=0)
        for prompt in PROMPTS:
            answer = client.completions.create(model="lm", prompt=prompt, max_tokens=10,
                                               temperature=0)
            own = engines["interlock"].generate(prompt, SamplingParams(max_tokens=10,
                                                                       temperature=0))
            assert answer.choices[0].text == own.text, prompt


@requirement("TXT-073")
def test_an_unknown_text_engine_is_refused_before_anything_listens(
    artifact: interlock.Artifact,
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    command = [str(Path(sys.executable).parent / "interlock"), "serve", str(artifact.uri),
               "--server", "rest=0", "--text-engine", "no-such-engine"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "no-such-engine" in done.stderr and "onnxruntime-genai" in done.stderr, done.stderr


@requirement("TXT-070", "TXT-071", "TXT-072", "PLG-042")
def test_the_plugin_is_certified(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`interlock certify interlock_genai`: the text engine cases on the suite's golden
    decoder pass (a broken engine fails them: tests/broken_plugins/broken_text_engine)."""
    from interlock_conformance import certify

    report = certify("interlock_genai", tmp_path_factory.mktemp("certify-genai") / "out")
    assert report.verdict == "certified", [(r.id, [f.message for f in r.failures])
                                           for r in report.failed()]
    passed = {c.id.split("[")[0].rsplit("::", 1)[-1] for c in report.cases
              if c.outcome == "passed" and c.kind == "text_engine"}
    assert passed == {
        "test_tokens_are_ids_at_most_the_limit_and_stop_when_closed",
        "test_greedy_tokens_are_those_of_interlocks_own_loop",
        "test_sampling_is_refused_or_honoured_as_claimed",
        "test_a_missing_library_makes_load_raise_missing_dependency_error",
        "test_top_k_one_draws_the_greedy_tokens",
        "test_one_seed_gives_one_answer_streamed_or_not",
    }, sorted(passed)


@requirement("SRV-010", "TXT-073")
def test_a_repository_refuses_an_engine_that_is_not_installed(
    artifact: interlock.Artifact,
) -> None:
    from interlock.serving import ModelRepository

    with pytest.raises(interlock.PluginError, match="no-such-engine") as caught:
        ModelRepository([str(artifact.uri)], text_engine="no-such-engine")
    assert "onnxruntime-genai" in str(caught.value)
