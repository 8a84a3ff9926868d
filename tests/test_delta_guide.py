"""docs/delta.md runs as written: its example writes a partitioned Delta table in two commits,
reads it with a filter, travels to version 0, trains and exports a model on that version,
scores the table into another Delta table with ``interlock.predict_dataset`` and checks the
lineage. The page's code blocks carry the marks of tests/test_docs.py and run with its helpers,
in a throwaway environment; what the block prints is compared with the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_docs import Block, Example, _fences, follow_guide

import interlock
from interlock_conformance import requirement

PAGE = Path(__file__).resolve().parent.parent / "docs" / "delta.md"


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, list[Block]]:
    return follow_guide(PAGE, tmp_path_factory.mktemp("delta-guide"))


def test_every_code_block_of_the_page_is_tested() -> None:
    for line, info, marked in _fences(PAGE):
        if info in ("python", "toml", "console", "sh", "bash"):
            assert marked, f"delta.md line {line}: a {info} block without a test mark"


@requirement("DS-130", "DS-131")
def test_the_page_writes_travels_and_predicts(guide: tuple[Example, list[Block]]) -> None:
    example, blocks = guide
    code = "".join(block.text for block in blocks if block.kind == "python")
    for step in ('format="delta"', "version=0", "interlock.predict_dataset(", "fingerprint()"):
        assert step in code, f"delta.md never uses {step}"
    # What the page left behind: two Delta tables, the scores a new one.
    customers = interlock.open_dataset(str(example.workspace / "customers"))
    scores = interlock.open_dataset(str(example.workspace / "scores"))
    assert (customers.format_name, scores.format_name) == ("delta", "delta")
    assert customers.count_rows() == scores.count_rows() == 300
    assert (example.workspace / "customers" / "region=eu").is_dir()
