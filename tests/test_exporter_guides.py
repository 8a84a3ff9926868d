"""The exporter pages run as written: docs/pytorch.md, docs/xgboost.md and docs/lightgbm.md
each train a small model, export it, predict a Parquet dataset with
``interlock.predict_dataset`` and serve it (``interlock.serve(..., block=False)``) to one
request of interlock's Open Inference Protocol client.

Their code blocks carry the marks of tests/test_docs.py (``test:python`` + ``test:stdout``) and
run with its helpers, in a throwaway environment; what each block prints is compared with the
page, so the page's claims ("agrees with XGBoost: True") are checked, not just its syntax.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_docs import Block, Example, _fences, follow_guide

import interlock

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"pytorch": "mlp", "xgboost": "churn", "lightgbm": "churn"}


@pytest.fixture(scope="module", params=sorted(PAGES))
def page(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Example, list[Block]]:
    """One exporter page followed from its first block to its last."""
    name: str = request.param
    example, blocks = follow_guide(ROOT / "docs" / f"{name}.md", tmp_path_factory.mktemp(name))
    return name, example, blocks


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_code_block_of_the_page_is_tested(name: str) -> None:
    for line, info, marked in _fences(ROOT / "docs" / f"{name}.md"):
        if info in ("python", "toml", "console", "sh", "bash"):
            assert marked, f"{name}.md line {line}: a {info} block without a test mark"


def test_the_page_trains_exports_predicts_and_serves(
    page: tuple[str, Example, list[Block]],
) -> None:
    name, example, blocks = page
    code = "".join(block.text for block in blocks if block.kind == "python")
    for step in ("interlock.export(", "interlock.predict_dataset(", "block=False", ".infer("):
        assert step in code, f"{name}.md never calls {step}"
    # What the page left behind: an artifact of its exporter, and every new row scored.
    artifact = interlock.load_artifact(PAGES[name], store=str(example.workspace / "store"))
    assert artifact.manifest.producer.component == name
    assert name in artifact.manifest.metadata
    assert [entry.role for entry in artifact.manifest.lineage] == ["training"]
    scored = pq.read_table(example.workspace / "scores.parquet")
    assert scored.num_rows == pq.read_metadata(example.workspace / "new.parquet").num_rows
