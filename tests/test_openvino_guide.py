"""docs/openvino.md runs as written: its example loads models with ``runtime="openvino"`` and
prints what the runtime runs and refuses (an int64 input beyond int32, RT-051; an ONNX-ML
operator at load, RT-082; float64 computed in float32).

The guide's code blocks carry the marks of tests/test_docs.py (``test:python`` +
``test:stdout``) and run with its helpers, in a throwaway environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_docs import Block, Example, _fences, follow_guide

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "openvino.md"


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, list[Block]]:
    """docs/openvino.md followed from its first block to its last."""
    return follow_guide(GUIDE, tmp_path_factory.mktemp("openvino-guide"))


def test_every_code_block_of_the_guide_is_tested() -> None:
    for line, info, marked in _fences(GUIDE):
        if info in ("python", "toml", "console", "sh", "bash"):
            assert marked, f"openvino.md line {line}: a {info} block without a test mark"


def test_the_guide_runs_and_prints_what_it_says(guide: tuple[Example, list[Block]]) -> None:
    example, blocks = guide
    assert [block.kind for block in blocks] == ["python", "stdout"]
    printed = blocks[1].text
    assert printed.startswith("openvino float32 (8, 3)\nagrees with onnxruntime: True\n")
    assert "refused at load: ('ai.onnx.ml.Scaler',)" in printed
    assert "outside the int32 range" in printed
    # what the example saved: one artifact per model, in the store it names
    assert (example.workspace / "store").is_dir()


def test_the_guide_names_what_the_runtime_claims() -> None:
    """The capabilities the page states are the ones the runtime declares."""
    from interlock_openvino.compiled import OpenVinoOptions
    from interlock_openvino.plugin import OpenVinoRuntime

    text = GUIDE.read_text(encoding="utf-8")
    claimed = sorted(OpenVinoRuntime.capabilities)
    assert claimed == ["external-data", "float16"]
    assert "Capabilities (`specs/v1/runtime.md`, RT-070): `external-data` and `float16`" in text
    assert sorted(OpenVinoOptions.model_fields) == [
        "inference_num_threads", "inference_precision", "performance_hint"]
    for option in OpenVinoOptions.model_fields:
        assert f"| `{option}` |" in text
