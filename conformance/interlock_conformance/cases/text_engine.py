"""Text engines (spec: text.md TXT-070..TXT-072, plugins.md PLG-042) on the suite's golden
decoder (``interlock_conformance.golden_text``): the token source's contract, interlock's own
loop's greedy tokens, refusing or honouring sampling as claimed, the artifact left as it was,
and a missing library found at load."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import interlock
from interlock.errors import GenerationError
from interlock.plugins import PluginInfo
from interlock.text import SamplingParams, TextEngine, TextGenerator, TokenSampler, TokenSource

from interlock_conformance.cases._dependencies import problems_when_hidden, run_probe
from interlock_conformance.golden_text import PROMPTS, golden_text_artifact
from interlock_conformance.markers import component_kind, requirement

pytestmark = component_kind("text_engine")

_MOST = 8


@pytest.fixture(scope="module")
def text_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    store = str(tmp_path_factory.mktemp("golden-text"))
    golden_text_artifact(store)
    return store


@pytest.fixture(scope="module")
def artifact(text_store: str) -> interlock.Artifact:
    return interlock.load_artifact("golden-text:1", store=text_store)


def _own_loop(artifact: interlock.Artifact) -> TextGenerator:
    """interlock's loop on onnxruntime where it is installed, else the reference evaluator."""
    names = interlock.get_registry().names("runtime")
    return TextGenerator.load(artifact, "onnxruntime" if "onnxruntime" in names else "reference")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _source(component: TextEngine, artifact: interlock.Artifact) -> TokenSource:
    source = component.load(artifact, "cpu", {})
    assert isinstance(source, TokenSource), (
        f"text engine {component.name!r}: load returned {type(source).__name__}, not an "
        "interlock.text.TokenSource (text.md TXT-070)")
    return source


@requirement("TXT-070")
def test_tokens_are_ids_at_most_the_limit_and_stop_when_closed(
    component: TextEngine, artifact: interlock.Artifact,
) -> None:
    """``tokens`` yields vocabulary ids one at a time, at most ``max_tokens``, stops when the
    caller closes it, and the next request still works; the artifact is left as it was."""
    before = _digests(artifact.local_dir())
    source = _source(component, artifact)
    generator = TextGenerator.from_artifact(artifact, None, source=source)
    prompt = generator.prompt_ids(PROMPTS[0])
    vocab = generator.tokenizer.vocab_size
    sampler = TokenSampler(SamplingParams(temperature=0), generator.defaults)
    for limit in (1, 5):
        got = list(source.tokens(list(prompt), sampler, limit))
        assert 1 <= len(got) <= limit, (
            f"tokens(prompt, greedy, max_tokens={limit}) yielded {len(got)} ids; the golden "
            f"model has no end token, so 1 to {limit} are allowed (text.md TXT-070)")
        assert all(isinstance(t, int) and 0 <= t < vocab for t in got), (
            f"tokens yielded {got!r}: every item must be an int token id below the vocabulary "
            f"size {vocab} (text.md TXT-070)")
    stream = source.tokens(list(prompt), sampler, 10)
    next(iter(stream))
    close = getattr(stream, "close", None)
    if close is not None:
        close()
    again = list(source.tokens(list(prompt), sampler, 3))
    assert len(again) == 3, f"after a closed request, the next yielded {again!r} (TXT-070)"
    assert _digests(artifact.local_dir()) == before, (
        f"text engine {component.name!r} changed the artifact's files while loading and "
        "generating (text.md TXT-070: an engine MUST NOT write into the artifact)")


@requirement("TXT-071")
def test_greedy_tokens_are_those_of_interlocks_own_loop(
    component: TextEngine, artifact: interlock.Artifact,
) -> None:
    """Greedy decoding through the engine gives the tokens of interlock's own loop."""
    own = _own_loop(artifact)
    engine = TextGenerator.from_artifact(artifact, None, source=_source(component, artifact))
    params = SamplingParams(max_tokens=12, temperature=0)
    for prompt in PROMPTS:
        want, got = own.generate(prompt, params), engine.generate(prompt, params)
        assert got.text == want.text and got.completion_tokens == want.completion_tokens, (
            f"greedy, 12 tokens after {prompt!r}: the engine answered {got.text!r} "
            f"({got.completion_tokens} tokens), interlock's own loop {want.text!r} "
            f"({want.completion_tokens}) (text.md TXT-071)")


@requirement("TXT-072", "TXT-071")
def test_sampling_is_refused_or_honoured_as_claimed(
    component: TextEngine, artifact: interlock.Artifact,
) -> None:
    """Without ``sampling`` a sampling request raises GenerationError; with it, answers are
    drawn from the vocabulary, and with ``seeded`` one seed gives one answer."""
    engine = TextGenerator.from_artifact(artifact, None, source=_source(component, artifact))
    params = SamplingParams(max_tokens=8, temperature=1.0, top_p=0.9, seed=11)
    if "sampling" not in component.capabilities:
        with pytest.raises(GenerationError):
            engine.generate(PROMPTS[1], params)
        return
    first = engine.generate(PROMPTS[1], params)
    assert 1 <= first.completion_tokens <= 8, first
    if "seeded" in component.capabilities:
        again = engine.generate(PROMPTS[1], params)
        assert again.text == first.text, (
            f"seed 11 gave {first.text!r} and then {again.text!r}; an engine claiming "
            "'seeded' gives one answer per seed (text.md TXT-071)")


_LOAD_AND_GENERATE = """
import interlock
from interlock.text import SamplingParams, TextGenerator
generator = TextGenerator.load(spec["ref"], store=spec["store"], engine=spec["engine"])
stage = "infer"
generator.generate("the fox", SamplingParams(max_tokens=3, temperature=0))
"""

_ACTION = {"load": "TextGenerator.load(..., engine=...)", "infer": "TextGenerator.generate"}


@requirement("PLG-042")
def test_a_missing_library_makes_load_raise_missing_dependency_error(
    component: TextEngine, plugin_info: PluginInfo, text_store: str,
) -> None:
    """Each library the engine imports beyond interlock's dependencies, hidden in turn, makes
    loading raise ``MissingDependencyError`` naming it, with an install hint."""
    spec = {"ref": "golden-text:1", "store": text_store, "engine": component.name}
    plain = run_probe(_LOAD_AND_GENERATE, spec, hide=None, plugin=plugin_info)
    assert plain.stage is None, (
        f"in a fresh interpreter, with every library installed, text engine {component.name!r} "
        "did not generate from golden-text:1: " + plain.describe(_ACTION))
    problems = problems_when_hidden(_LOAD_AND_GENERATE, spec, plain, plugin=plugin_info, names=_ACTION,
                                    most=_MOST)
    assert not problems, (
        f"text engine {component.name!r}: " + "; ".join(problems)
        + " (plugins.md PLG-042: a missing optional dependency MUST raise "
        "interlock.MissingDependencyError naming the package and how to install it)")
