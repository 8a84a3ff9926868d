"""docs/triton.md runs as written: its example exports an artifact into a Triton model
repository (Python and ``interlock artifact export-triton``), then reads the repository through
the ``triton://`` store, a hand-written Triton model included, loads, serves and batch-scores it
and shows that the store refuses to publish.

The guide's code blocks carry the marks of tests/test_docs.py (``test:python``,
``test:console`` + ``test:stdout``) and run with its helpers, in a throwaway environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from test_docs import Block, Example, _fences, follow_guide
from tritonclient.grpc import model_config_pb2

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "triton.md"


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, list[Block]]:
    """docs/triton.md followed from its first block to its last."""
    return follow_guide(GUIDE, tmp_path_factory.mktemp("triton-guide"))


def test_every_code_block_of_the_guide_is_tested() -> None:
    for line, info, marked in _fences(GUIDE):
        if info in ("python", "toml", "console", "sh", "bash"):
            assert marked, f"triton.md line {line}: a {info} block without a test mark"


def test_the_guide_runs_and_writes_a_repository_triton_reads(
    guide: tuple[Example, list[Block]],
) -> None:
    example, blocks = guide
    assert [block.kind for block in blocks] == ["python", "stdout", "console", "python", "stdout"]
    models = example.workspace / "models"
    assert sorted(p.name for p in models.iterdir()) == ["affine", "affine_full", "legacy"]
    for name, batch in (("affine", 32), ("affine_full", 0), ("legacy", 16)):
        config = model_config_pb2.ModelConfig()
        text_format.Parse((models / name / "config.pbtxt").read_text(), config)
        assert config.max_batch_size == batch, name
    assert not (models / "legacy" / "5" / "manifest.json").exists()  # derived, never written


def test_the_guide_names_what_the_store_claims() -> None:
    from interlock_triton.config import DEFAULT_MAX_BATCH_SIZE
    from interlock_triton.store import TritonRepositoryStore

    text = GUIDE.read_text(encoding="utf-8")
    assert sorted(TritonRepositoryStore.capabilities) == [
        "digest-refs", "external-data", "nested-files", "read-only"]
    assert f"`--max-batch-size` (default {DEFAULT_MAX_BATCH_SIZE})" in text
