"""Fuzzing the parsers a server exposes (tests/fuzz_targets.py): every saved input replayed,
and a short coverage-guided atheris run per target. The long runs (15 minutes per target)
and their figures are in docs/serving.md."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from interlock_conformance import requirement

import fuzz_targets

CORPUS = Path(__file__).parent / "fuzz_corpus"
TARGETS = sorted(fuzz_targets.TARGETS)


def test_every_target_has_a_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == TARGETS


@pytest.mark.parametrize("target", TARGETS)
@requirement("SRV-312")
def test_saved_inputs_pass(target: str) -> None:
    # Seeds (valid requests of each kind) and every finding kept as a regression input.
    inputs = sorted((CORPUS / target).iterdir())
    assert inputs
    for path in inputs:
        fuzz_targets.run_one(target, path.read_bytes())


@pytest.mark.parametrize("target", TARGETS)
@requirement("SRV-312")
def test_a_short_fuzzing_run_finds_nothing(target: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / target, corpus)
    result = subprocess.run(
        [sys.executable, str(Path(fuzz_targets.__file__)), target, "-max_total_time=1",
         "-max_len=4096", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    found = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("crash-"))
    assert result.returncode == 0 and not found, (result.returncode, found, result.stderr[-3000:])
    assert re.search(r"Done \d+ runs", result.stderr), result.stderr[-2000:]
