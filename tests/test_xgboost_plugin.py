"""The xgboost exporter (plugins/interlock_xgboost): real XGBoost models trained here, exported,
and predicted by onnxruntime and the reference runtime like XGBoost predicts them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost

import interlock
from interlock import ExportError
from interlock_conformance import requirement
from interlock_xgboost.exporter import XGBoostExporter

RNG = np.random.default_rng(7)
X = RNG.standard_normal((50, 4))
TABLE = pa.table({f"f{i}": X[:, i] for i in range(4)})
BINARY = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
THREE = BINARY + (X[:, 2] > 0.5).astype(np.int64)
TARGET = X @ np.array([1.0, -2.0, 0.5, 3.0])


def _models() -> dict[str, tuple[Any, dict[str, np.ndarray]]]:
    binary = xgboost.XGBClassifier(n_estimators=6, max_depth=3).fit(X, BINARY)
    multi = xgboost.train({"objective": "multi:softprob", "num_class": 3},
                          xgboost.DMatrix(X, label=THREE), num_boost_round=6)
    p = multi.predict(xgboost.DMatrix(X))
    regressor = xgboost.XGBRegressor(n_estimators=6).fit(X, TARGET)
    native = xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(X, label=TARGET), 6)
    return {
        "wrapper-binary": (binary, {"label": binary.predict(X),
                                    "probabilities": binary.predict_proba(X)}),
        "booster-multiclass": (multi, {"label": np.argmax(p, axis=1), "probabilities": p}),
        "wrapper-regressor": (regressor, {"prediction": regressor.predict(X)}),
        "booster-regressor": (native, {"prediction": native.predict(xgboost.DMatrix(X))}),
    }


def _column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.flatten()).reshape(len(column), -1)
    return np.asarray(column)


@requirement("EXP-050")
@pytest.mark.parametrize("kind", ["wrapper-binary", "booster-multiclass", "wrapper-regressor",
                                  "booster-regressor"])
def test_export_predicts_like_xgboost_on_both_runtimes(kind: str, tmp_path: Path) -> None:
    model, expected = _models()[kind]
    artifact = interlock.export(model, TABLE, name=kind, store=str(tmp_path))
    meta = artifact.manifest.metadata["xgboost"]
    assert meta["version"] == xgboost.__version__ and meta["converter"].startswith("onnxmltools")
    assert meta["parity"]["rows"] == 50
    outputs = [(s.name, len(s.shape)) for s in artifact.signature.outputs]
    if "prediction" in expected:
        assert outputs == [("prediction", 1)]
    else:
        assert outputs == [("label", 1), ("probabilities", 2)]
        assert meta["classes"] == list(range(expected["probabilities"].shape[1]))
    for runtime in ("onnxruntime", "reference"):
        result = interlock.load_predictor(artifact, runtime=runtime).predict(TABLE)
        for name, want in expected.items():
            got = _column(result, name)
            if name == "label":
                assert np.array_equal(got, want.astype(np.int64)), (runtime, name)
            else:
                assert np.allclose(got, want, rtol=1e-4, atol=1e-5), (runtime, name)


def test_numpy_and_pandas_samples_and_feature_names() -> None:
    exporter = XGBoostExporter()
    model, _ = _models()["wrapper-regressor"]
    exported = exporter.export(model, X, {})
    assert [b.columns for b in exported.columns.inputs] == [["x0", "x1", "x2", "x3"]]
    frame = pd.DataFrame(X, columns=["w", "z", "a", "m"])
    named = xgboost.XGBRegressor(n_estimators=4).fit(frame, TARGET)
    shuffled = frame[["m", "a", "z", "w"]]
    exported = exporter.export(named, shuffled, {"input_name": "features", "batch_dim": "rows"})
    assert [(b.tensor, b.columns) for b in exported.columns.inputs] == [
        ("features", ["w", "z", "a", "m"])]
    assert exported.signature.inputs[0].shape == ["rows", 4]
    with pytest.raises(ExportError, match="'a'"):
        exporter.export(named, pa.Table.from_pandas(frame.drop(columns=["a"])), {})


def test_mixed_column_types_feed_one_input_each(tmp_path: Path) -> None:
    table = pa.table({"a": (X[:, 0] * 10).astype(np.int64), "b": X[:, 1].astype(np.float32),
                      "c": X[:, 2], "d": (X[:, 3] * 10).astype(np.int64)})
    matrix = np.stack([np.asarray(table.column(n)).astype(np.float64) for n in "abcd"], axis=1)
    model = xgboost.XGBRegressor(n_estimators=4).fit(matrix, TARGET)
    artifact = interlock.export(model, table, name="mixed", store=str(tmp_path))
    assert [b.tensor for b in artifact.columns.inputs] == ["input_int64", "input_float32",
                                                          "input_float64"]
    result = interlock.load_predictor(artifact, runtime="onnxruntime").predict(table)
    assert np.allclose(_column(result, "prediction"), model.predict(matrix), rtol=1e-4, atol=1e-5)


def test_bad_options_samples_and_models_are_refused() -> None:
    exporter = XGBoostExporter()
    model, _ = _models()["wrapper-binary"]
    with pytest.raises(ExportError, match="no_such"):
        exporter.export(model, TABLE, {"no_such": 1})
    with pytest.raises(ExportError, match="target_opset"):
        exporter.export(model, TABLE, {"target_opset": 3})
    with pytest.raises(ExportError, match="3 feature"):
        exporter.export(model, TABLE.select(["f0", "f1", "f2"]), {})
    with pytest.raises(ExportError, match="'name' \\(string\\)"):
        exporter.export(model, TABLE.append_column("name", pa.array(["x"] * 50)), {})
    with pytest.raises(ExportError, match="not fitted"):
        exporter.export(xgboost.XGBClassifier(), TABLE, {})


@requirement("EXP-051")
def test_a_parity_failure_is_refused_with_the_largest_difference(tmp_path: Path) -> None:
    # Targets of 1e6: float32 arithmetic in ONNX cannot match XGBoost to 1e-12 absolute.
    model = xgboost.XGBRegressor(n_estimators=4).fit(X, TARGET * 1e6 + 0.123)
    with pytest.raises(ExportError, match="differs by up to") as caught:
        interlock.export(model, TABLE, name="strict", store=str(tmp_path),
                         options={"parity_rtol": 0.0, "parity_atol": 0.0})
    assert "prediction" in str(caught.value)
    assert interlock.open_store(str(tmp_path)).names() == []


def test_can_export_claims_xgboost_types_only() -> None:
    exporter = XGBoostExporter()
    assert exporter.can_export(_models()["wrapper-binary"][0])
    imposter = type("XGBClassifier", (), {"__module__": "not_xgboost.sklearn"})()
    for thing in (None, 1.0, X, TABLE, imposter, pd.DataFrame(X)):
        assert exporter.can_export(thing) is False


def test_the_plugin_is_certified(tmp_path: Path) -> None:
    """`interlock certify interlock_xgboost`: every exporter case, the framework-generic ones on
    the suite's xgboost samples included, passes."""
    from interlock_conformance import certify

    report = certify("interlock_xgboost", tmp_path / "out")
    assert report.verdict == "certified", [(r.id, [f.message for f in r.failures])
                                           for r in report.failed()]
    ran = {c.id.split("[")[0].rsplit("::", 1)[-1] for c in report.cases if c.outcome == "passed"}
    assert "test_every_claimed_framework_predicts_like_the_framework" in ran, sorted(ran)
