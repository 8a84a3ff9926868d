"""PyTorch exporter cases the framework-generic ones do not cover (spec: exporter.md EXP-040
and following): a dict sample feeds keyword inputs named by its keys, the batch dimension is
really dynamic (the artifact predicts a batch of another size than the sample's), and
data-dependent control flow is refused with the module's class and the exporter's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import interlock
from interlock import ExportError, Exporter

from interlock_conformance.markers import capability, component_kind, requirement
from interlock_conformance.samples import ExportSample, samples_for

pytestmark = component_kind("exporter")

_PYTORCH = "framework:pytorch"


def _sample(name: str) -> ExportSample:
    return {sample.name: sample for sample in samples_for("pytorch")}[name]


def _column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.flatten()).reshape(len(column), -1)
    return np.asarray(column)


@requirement("EXP-040")
@capability(_PYTORCH)
def test_dict_sample_feeds_named_inputs(component: Exporter, tmp_path: Path) -> None:
    """A dict of tensors gives one input per key, in the dict's order, bound to a column of
    its name; the module is called with keyword arguments."""
    import torch

    sample = _sample("two-inputs")
    x = torch.from_numpy(sample.matrix).float()
    feeds = {"wide": x[:, 2:], "dense": x[:, :3]}
    artifact = interlock.export(sample.model, feeds, name="dict", store=str(tmp_path),
                                exporter=component.name)
    assert [s.name for s in artifact.signature.inputs] == ["wide", "dense"]
    assert [(b.tensor, b.columns) for b in artifact.columns.inputs] == [
        ("wide", ["wide"]), ("dense", ["dense"])]
    table = pa.table({name: pa.FixedSizeListArray.from_arrays(
        pa.array(value.numpy().reshape(-1)), value.shape[1]) for name, value in feeds.items()})
    result = interlock.load_predictor(artifact).predict(table)
    assert np.allclose(_column(result, "score"), sample.expected["score"], rtol=1e-4, atol=1e-5)


@requirement("EXP-041", "EXP-030")
@capability(_PYTORCH)
def test_batch_dimension_is_really_dynamic(component: Exporter, tmp_path: Path) -> None:
    """Exported on a 40-row sample, the artifact predicts 7 and 101 rows as the module does."""
    import torch

    sample = _sample("regressor")
    artifact = interlock.export(sample.model, sample.table, name="batch", store=str(tmp_path),
                                exporter=component.name)
    assert isinstance(artifact.signature.inputs[0].shape[0], str)
    rng = np.random.default_rng(7)
    for rows in (7, 101):
        x = rng.standard_normal((rows, sample.matrix.shape[1]))
        table = pa.table({f"f{i}": x[:, i] for i in range(x.shape[1])})
        with torch.no_grad():
            want = sample.model(torch.from_numpy(x).float()).numpy()
        got = _column(interlock.load_predictor(artifact).predict(table), "output")
        assert got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-5), rows


@requirement("EXP-046", "EXP-009")
@capability(_PYTORCH)
def test_data_dependent_control_flow_is_refused(component: Exporter, tmp_path: Path) -> None:
    """A forward that branches on a tensor's values raises one ExportError naming the module
    class and the exporter's reason, with a hint; nothing is saved."""
    import torch

    class ValueBranch(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            if x.sum() > 0:
                return x * 2
            return -x

    store = tmp_path / "store"
    with pytest.raises(ExportError) as caught:
        interlock.export(ValueBranch(), torch.randn(4, 3), name="branch", store=str(store),
                         exporter=component.name)
    assert "ValueBranch" in str(caught.value) and caught.value.hint, str(caught.value)
    assert "\n" not in str(caught.value), "the message carries a traceback"
    assert interlock.open_store(str(store)).names() == []


def _vectors(matrix: np.ndarray, **spans: tuple[int, int]) -> pa.Table:
    """float64 fixed-size-list columns, each of the matrix's columns ``start:stop``."""
    return pa.table({name: pa.FixedSizeListArray.from_arrays(
        pa.array(np.ascontiguousarray(matrix[:, a:b]).reshape(-1)), b - a)
        for name, (a, b) in spans.items()})


@requirement("EXP-042")
@capability(_PYTORCH)
def test_arrow_samples_feed_inputs_by_the_column_rules(component: Exporter,
                                                       tmp_path: Path) -> None:
    """float64 scalar columns feed one float64 ``input`` cast inside the graph; several
    vector columns feed one input each, named after the column, in column order; the
    ``input_columns`` option decides instead when given. Predictions are the module's."""
    single = _sample("regressor")
    table = pa.table({f"f{i}": single.matrix[:, i] for i in range(single.matrix.shape[1])})
    artifact = interlock.export(single.model, table, name="scalars", store=str(tmp_path),
                                exporter=component.name)
    bound = [(b.tensor, b.columns) for b in artifact.columns.inputs]
    assert bound == [("input", list(table.column_names))], (
        f"an Arrow sample of {table.num_columns} float64 columns was bound as {bound}; "
        "exporter.md EXP-042 (EXP-031): one input 'input' gathering the columns in order")
    dtype = artifact.signature.inputs[0].dtype
    assert dtype == "float64", (
        f"the input of float64 columns is {dtype}; EXP-042: inputs keep the columns' element "
        "type and are cast inside the graph to the module's parameter dtype")
    got = _column(interlock.load_predictor(artifact).predict(table), "output")
    assert np.allclose(got.reshape(-1), np.asarray(single.expected["output"]).reshape(-1),
                       rtol=1e-4, atol=1e-5), "the float64 columns' predictions differ"
    two = _sample("two-inputs")
    vectors = _vectors(two.matrix, dense=(0, 3), wide=(2, 4))
    artifact = interlock.export(two.model, vectors, name="vectors", store=str(tmp_path),
                                exporter=component.name)
    bound = [(b.tensor, b.columns) for b in artifact.columns.inputs]
    assert bound == [("dense", ["dense"]), ("wide", ["wide"])], (
        f"two vector columns 'dense', 'wide' were bound as {bound}; EXP-042: one input each, "
        "named after the column, in column order")
    got = _column(interlock.load_predictor(artifact).predict(vectors), "score")
    assert np.allclose(got.reshape(-1), np.asarray(two.expected["score"]).reshape(-1),
                       rtol=1e-4, atol=1e-5), "the vector columns' predictions differ"
    scalars = pa.table({f"f{i}": two.matrix[:, i] for i in range(4)})
    chosen = interlock.export(two.model, scalars, name="chosen", store=str(tmp_path),
                              exporter=component.name, options={
                                  "input_columns": {"dense": ["f0", "f1", "f2"],
                                                    "wide": ["f2", "f3"]}})
    bound = [(b.tensor, b.columns) for b in chosen.columns.inputs]
    assert bound == [("dense", ["f0", "f1", "f2"]), ("wide", ["f2", "f3"])], (
        f"input_columns {{'dense': [f0, f1, f2], 'wide': [f2, f3]}} gave {bound}; EXP-042: "
        "the option decides when given")
    got = _column(interlock.load_predictor(chosen).predict(scalars), "score")
    assert np.allclose(got.reshape(-1), np.asarray(two.expected["score"]).reshape(-1),
                       rtol=1e-4, atol=1e-5), "the chosen columns' predictions differ"
