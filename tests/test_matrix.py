"""The interop matrix (conformance.md CONF-050 to CONF-058): the reference plugins work with
each other in every cell, and broken plugins installed beside them fail exactly their own cells,
naming the requirement they break, while the cells of everything else still pass."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributions import BROKEN_PLUGINS, install, run_cli

import interlock
from interlock_conformance import requirement
from interlock_conformance.matrix import (
    MATRIX_FILES,
    SECTIONS,
    MatrixResult,
    read_matrix,
    run_matrix,
)

#: Broken plugins installed together beside the reference ones (each its own distribution).
INSTALLED_BROKEN = [
    "broken_nulls",  # format "nulldrop": DS-071
    "broken_runtime_dtype",  # runtime "upcasting": RT-020
    "broken_runtime_precision",  # runtime "halfprecision": RT-060
    "broken_rest_binary",  # server "rest-big-endian": SRV-086
    "broken_grpc_contents",  # server "grpc-typed-replies": SRV-101
    "broken_executor_rows",  # executor "fullbatches": BAT-020
    "broken_text_engine",  # text engine "forgetful": TXT-071
    "broken_hook_name",  # does not load at all
]


#: Plugins left out of the broken run, to keep it short.
_OTHER_VENDORS = ["interlock_dask", "interlock_ray", "interlock_mlflow", "interlock_delta",
                  "interlock_triton", "interlock_pytorch", "interlock_xgboost",
                  "interlock_lightgbm", "interlock_openvino", "interlock_genai"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MatrixResult, Path]]:
    """The matrix of the reference plugins alone, run in this process and written out."""
    out = tmp_path_factory.mktemp("matrix") / "out"
    home = tmp_path_factory.mktemp("matrix-home")
    with pytest.MonkeyPatch.context() as patch:
        for variable in [v for v in os.environ if v.startswith("INTERLOCK_")]:
            patch.delenv(variable)
        patch.setenv("INTERLOCK_STORE", str(home / "store"))
        patch.setenv("INTERLOCK_CACHE_DIR", str(home / "cache"))
        interlock.reset_registry()
        try:
            lines: list[str] = []
            result = run_matrix(out, say=lines.append)
        finally:
            interlock.reset_registry()
    assert [line.split(":")[0] for line in lines] == list(SECTIONS), "progress per section"
    yield result, out


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, MatrixResult, str, Path]:
    """``interlock matrix --json`` with :data:`INSTALLED_BROKEN` installed."""
    root = tmp_path_factory.mktemp("broken-matrix")
    for name in INSTALLED_BROKEN:
        install(BROKEN_PLUGINS / name, root / "site")
    # The broken plugins are checked against interlock's own components; the other vendors'
    # bricks (engines, registries, frameworks) have their cells in the reference run.
    done = run_cli(["matrix", "--json", "--output", "out"], cwd=root, sites=[root / "site"],
                   env={"INTERLOCK_BLOCK_PLUGINS": ",".join(_OTHER_VENDORS)})
    assert done.stdout.lstrip().startswith("{"), done.stdout[-2000:] + done.stderr[-2000:]
    result = MatrixResult.model_validate_json(done.stdout)
    return done.returncode, result, done.stderr, root / "out"


@requirement("CONF-050", "CONF-051", "CONF-052", "CONF-053", "CONF-054", "CONF-055", "CONF-056")
def test_the_reference_plugins_pass_every_cell(reference: tuple[MatrixResult, Path]) -> None:
    result, _ = reference
    bad = [(c.row, c.column, c.failed_requirement, c.message) for c in result.failed_cells()]
    assert result.passed and not bad and not result.problems, bad
    assert [s.name for s in result.sections] == list(SECTIONS)
    for section in result.sections:
        assert len(section.cells) == len(section.rows) * len(section.columns), section.name
        assert section.requirement == SECTIONS[section.name]
    plugins = {(c.kind, c.name): c.plugin for c in result.components}
    assert plugins[("runtime", "reference")] == "interlock_reference"
    assert plugins[("server", "grpc")] == "interlock_grpc"
    assert result.duration_s < 90


@requirement("CONF-051")
def test_every_format_rewrites_every_other(reference: tuple[MatrixResult, Path]) -> None:
    datasets = reference[0].section("datasets")
    assert {"arrow", "csv", "parquet", "jsonl"} <= set(datasets.rows)
    for first in ("arrow", "parquet", "csv"):
        for second in ("arrow", "parquet", "csv"):
            cell = datasets.cell(first, second)
            assert cell.status == "passed", (first, second, cell.message)
    assert len(datasets.cell("parquet", "arrow").checked) == 13, "every golden dataset"
    assert "nested" not in datasets.cell("parquet", "csv").checked, "csv claims no nested types"
    read_only = datasets.cell("jsonl", "arrow")
    assert read_only.status == "not applicable" and "jsonl does not claim write" in (
        read_only.message or ""
    )


@requirement("CONF-052", "CONF-053", "RT-061")
def test_stores_and_runtimes_run_every_golden_model(reference: tuple[MatrixResult, Path]) -> None:
    result = reference[0]
    stores = result.section("stores")
    assert len(stores.cell("fsspec", "onnxruntime").checked) == len(
        stores.cell("fsspec", "reference").checked
    ) >= 25
    runtimes = result.section("runtimes")
    versus_reference = runtimes.cell("onnxruntime", "reference")
    assert versus_reference.status == "passed" and "RT-061" in versus_reference.requirements
    assert "string-tensors" not in versus_reference.checked
    assert {"identity_string", "add_float16", "mlp_float32"} <= set(versus_reference.checked)
    assert "RT-061" not in runtimes.cell("reference", "onnxruntime").requirements


@requirement("CONF-054", "CONF-055", "CONF-056")
def test_exporters_servers_and_executors_with_every_runtime(
    reference: tuple[MatrixResult, Path],
) -> None:
    result = reference[0]
    exported = result.section("exporters").cell("sklearn", "reference")
    assert exported.checked == ["sklearn-classifier", "sklearn-regressor", "sklearn-two-targets"]
    servers = result.section("servers")
    rest = servers.cell("rest", "onnxruntime").checked
    assert "mlp_float32 (binary)" in rest and "mlp_float32 (JSON)" in rest
    assert "identity_float32 (binary)" in rest and "identity_float32 (JSON)" not in rest, (
        "non-finite inputs cannot travel as JSON"
    )
    assert "identity_string" in servers.cell("grpc", "reference").checked
    assert result.section("executors").cell("local", "reference").status == "passed"


@requirement("CONF-058", "TXT-071")
def test_every_text_engine_answers_as_interlocks_own_loop_on_every_runtime(
    reference: tuple[MatrixResult, Path],
) -> None:
    text = reference[0].section("text")
    assert text.rows == ["onnxruntime-genai"] and {"onnxruntime", "reference"} <= set(
        text.columns)
    for runtime in text.columns:
        cell = text.cell("onnxruntime-genai", runtime)
        assert cell.status == "passed" and cell.checked, (runtime, cell.message)


@requirement("CONF-057")
def test_the_matrix_is_written_as_json_and_markdown(reference: tuple[MatrixResult, Path]) -> None:
    result, out = reference
    assert sorted(p.name for p in out.iterdir()) == sorted(MATRIX_FILES), "no temporary files left"
    assert read_matrix(out / "matrix.json") == result
    markdown = (out / "matrix.md").read_text(encoding="utf-8")
    assert "**Verdict: PASSED**" in markdown
    assert "| runtime \\ runtime | onnxruntime | openvino | reference |" in markdown
    assert "| onnxruntime | pass (26) | pass (21) | pass (26) |" in markdown
    assert "| jsonl | n/a | n/a | n/a | n/a |" in markdown
    assert "- **jsonl × arrow** (n/a): jsonl does not claim write" in markdown


@requirement("CONF-050", "CONF-051")
def test_a_format_that_drops_nulls_fails_its_row_and_column(
    broken: tuple[int, MatrixResult, str, Path],
) -> None:
    _, result, _, _ = broken
    datasets = result.section("datasets")
    for cell in (datasets.cell("nulldrop", "arrow"), datasets.cell("parquet", "nulldrop")):
        assert cell.status == "failed" and cell.failed_requirement == "DS-071", cell
        assert "read back False, written None" in (cell.message or "")
    assert datasets.cell("arrow", "parquet").status == "passed"
    assert datasets.cell("csv", "arrow").status == "passed"
    owners = {(c.kind, c.name): c.plugin for c in result.components}
    assert owners[("dataset_format", "nulldrop")] == "broken_nulls"


@requirement("CONF-050", "CONF-052", "CONF-053", "RT-061")
def test_broken_runtimes_fail_their_cells_only(broken: tuple[int, MatrixResult, str, Path]) -> None:
    _, result, _, _ = broken
    runtimes = result.section("runtimes")
    wrong_dtype = runtimes.cell("upcasting", "reference")
    assert wrong_dtype.failed_requirement == "RT-020"
    declared = "as float64[2,3], but the signature declares float32[batch,3]"
    assert declared in (wrong_dtype.message or "")
    imprecise = runtimes.cell("halfprecision", "reference")
    assert imprecise.failed_requirement == "RT-060", imprecise
    assert "halfprecision disagrees with reference" in (imprecise.message or "")
    assert runtimes.cell("halfprecision", "halfprecision").failed_requirement == "CONF-043"
    assert runtimes.cell("onnxruntime", "reference").status == "passed"
    assert runtimes.cell("reference", "onnxruntime").status == "passed"
    stores = result.section("stores")
    assert stores.cell("fsspec", "upcasting").failed_requirement == "RT-020"
    assert stores.cell("fsspec", "halfprecision").failed_requirement == "CONF-043"
    assert stores.cell("fsspec", "onnxruntime").status == "passed"
    exporters = result.section("exporters")
    assert exporters.cell("sklearn", "upcasting").failed_requirement == "RT-020"
    assert exporters.cell("sklearn", "reference").status == "passed"


@requirement("CONF-050", "CONF-055")
def test_broken_servers_fail_with_the_standard_clients(
    broken: tuple[int, MatrixResult, str, Path],
) -> None:
    _, result, _, _ = broken
    servers = result.section("servers")
    big_endian = servers.cell("rest-big-endian", "onnxruntime")
    assert big_endian.failed_requirement == "SRV-086"
    assert "(binary tensors)" in (big_endian.message or "")
    typed = servers.cell("grpc-typed-replies", "reference")
    assert typed.failed_requirement == "SRV-101", typed
    for server in ("rest", "grpc"):
        for runtime in ("onnxruntime", "reference"):
            assert servers.cell(server, runtime).status == "passed", (server, runtime)
    assert servers.cell("rest", "upcasting").failed_requirement == "RT-020"


@requirement("CONF-050", "CONF-056")
def test_an_executor_that_drops_rows_fails(broken: tuple[int, MatrixResult, str, Path]) -> None:
    _, result, _, _ = broken
    executors = result.section("executors")
    dropped = executors.cell("fullbatches", "onnxruntime")
    assert dropped.failed_requirement == "BAT-020"
    assert dropped.message == "48 rows were written for 50 input rows"
    assert executors.cell("local", "onnxruntime").status == "passed"


@requirement("CONF-050", "CONF-058")
def test_a_text_engine_that_drops_its_cache_fails(
    broken: tuple[int, MatrixResult, str, Path],
) -> None:
    _, result, _, _ = broken
    text = result.section("text")
    assert text.rows == ["forgetful"]  # onnxruntime-genai is another vendor's: blocked here
    for runtime in ("onnxruntime", "reference"):
        cell = text.cell("forgetful", runtime)
        assert cell.failed_requirement == "TXT-071", cell
        assert "forgetful answered" in (cell.message or "")


@requirement("CONF-050", "CONF-057")
def test_the_command_exits_non_zero_and_reports_plugin_problems(
    broken: tuple[int, MatrixResult, str, Path],
) -> None:
    status, result, _, out = broken
    assert status == 1 and not result.passed
    assert any(
        "broken_hook_name" in p and "interlock_dataset_format" in p for p in result.problems
    ), result.problems
    markdown = (out / "matrix.md").read_text(encoding="utf-8")
    assert "**Verdict: FAILED (" in markdown and "## Problems" in markdown
    assert "- **nulldrop × arrow** (failed DS-071):" in markdown
    assert json.loads((out / "matrix.json").read_text(encoding="utf-8"))["sections"]


@requirement("CONF-057")
def test_the_command_prints_the_tables(tmp_path: Path) -> None:
    done = run_cli(["matrix", "--section", "runtimes", "--output", "out"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "runtime \\ runtime  onnxruntime  openvino   reference" in done.stdout
    assert "matrix: PASSED" in done.stdout
    assert "running runtimes:" in done.stderr
    assert read_matrix(tmp_path / "out" / "matrix.json").section("runtimes").cells
    refused = run_cli(["matrix", "--section", "nope"], cwd=tmp_path)
    assert refused.returncode == 1
    assert "unknown matrix section(s): nope" in refused.stderr and "datasets" in refused.stderr


def test_an_unknown_section_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(interlock.InterlockError) as caught:
        run_matrix(tmp_path / "out", sections=["datasets", "everything"])
    assert "everything" in str(caught.value) and caught.value.hint
    assert not (tmp_path / "out").exists()
