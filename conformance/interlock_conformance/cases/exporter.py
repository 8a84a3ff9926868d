"""Exporter cases (spec: exporter.md): what any exporter owes (a name, a ``can_export`` that
never raises and refuses foreign objects, option checking), and, for each framework the suite
knows and the exporter claims (``framework:<name>``), sample models exported, checked, saved
with lineage and run by the installed runtimes against the framework's own predictions.

The sample models come from :mod:`interlock_conformance.samples`; for scikit-learn: a
classifier, a one- and a two-target regressor and a scaler, fitted on a fixed synthetic table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
import pytest

import interlock
from interlock import ExportedModel, ExportError, Exporter, InterlockError

from interlock_conformance.attribution import checking
from interlock_conformance.markers import capability, component_kind, requirement
from interlock_conformance.samples import ExportSample, samples_for
from interlock_conformance.samples.sklearn import FEATURES, ROWS

pytestmark = component_kind("exporter")

_ROWS, _FEATURES = ROWS, FEATURES
_SKLEARN = "framework:sklearn"


def _sklearn_samples() -> dict[str, ExportSample]:
    return {sample.name: sample for sample in samples_for("sklearn")}


def _runtimes() -> list[str]:
    names = [r.name for r in interlock.get_registry().all("runtime")]
    preferred = [n for n in ("onnxruntime", "reference") if n in names]
    return preferred or names


def _check_close(name: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> None:
    """The exported model's outputs are the framework's: EXP-010, whatever else the case
    checks."""
    with checking("EXP-010"):
        if want.dtype.kind in "iub":
            assert np.array_equal(got.astype(want.dtype), want), f"{name}: {got[:5]} != {want[:5]}"
        else:
            assert np.allclose(got, want, rtol=rtol, atol=atol), (
                f"{name}: the exported model differs from the framework beyond rtol={rtol}, "
                f"atol={atol}"
            )


def _column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.flatten()).reshape(len(column), -1)
    return np.asarray(column)


# -- any exporter ---------------------------------------------------------------------------------


@requirement("EXP-001", "PLG-011")
def test_exporter_is_named(component: Exporter) -> None:
    """An interlock.Exporter with a non-empty name."""
    assert isinstance(component, Exporter) and isinstance(component.name, str) and component.name


_FOREIGN: list[Any] = [None, 42, 1.5, "model", b"bytes", [1, 2], {"coef": [1.0]}, object(),
                       np.zeros((2, 2)), pa.table({"a": [1]}), len, ValueError("x"), type]


@requirement("EXP-002")
def test_can_export_refuses_foreign_objects(component: Exporter) -> None:
    """can_export returns False (a bool) for objects of no framework, without raising."""
    for thing in _FOREIGN:
        answer = component.can_export(thing)
        assert answer is False, f"can_export({thing!r}) returned {answer!r}, expected False"


@requirement("EXP-008")
def test_unknown_options_are_refused(component: Exporter, tmp_path: Path) -> None:
    """An unknown option raises ExportError naming it and listing the valid ones, before any
    work (even for a model the exporter cannot export)."""
    with pytest.raises(ExportError) as caught:
        component.export(object(), pa.table({"a": [1.0]}), {"interlock_no_such_option": 1})
    assert "interlock_no_such_option" in str(caught.value), str(caught.value)
    model = component.options_model
    if model is not None:
        listed = str(caught.value)
        assert any(option in listed for option in model.model_fields), (
            f"the error does not list the valid options: {listed}"
        )
        if "float_dtype" in model.model_fields:
            with pytest.raises(ExportError):
                component.export(object(), pa.table({"a": [1.0]}), {"float_dtype": "float16"})
        if "target_opset" in model.model_fields:
            model.model_validate({"target_opset": None})


# -- scikit-learn models ---------------------------------------------------------------------------


def _snapshot(model: Any) -> dict[str, bytes]:
    return {k: np.asarray(v).tobytes() for k, v in vars(model).items()
            if isinstance(v, np.ndarray)}


@requirement("EXP-002", "EXP-003", "EXP-004", "EXP-005", "EXP-006", "EXP-007")
@capability(_SKLEARN, "sample:arrow")
@pytest.mark.parametrize("sample_name", ["classifier", "regressor", "two-targets", "scaler"])
def test_export_returns_a_checked_model(
    component: Exporter, sample_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """can_export claims the model; export returns a model passing the full ONNX check, a
    signature of the graph's dense tensors, columns binding each tensor once and JSON
    metadata, without changing the model or writing a file."""
    sample = _sklearn_samples()[sample_name]
    before = _snapshot(sample.model)
    assert component.can_export(sample.model) is True, f"can_export refuses a {sample_name}"
    monkeypatch.chdir(tmp_path)
    exported = component.export(sample.model, sample.table, {})
    assert isinstance(exported, ExportedModel), f"export returned {type(exported).__name__}"
    onnx.checker.check_model(exported.model, full_check=True)
    graph = exported.model.graph
    initializers = {t.name for t in graph.initializer}
    declared = [i.name for i in graph.input if i.name not in initializers]
    assert [s.name for s in exported.signature.inputs] == declared
    assert [s.name for s in exported.signature.outputs] == [o.name for o in graph.output]
    exported.columns.check_against(exported.signature)
    json.dumps(exported.metadata)
    assert _snapshot(sample.model) == before, "export changed the model"
    assert not os.listdir(tmp_path), f"export wrote {os.listdir(tmp_path)}"


@requirement("EXP-010", "EXP-025", "EXP-026", "EXP-027", "EXP-030", "EXP-031", "EXP-036",
             "EXP-037", "EXP-038")
@capability(_SKLEARN, "sample:arrow")
@pytest.mark.parametrize("sample_name", ["classifier", "regressor", "two-targets", "scaler"])
def test_exported_artifact_predicts_like_the_framework(
    component: Exporter, sample_name: str, tmp_path: Path
) -> None:
    """interlock.export saves an artifact with lineage and merged metadata whose inputs are
    [B, k] of the columns' type and whose outputs every runtime computes as the framework
    does, bound to the spec's column names."""
    sample = _sklearn_samples()[sample_name]
    training = interlock.write_dataset(sample.table, str(tmp_path / "train.parquet"))
    artifact = interlock.export(
        sample.model, sample.table, name=sample_name, version="1", store=str(tmp_path / "store"),
        dataset=training, metadata={"owner": "conformance"}, exporter=component.name,
    )
    lineage = [(e.uri, e.fingerprint, e.role) for e in artifact.manifest.lineage]
    assert lineage == [(training.uri, training.fingerprint(), "training")], lineage
    assert artifact.manifest.metadata.get("owner") == "conformance"
    batch_dims: set[object] = set()
    for spec in artifact.signature.inputs:
        assert len(spec.shape) == 2 and isinstance(spec.shape[0], str), spec.describe()
        assert spec.dtype == "float64", f"input {spec.name} is {spec.dtype}, the columns float64"
        batch_dims.add(spec.shape[0])
    for spec in artifact.signature.outputs:
        batch_dims.add(spec.shape[0] if spec.shape else None)
    assert len(batch_dims) == 1, (
        f"inputs and outputs do not share one batch dimension: {batch_dims}"
    )
    bound = [(b.tensor, b.column) for b in artifact.columns.outputs]
    assert all(tensor == column for tensor, column in bound), bound
    if sample_name == "classifier":
        assert [s.name for s in artifact.signature.outputs] == ["label", "probabilities"]
        label, probabilities = artifact.signature.outputs
        assert len(label.shape) == 1 and label.dtype == "int64", label.describe()
        assert len(probabilities.shape) == 2, probabilities.describe()
    elif sample_name != "scaler":
        width = sample.expected["prediction"].ndim
        ranks = [(s.name, len(s.shape)) for s in artifact.signature.outputs]
        assert ranks == [("prediction", width)], ranks
    for runtime in _runtimes():
        result = interlock.load_predictor(artifact, runtime=runtime).predict(sample.table)
        expected = dict(sample.expected)
        if sample_name == "scaler":
            expected = {artifact.columns.outputs[0].column: sample.model.transform(sample.matrix)}
        for name, want in expected.items():
            _check_close(f"{name} on {runtime}", _column(result, name), want, 1e-4, 1e-5)


