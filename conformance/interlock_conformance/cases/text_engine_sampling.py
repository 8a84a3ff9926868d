"""Text engine cases on sampling (spec: text.md TXT-032), on the suite's golden one-layer
decoder: an engine that claims ``sampling`` restricts its draws to the ``top_k`` most likely
tokens (with ``top_k`` 1 every draw is the greedy token, whatever the temperature), and one that
claims ``seeded`` gives the same tokens for one seed on every run, streamed or answered whole.
"""

from __future__ import annotations

import pytest

import interlock
from interlock.text import SamplingParams, TextEngine, TextGenerator, TokenSource

from interlock_conformance.golden_text import PROMPTS, golden_text_artifact
from interlock_conformance.markers import capability, component_kind, requirement

pytestmark = component_kind("text_engine")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> interlock.Artifact:
    store = str(tmp_path_factory.mktemp("golden-text-sampling"))
    golden_text_artifact(store)
    return interlock.load_artifact("golden-text:1", store=store)


def _engine(component: TextEngine, artifact: interlock.Artifact) -> TextGenerator:
    source = component.load(artifact, "cpu", {})
    assert isinstance(source, TokenSource), (
        f"text engine {component.name!r}: load returned {type(source).__name__}, not an "
        "interlock.text.TokenSource (text.md TXT-070)")
    return TextGenerator.from_artifact(artifact, None, source=source)


@requirement("TXT-032")
@capability("sampling")
def test_top_k_one_draws_the_greedy_tokens(
    component: TextEngine, artifact: interlock.Artifact,
) -> None:
    """Sampling at temperature 2 restricted to the single most likely token (``top_k`` 1)
    gives the tokens of greedy decoding."""
    engine = _engine(component, artifact)
    greedy = SamplingParams(max_tokens=10, temperature=0)
    for seed, prompt in enumerate(PROMPTS):
        sampled = SamplingParams(max_tokens=10, temperature=2.0, top_k=1, seed=seed + 1)
        want, got = engine.generate(prompt, greedy), engine.generate(prompt, sampled)
        assert got.text == want.text, (
            f"sampling 10 tokens after {prompt!r} with temperature 2, top_k 1, seed {seed + 1} "
            f"through {component.name!r} gave {got.text!r}, greedy decoding {want.text!r}: "
            "draws are not restricted to the top_k most likely tokens (text.md TXT-032)")


@requirement("TXT-032")
@capability("sampling", "seeded")
def test_one_seed_gives_one_answer_streamed_or_not(
    component: TextEngine, artifact: interlock.Artifact,
) -> None:
    """The same seeded request answered whole twice and streamed gives the same text."""
    engine = _engine(component, artifact)
    params = SamplingParams(max_tokens=10, temperature=1.5, top_p=0.95, seed=20240607)
    for prompt in PROMPTS:
        first, again = engine.generate(prompt, params), engine.generate(prompt, params)
        streamed = "".join(chunk.text for chunk in engine.stream(prompt, params))
        assert first.text == again.text == streamed, (
            f"seed 20240607, 10 tokens after {prompt!r} through {component.name!r}: answered "
            f"whole {first.text!r} then {again.text!r}, streamed {streamed!r}; with 'seeded' "
            "one seed gives one answer on every run, streamed or not (text.md TXT-032)")
