"""The text engines section of the matrix (CONF-058): every text engine against interlock's
own generation loop on every runtime, on the suite's golden decoder
(:mod:`interlock_conformance.golden_text`)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from interlock_conformance.golden_text import PROMPTS, golden_text_artifact
from interlock_conformance.matrix.cells import (
    CellFailure,
    ComponentRef,
    MatrixContext,
    MatrixSection,
    evaluate,
    stage,
)

if TYPE_CHECKING:
    from interlock import Artifact
    from interlock.text import TextGenerator

__all__ = ["text_section"]

#: New tokens per answer.
TOKENS = 12


def _artifact(context: MatrixContext) -> Artifact:
    artifact: Artifact | None = context.memo.get("golden-text")
    if artifact is None:
        artifact = context.memo["golden-text"] = golden_text_artifact(
            str(context.directory("golden-text")))
    return artifact


def _answers(generator: TextGenerator) -> list[str]:
    from interlock.text import SamplingParams

    params = SamplingParams(max_tokens=TOKENS, temperature=0)
    return [generator.generate(prompt, params).text for prompt in PROMPTS]


def _pair(context: MatrixContext, engine: ComponentRef, runtime: ComponentRef) -> list[str]:
    from interlock.text import TextGenerator

    artifact = _artifact(context)
    key = f"text-engine:{engine.name}"
    if key not in context.memo:
        with stage("TXT-070", f"loading golden-text:1 with text engine {engine.name!r}"):
            source = engine.require().load(artifact, "cpu", {})
            context.memo[key] = _answers(TextGenerator.from_artifact(artifact, None,
                                                                     source=source))
    got: list[str] = context.memo[key]
    with stage("TXT-020", f"generating from golden-text:1 on runtime {runtime.name!r}"):
        runtime.require()
        want = _answers(TextGenerator.load(artifact, runtime.name))
    for prompt, engine_text, own_text in zip(PROMPTS, got, want):
        if engine_text != own_text:
            raise CellFailure("TXT-071", f"greedy, {TOKENS} tokens after {prompt!r}: "
                              f"{engine.name} answered {engine_text!r}, interlock's loop on "
                              f"{runtime.name} {own_text!r}")
    return [f"{len(PROMPTS)} greedy answers of {TOKENS} tokens"]


def text_section(context: MatrixContext) -> MatrixSection:
    """Every text engine (rows) against interlock's own loop on every runtime (columns)."""
    engines = context.components("text_engine")
    runtimes = context.components("runtime")
    cells = [evaluate(engine.name, runtime.name, ["CONF-058", "TXT-071"],
                      partial(_pair, context, engine, runtime))
             for engine in engines for runtime in runtimes]
    return MatrixSection(
        name="text", title="greedy answers of the row's text engine against interlock's own "
        "loop on the column's runtime, on the suite's golden decoder",
        requirement="CONF-058", row_kind="text_engine", column_kind="runtime",
        rows=[e.name for e in engines], columns=[r.name for r in runtimes], cells=cells)