@requirement("EXP-031")
@capability(_SKLEARN, "sample:arrow")
def test_columns_of_several_types_feed_one_input_each(component: Exporter, tmp_path: Path) -> None:
    """int64, float32 and float64 columns give input_int64, input_float32, input_float64 in
    order of first appearance, and the dataset predicts without a cast."""
    sample = _sklearn_samples()["regressor"]
    x = sample.matrix
    table = pa.table({"a": pa.array(np.round(x[:, 0] * 10).astype(np.int64)),
                      "b": pa.array(x[:, 1].astype(np.float32)), "c": pa.array(x[:, 2]),
                      "d": pa.array(np.round(x[:, 3] * 10).astype(np.int64))})
    matrix = np.stack([table.column(n).to_numpy().astype(np.float64) for n in "abcd"], axis=1)
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(matrix, matrix @ np.array([0.5, -1.0, 2.0, 0.25]))
    artifact = interlock.export(model, table, name="mixed", store=str(tmp_path),
                                exporter=component.name)
    layout = [(b.tensor, b.columns) for b in artifact.columns.inputs]
    assert layout == [("input_int64", ["a", "d"]), ("input_float32", ["b"]),
                      ("input_float64", ["c"])], layout
    dtypes = [s.dtype for s in artifact.signature.inputs]
    assert dtypes == ["int64", "float32", "float64"], dtypes
    result = interlock.load_predictor(artifact, runtime=_runtimes()[0]).predict(table)
    _check_close("prediction", _column(result, "prediction"), model.predict(matrix), 1e-4, 1e-5)


