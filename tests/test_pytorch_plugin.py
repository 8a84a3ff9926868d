"""The ``pytorch`` exporter (plugins/interlock_pytorch) on tiny modules built here, with real
torch, onnxruntime and the reference runtime (spec: exporter.md EXP-040 and following)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

import interlock
from interlock import ExportError
from interlock.exporters import export_model
from interlock_conformance import requirement

torch.manual_seed(0)


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(3, 2)
        self.wide = torch.nn.Linear(2, 2)

    def forward(self, dense: torch.Tensor, wide: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"score": self.dense(dense) + self.wide(wide)}


class Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent: torch.export cannot capture it
            return x * 2
        return x


class Sneaky(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting():
            return x + 1.0
        return x


def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(8, 1))


def _x(rows: int = 6) -> torch.Tensor:
    return torch.randn(rows, 4)


def _predict(artifact: Any, runtime: str, data: Any) -> pa.RecordBatch:
    return interlock.load_predictor(artifact, runtime=runtime).predict(data)


def _column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.flatten()).reshape(len(column), -1)
    return np.asarray(column)


@requirement("EXP-002")
def test_claims_torch_modules_without_importing_torch() -> None:
    exporter = interlock.get_registry().get("exporter", "pytorch")
    assert exporter.can_export(_mlp()) is True
    assert exporter.can_export(type("Module", (), {"__module__": "not_torch.nn"})()) is False
    assert exporter.can_export(torch.zeros(2)) is False
    assert "framework:pytorch" in exporter.capabilities


@requirement("EXP-040", "EXP-041", "EXP-043")
def test_tensor_sample_predicts_any_batch_on_both_runtimes(tmp_path: Path) -> None:
    """EXP-040, EXP-041, EXP-043: a tensor sample, a dynamic batch, derived names."""
    module, x = _mlp(), _x()
    module.train()
    artifact = interlock.export(module, x, name="mlp", store=str(tmp_path))
    assert all(sub.training for sub in module.modules()), "export changed the module's mode"
    spec = artifact.signature.inputs[0]
    assert (spec.name, spec.dtype, spec.shape) == ("input", "float32", ["N", 4])
    assert [(s.name, s.shape) for s in artifact.signature.outputs] == [("output", ["N", 1])]
    assert artifact.columns.inputs[0].columns == ["input"]
    meta: Any = artifact.manifest.metadata["pytorch"]
    assert meta["version"] == torch.__version__ and meta["opset"] == 18
    assert meta["module"] == "torch.nn.modules.container.Sequential"
    bigger = torch.randn(11, 4)
    data = pa.table({"input": pa.FixedSizeListArray.from_arrays(
        pa.array(bigger.numpy().reshape(-1)), 4)})
    module.eval()
    with torch.no_grad():
        want = module(bigger).numpy()
    for runtime in ("onnxruntime", "reference"):
        got = _column(_predict(artifact, runtime, data), "output")
        assert got.shape == (11, 1) and np.allclose(got, want, rtol=1e-4, atol=1e-5), runtime


@requirement("EXP-040")
def test_tuple_and_dict_samples_name_inputs(tmp_path: Path) -> None:
    """EXP-040: tuple inputs take forward's parameter names, dict inputs the keys; dict
    outputs their keys."""
    module = TwoInputs()
    dense, wide = torch.randn(5, 3), torch.randn(5, 2)
    by_position = export_model(module, (dense, wide), exporter="pytorch")
    by_name = export_model(module, {"wide": wide, "dense": dense}, exporter="pytorch")
    assert [s.name for s in by_position.signature.inputs] == ["dense", "wide"]
    assert [s.name for s in by_name.signature.inputs] == ["wide", "dense"]
    assert [s.name for s in by_name.signature.outputs] == ["score"]
    named = export_model(module, (dense, wide), exporter="pytorch",
                         options={"input_names": ["a", "b"], "output_names": ["y"]})
    assert [s.name for s in named.signature.inputs] == ["a", "b"]
    assert [(b.tensor, b.columns) for b in named.columns.inputs] == [("a", ["a"]), ("b", ["b"])]
    assert [s.name for s in named.signature.outputs] == ["y"]
    with pytest.raises(ExportError, match="input_names lists 1"):
        export_model(module, (dense, wide), exporter="pytorch", options={"input_names": ["a"]})


@requirement("EXP-042")
def test_arrow_and_numpy_samples_follow_the_column_rules(tmp_path: Path) -> None:
    """EXP-042: float64 columns feed one float64 input cast inside the graph; a 2-D array
    gives x0..x3; several vector columns feed one input each; input_columns decides."""
    module = _mlp()
    x = np.random.default_rng(1).standard_normal((7, 4))
    table = pa.table({f"f{i}": x[:, i] for i in range(4)})
    artifact = interlock.export(module, table, name="table", store=str(tmp_path))
    assert [(b.tensor, b.columns) for b in artifact.columns.inputs] == [
        ("input", ["f0", "f1", "f2", "f3"])]
    assert artifact.signature.inputs[0].dtype == "float64"
    module.eval()
    with torch.no_grad():
        want = module(torch.from_numpy(x).float()).numpy()
    got = _column(_predict(artifact, "reference", table), "output")
    assert np.allclose(got, want, rtol=1e-4, atol=1e-5)
    exported = export_model(module, x, exporter="pytorch")
    assert exported.columns.inputs[0].columns == ["x0", "x1", "x2", "x3"]
    two = pa.table({"d": pa.FixedSizeListArray.from_arrays(pa.array(x[:, :3].reshape(-1)), 3),
                    "w": pa.FixedSizeListArray.from_arrays(pa.array(x[:, 2:].reshape(-1)), 2)})
    vectors = export_model(TwoInputs(), two, exporter="pytorch")
    assert [(b.tensor, b.columns) for b in vectors.columns.inputs] == [("d", ["d"]), ("w", ["w"])]
    chosen = export_model(TwoInputs(), table, exporter="pytorch", options={
        "input_columns": {"dense": ["f0", "f1", "f2"], "wide": ["f2", "f3"]}})
    assert [b.columns for b in chosen.columns.inputs] == [["f0", "f1", "f2"], ["f2", "f3"]]
    with pytest.raises(ExportError, match="'name'"):
        export_model(module, table.append_column("name", pa.array(["a"] * 7)),
                     exporter="pytorch")


@requirement("EXP-041")
def test_dynamic_axes_and_fixed_batch() -> None:
    """EXP-041: dynamic_axes adds symbolic dimensions; dynamic_batch=False fixes the batch."""
    module = torch.nn.Conv1d(2, 3, kernel_size=3, padding=1)
    sample = torch.randn(4, 2, 10)
    exported = export_model(module, sample, exporter="pytorch",
                            options={"dynamic_axes": {"input": {2: "T"}}})
    assert exported.signature.inputs[0].shape == ["N", 2, "T"]
    assert exported.signature.outputs[0].shape == ["N", 3, "T"]
    fixed = export_model(_mlp(), _x(), exporter="pytorch", options={"dynamic_batch": False})
    assert fixed.signature.inputs[0].shape == [6, 4]
    with pytest.raises(ExportError, match="at least 2 rows"):
        export_model(_mlp(), _x(1), exporter="pytorch")
    with pytest.raises(ExportError, match="dynamic_axes names"):
        export_model(_mlp(), _x(), exporter="pytorch", options={"dynamic_axes": {"z": {1: "K"}}})


@requirement("EXP-008", "EXP-044")
def test_opset_choice_and_bad_opset() -> None:
    """EXP-008, EXP-044: target_opset within 18..23; others refused naming the option."""
    exported = export_model(_mlp(), _x(), exporter="pytorch", options={"target_opset": 20})
    versions = {o.domain: o.version for o in exported.model.opset_import}
    assert versions[""] == 20 and exported.metadata["pytorch"]["opset"] == 20
    for bad in (11, 99, "new"):
        with pytest.raises(ExportError, match="target_opset"):
            export_model(_mlp(), _x(), exporter="pytorch", options={"target_opset": bad})


@requirement("EXP-045")
def test_parity_failure_is_refused_with_the_largest_difference(tmp_path: Path) -> None:
    """EXP-045: a graph that differs from the module is refused and nothing is saved."""
    store = tmp_path / "store"
    with pytest.raises(ExportError, match=r"differs by up to 1\b") as caught:
        interlock.export(Sneaky(), _x(), name="sneaky", store=str(store))
    assert "Sneaky" in str(caught.value)
    assert interlock.open_store(str(store)).names() == []


@requirement("EXP-046")
def test_control_flow_is_refused_with_the_module_and_reason() -> None:
    """EXP-046: torch's capture error becomes one ExportError naming the class."""
    with pytest.raises(ExportError) as caught:
        export_model(Branchy(), _x(), exporter="pytorch")
    message = str(caught.value)
    assert "Branchy" in message and "torch.onnx.export cannot capture" in message, message
    assert caught.value.__cause__ is None and "\n" not in message
    assert "torch.where" in (caught.value.hint or "")


@requirement("EXP-007", "EXP-047")
def test_export_writes_nothing_and_is_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EXP-007, EXP-047: nothing in the working directory; the same module gives the same
    bytes."""
    monkeypatch.chdir(tmp_path)
    module, x = _mlp(), _x()
    first = export_model(module, x, exporter="pytorch").model.SerializeToString()
    second = export_model(module, x, exporter="pytorch").model.SerializeToString()
    assert first == second
    assert os.listdir(tmp_path) == []


@requirement("EXP-008")
def test_unknown_option_and_non_module() -> None:
    with pytest.raises(ExportError, match="no_such"):
        export_model(_mlp(), _x(), exporter="pytorch", options={"no_such": 1})
    with pytest.raises(ExportError, match="not a torch.nn.Module"):
        export_model(object(), _x(), exporter="pytorch")
