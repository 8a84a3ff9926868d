"""docs/dataset-formats.md runs as written: the ``acme-tsv`` format, built on
``interlock.datasets.FileFormat``, from an empty directory to a clean certificate.

The guide's code blocks carry the marks of tests/test_docs.py (``test:file``, ``test:console``,
``test:python`` + ``test:stdout``) and run with its helpers, in a throwaway environment.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from distributions import plugin_env
from test_docs import Block, Example, _fences, make_venv, read_blocks, run_console

from interlock_conformance import read_report

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "dataset-formats.md"


def _run_python(block: Block, following: Block, example: Example) -> None:
    done = subprocess.run(
        [str(example.venv / "bin" / "python"), "-c", block.text],
        cwd=example.workspace / block.options.get("cwd", "."),
        env=plugin_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    where = f"dataset-formats.md {block.where}"
    assert done.returncode == 0, f"{where}:\n{done.stderr[-3000:]}"
    assert following.kind == "stdout", f"{where}: no test:stdout block follows"
    assert done.stdout == following.text, f"{where} printed:\n{done.stdout}"


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, list[Block]]:
    """docs/dataset-formats.md followed from its first block to its last."""
    root = tmp_path_factory.mktemp("dataset-format-guide")
    example = Example(workspace=root / "work", venv=make_venv(root))
    example.workspace.mkdir()
    blocks = read_blocks(GUIDE)
    for index, block in enumerate(blocks):
        if block.kind == "file":
            (relative,) = block.args
            target = example.workspace / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
            example.files[relative] = block.text
        elif block.kind == "console":
            run_console(block, example, "docs/dataset-formats.md")
        elif block.kind == "python":
            _run_python(block, blocks[index + 1], example)
        elif block.kind != "stdout":
            raise AssertionError(f"dataset-formats.md {block.where}: unknown mark {block.kind!r}")
    return example, blocks


def test_every_code_block_of_the_guide_is_tested() -> None:
    for line, info, marked in _fences(GUIDE):
        if info in ("python", "toml", "console", "sh", "bash"):
            assert marked, f"dataset-formats.md line {line}: a {info} block without a test mark"


def test_the_guide_builds_and_certifies_the_tsv_format(
    guide: tuple[Example, list[Block]],
) -> None:
    example, blocks = guide
    kinds = [block.kind for block in blocks]
    assert kinds.count("file") == 4 and kinds.count("console") == 3 and "python" in kinds
    certified = [b for b in blocks if b.kind == "console" and "certify acme_tsv" in b.text]
    assert "verdict: CERTIFIED" in certified[0].text
    # The last certification of the guide is the failing one (section 8): its report shows
    # DS-073 failing; the certified run before it printed "verdict: CERTIFIED".
    report = read_report(example.workspace / "acme-tsv" / "certification" / "report.json")
    assert [r.id for r in report.failed()] == ["DS-073"]
    assert report.plugin.distribution == "acme-tsv" and report.plugin.version == "1.0.0"
    plugin = example.files["acme-tsv/src/acme_tsv/plugin.py"]
    assert "interlock._" not in plugin + example.files["acme-tsv/src/acme_tsv/codec.py"]