@requirement("EXP-032")
@capability(_SKLEARN, "sample:arrow")
def test_a_vector_column_feeds_one_input(component: Exporter, tmp_path: Path) -> None:
    """A sample whose only column is fixed_size_list<double, 4> gives one input [B, 4]."""
    sample = _sklearn_samples()["regressor"]
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(sample.matrix.reshape(-1)), _FEATURES)
    table = pa.table({"features": vectors})
    artifact = interlock.export(sample.model, table, name="vec", store=str(tmp_path),
                                exporter=component.name)
    assert [(b.tensor, b.columns) for b in artifact.columns.inputs] == [("input", ["features"])]
    spec = artifact.signature.inputs[0]
    assert spec.dtype == "float64" and spec.shape[1] == _FEATURES, spec.describe()
    result = interlock.load_predictor(artifact, runtime=_runtimes()[0]).predict(table)
    _check_close("prediction", _column(result, "prediction"), sample.expected["prediction"],
                 1e-4, 1e-5)


@requirement("EXP-033")
@capability(_SKLEARN, "sample:numpy")
def test_numpy_samples_name_columns_x0_to_xk(component: Exporter) -> None:
    """A 2-D array gives columns x0..x3 of its dtype; other shapes and dtypes are refused."""
    sample = _sklearn_samples()["regressor"]
    exported = component.export(sample.model, sample.matrix, {})
    assert [b.columns for b in exported.columns.inputs] == [["x0", "x1", "x2", "x3"]]
    assert exported.signature.inputs[0].dtype == "float64"
    for bad, words in ((sample.matrix[:, 0], "1"), (sample.matrix.astype(str), "<U")):
        with pytest.raises(ExportError) as caught:
            component.export(sample.model, bad, {})
        assert words in str(caught.value), str(caught.value)


