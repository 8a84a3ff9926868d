"""scripts/onnx_scoreboard.py on a fixed small subset of the ONNX backend cases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import onnx_scoreboard  # noqa: E402

RUNTIMES = ["onnxruntime", "openvino", "reference"]
#: case -> expected outcome per runtime: a pass everywhere, a refusal at inference (OpenVINO
#: computes float64 in float32 and refuses a value beyond its range, RT-052), a refusal at load
#: (onnxruntime lacks the old opset's kernel).
EXPECTED = {
    "test_operator_exp": {"onnxruntime": "pass", "openvino": "pass", "reference": "pass"},
    "test_operator_addconstant": {"onnxruntime": "refused", "openvino": "refused",
                                  "reference": "pass"},
    "test_AvgPool1d": {"onnxruntime": "refused", "openvino": "pass", "reference": "pass"},
}


@pytest.fixture(scope="module")
def cases() -> list[Path]:
    found = {c.name: c for c in onnx_scoreboard.find_cases(onnx_scoreboard.default_suites())}
    return [found[name] for name in EXPECTED]


def test_each_outcome_is_counted(cases: list[Path], tmp_path: Path) -> None:
    for case in cases:
        outcomes = onnx_scoreboard.run_case(case, RUNTIMES, str(tmp_path / case.name))
        for runtime, outcome in EXPECTED[case.name].items():
            assert outcomes[runtime] == outcome, (case.name, runtime, outcomes)
    counts = onnx_scoreboard.scoreboard(cases, RUNTIMES)
    assert counts["reference"]["pass"] == 3
    assert counts["openvino"]["refused"] == 1 and counts["onnxruntime"]["refused"] == 2
    table = onnx_scoreboard.table(counts)
    assert table.splitlines()[0].split() == ["runtime", "pass", "fail", "refused", "error", "total"]
    assert len(table.splitlines()) == len(RUNTIMES) + 2


def test_a_difference_beyond_the_runtime_s_tolerance_is_a_failure() -> None:
    """float64 within 1e-7: a pass for a runtime without float64-precision (RT-052), a
    failure for one that claims it."""
    import numpy as np

    want = {"y": np.array([1.0, 2.0])}
    near = {"y": np.array([1.0, 2.0]) * (1 + 1e-7)}
    assert onnx_scoreboard._verdict(want, near, {"float16"}) == "pass"
    assert onnx_scoreboard._verdict(want, near, {"float64-precision"}) == "fail"


def test_a_machine_without_openvino_runs_the_other_runtimes() -> None:
    """With ``openvino`` not importable, the script still runs and leaves that runtime out."""
    import subprocess

    script = Path(onnx_scoreboard.__file__)
    blocked = (
        "import runpy, sys; sys.modules['openvino'] = None; "
        f"sys.argv = [{str(script)!r}, '--case', 'test_operator_exp']; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].endswith("; 1 cases")
    assert "openvino: left out, its engine is not installed" in lines
    rows = {line.split()[0] for line in lines[2:]}
    assert "openvino" not in rows and {"onnxruntime", "reference", "raw"} <= rows
