"""docs/mlflow.md runs as written: its examples publish to, list, load, serve from and tamper
with an MLflow store (SQLite backend), import a model logged with ``mlflow.onnx.log_model``,
see a scikit-learn (pickled) model refused, and run ``interlock artifact import`` from the
command line.

The guide's code blocks carry the marks of tests/test_docs.py (``test:python`` +
``test:stdout``, ``test:console``) and run with its helpers, in a throwaway environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_docs import Block, Example, _fences, follow_guide

import interlock
from interlock_conformance import requirement

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "mlflow.md"


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, list[Block]]:
    """docs/mlflow.md followed from its first block to its last."""
    return follow_guide(GUIDE, tmp_path_factory.mktemp("mlflow-guide"))


def test_every_code_block_of_the_guide_is_tested() -> None:
    for line, info, marked in _fences(GUIDE):
        if info in ("python", "toml", "console", "sh", "bash"):
            assert marked, f"mlflow.md line {line}: a {info} block without a test mark"


@requirement("ART-111", "ART-114")
def test_the_guide_runs_and_prints_what_it_says(guide: tuple[Example, list[Block]]) -> None:
    example, blocks = guide
    assert [block.kind for block in blocks] == ["python", "stdout", "python", "stdout", "console"]
    # what the examples left behind: the MLflow store, and the imported artifacts
    store = interlock.open_store(f"mlflow+sqlite:///{example.workspace / 'mlflow' / 'mlflow.db'}")
    assert store.versions("scores") == ["1.0", "1.1"]
    imported = interlock.open_store(str(example.workspace / "store"))
    assert imported.versions("churn") == ["1", "from-mlflow"]
    assert "legacy" not in imported.names()


def test_the_guide_names_what_the_store_claims() -> None:
    from interlock_mlflow.location import PROTOCOLS
    from interlock_mlflow.store import MlflowArtifactStore

    text = " ".join(GUIDE.read_text(encoding="utf-8").split())
    for capability in sorted(MlflowArtifactStore.capabilities):
        assert f"`{capability}`" in text, capability
    assert PROTOCOLS == ("mlflow+sqlite", "mlflow+http", "mlflow+https")