@requirement("EXP-034")
@capability(_SKLEARN, "sample:pandas")
def test_fitted_feature_names_are_the_columns(component: Exporter) -> None:
    """A model fitted on named columns reads those columns, in that order, whatever the
    sample; an Arrow sample lacking one is refused naming it."""
    import importlib

    from sklearn.linear_model import LinearRegression

    pd: Any = importlib.import_module("pandas")

    sample = _sklearn_samples()["regressor"]
    frame = pd.DataFrame(sample.matrix, columns=["w", "z", "a", "m"])
    model = LinearRegression().fit(frame, sample.expected["prediction"])
    shuffled = pa.table({"m": frame["m"], "a": frame["a"], "extra": frame["w"], "z": frame["z"],
                         "w": frame["w"]})
    exported = component.export(model, shuffled, {})
    assert [b.columns for b in exported.columns.inputs] == [["w", "z", "a", "m"]]
    with pytest.raises(ExportError) as caught:
        component.export(model, shuffled.drop_columns(["a"]), {})
    assert "'a'" in str(caught.value) or " a" in str(caught.value), str(caught.value)


@requirement("EXP-035", "EXP-009")
@capability(_SKLEARN, "sample:arrow")
def test_unusable_samples_and_models_are_refused(component: Exporter, tmp_path: Path) -> None:
    """A text column, a sample of the wrong width and an unfitted model raise ExportError
    naming the column, both widths or the class, with a hint; nothing is saved."""
    from sklearn.linear_model import LogisticRegression

    sample = _sklearn_samples()["regressor"]
    text = sample.table.append_column("name", pa.array(["r"] * _ROWS))
    with pytest.raises(ExportError) as caught:
        component.export(sample.model, text, {})
    assert "name" in str(caught.value) and "string" in str(caught.value), str(caught.value)
    with pytest.raises(ExportError) as caught:
        component.export(sample.model, sample.table.select(["f0", "f1", "f2"]), {})
    assert "3" in str(caught.value) and "4" in str(caught.value), str(caught.value)
    store = tmp_path / "store"
    with pytest.raises(ExportError) as caught:
        interlock.export(LogisticRegression(), sample.table, name="unfitted", store=str(store),
                         exporter=component.name)
    assert "LogisticRegression" in str(caught.value) and caught.value.hint, str(caught.value)
    assert interlock.open_store(str(store)).names() == [], "a failed export saved something"


@requirement("EXP-010", "EXP-008")
@capability(_SKLEARN, "sample:arrow", "float64")
def test_float64_computes_in_double_precision(component: Exporter, tmp_path: Path) -> None:
    """float_dtype='float64' gives the framework's predictions within 1e-9."""
    sample = _sklearn_samples()["regressor"]
    artifact = interlock.export(sample.model, sample.table, name="f64", store=str(tmp_path),
                                exporter=component.name, options={"float_dtype": "float64"})
    for runtime in _runtimes():
        result = interlock.load_predictor(artifact, runtime=runtime).predict(sample.table)
        _check_close(f"prediction on {runtime}", _column(result, "prediction"),
                     sample.expected["prediction"], 1e-9, 1e-9)


@requirement("EXP-002", "EXP-021")
@capability(_SKLEARN)
def test_can_export_needs_no_import(component: Exporter) -> None:
    """can_export answers from the type: a look-alike class from another module is refused
    and a scikit-learn model is claimed, with no error either way."""
    sample = _sklearn_samples()["classifier"]
    imposter = type("LogisticRegression", (), {"__module__": "not_sklearn.linear_model"})()
    with checking("EXP-002"):
        assert component.can_export(imposter) is False, "can_export claims a look-alike class"
        assert component.can_export(sample.model) is True
    with checking("EXP-021"), pytest.raises(InterlockError):
        interlock.export(imposter, sample.table, name="x", store=None)
