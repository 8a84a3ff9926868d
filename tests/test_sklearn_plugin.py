"""The ``sklearn`` exporter: real scikit-learn models through skl2onnx, checked on both runtimes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import interlock
from interlock.exporters import export_model
from interlock_conformance import requirement

RUNTIMES = ("onnxruntime", "reference")
FEATURES = ["f0", "f1", "f2", "f3"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4))
    binary = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    three = np.digitize(x[:, 0] - x[:, 2], [-0.7, 0.7]).astype(np.int64)
    table = pa.table({name: x[:, i] for i, name in enumerate(FEATURES)})
    return x, binary, three, table


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def predict_all(artifact: interlock.Artifact, batch: pa.RecordBatch) -> dict[str, pa.RecordBatch]:
    """The predictions of every reference runtime on ``batch``."""
    return {
        runtime: interlock.load_predictor(artifact, runtime=runtime).predict(batch)
        for runtime in RUNTIMES
    }


def probabilities(column: pa.Array) -> np.ndarray:
    width = column.type.list_size
    return column.flatten().to_numpy().reshape(-1, width)


CLASSIFIERS: dict[str, Callable[[], Any]] = {
    "logistic-binary": lambda: LogisticRegression(),
    "logistic-multiclass": lambda: LogisticRegression(),
    "random-forest": lambda: RandomForestClassifier(n_estimators=12, max_depth=5, random_state=0),
    "pipeline-scaler-logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
}


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
def test_classifiers_predict_like_sklearn_on_both_runtimes(
    kind: str, data: tuple[Any, ...], store: str
) -> None:
    x, binary, three, table = data
    target = binary if kind == "logistic-binary" else three
    model = CLASSIFIERS[kind]().fit(x, target)

    artifact = interlock.export(model, table, name=kind, store=store)

    assert [b.model_dump() for b in artifact.columns.inputs] == [
        {"tensor": "input", "columns": FEATURES}
    ]
    assert [s.name for s in artifact.signature.outputs] == ["label", "probabilities"]
    assert artifact.signature.inputs[0].shape == ["N", 4]
    expected_labels = model.predict(x)
    expected_proba = model.predict_proba(x)
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        assert out.schema.names == ["label", "probabilities"], runtime
        np.testing.assert_array_equal(out["label"].to_numpy(), expected_labels, err_msg=runtime)
        np.testing.assert_allclose(
            probabilities(out["probabilities"]), expected_proba, atol=1e-5, err_msg=runtime
        )


def test_linear_regression_outputs_a_flat_prediction_column(
    data: tuple[Any, ...], store: str
) -> None:
    x, _, _, table = data
    y = x @ np.array([1.5, -2.0, 0.25, 3.0]) + 0.5
    model = LinearRegression().fit(x, y)

    artifact = interlock.export(model, table, name="linear", store=store)

    assert [(s.name, s.shape) for s in artifact.signature.outputs] == [("prediction", ["N"])]
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        assert out.schema.field("prediction").type == pa.float32(), runtime
        np.testing.assert_allclose(
            out["prediction"].to_numpy(), model.predict(x), rtol=1e-5, atol=1e-5, err_msg=runtime
        )


def test_float64_precision_keeps_regression_exact(data: tuple[Any, ...], store: str) -> None:
    x, _, _, table = data
    y = x @ np.array([1e3, -2.0, 0.25, 3.0]) + 1e4
    model = LinearRegression().fit(x, y)

    artifact = interlock.export(
        model, table, name="linear64", store=store, options={"float_dtype": "float64"}
    )

    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        assert out.schema.field("prediction").type == pa.float64(), runtime
        np.testing.assert_allclose(out["prediction"].to_numpy(), model.predict(x), rtol=1e-12)


def test_multi_target_regression_gives_a_fixed_size_list(data: tuple[Any, ...], store: str) -> None:
    x, _, _, table = data
    y = np.stack([x[:, 0] * 2, x[:, 1] - x[:, 3]], axis=1)
    model = LinearRegression().fit(x, y)

    artifact = interlock.export(model, table, name="two-targets", store=store)

    assert artifact.signature.outputs[0].shape == ["N", 2]
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        got = out["prediction"].flatten().to_numpy().reshape(-1, 2)
        np.testing.assert_allclose(got, model.predict(x), atol=1e-5, err_msg=runtime)


def test_numpy_sample_names_columns_x0_to_xk(data: tuple[Any, ...], store: str) -> None:
    x, binary, _, _ = data
    model = LogisticRegression().fit(x, binary)

    artifact = interlock.export(model, x[:5], name="from-numpy", store=store)

    assert artifact.columns.inputs[0].columns == ["x0", "x1", "x2", "x3"]
    # The input takes the sample's element type: a float64 table feeds it without casting.
    assert artifact.signature.inputs[0].dtype == "float64"
    batch = pa.record_batch({f"x{i}": x[:, i] for i in range(4)})
    for runtime, out in predict_all(artifact, batch).items():
        np.testing.assert_array_equal(out["label"].to_numpy(), model.predict(x), err_msg=runtime)


def test_feature_names_from_a_dataframe_fit_decide_the_columns(
    data: tuple[Any, ...], store: str
) -> None:
    x, _, three, _ = data
    frame = pd.DataFrame(x, columns=["width", "height", "depth", "mass"])
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=1).fit(frame, three)
    # A sample in another column order, with an extra column, still maps by name.
    sample = frame[["mass", "depth", "height", "width"]].assign(target=three)

    artifact = interlock.export(model, sample, name="named", store=store)

    assert artifact.columns.inputs[0].columns == ["width", "height", "depth", "mass"]
    batch = pa.RecordBatch.from_pandas(sample, preserve_index=False)
    for runtime, out in predict_all(artifact, batch).items():
        expected = model.predict(frame)
        np.testing.assert_array_equal(out["label"].to_numpy(), expected, err_msg=runtime)


def test_mixed_column_types_become_one_tensor_per_type(data: tuple[Any, ...], store: str) -> None:
    x, _, three, _ = data
    table = pa.table(
        {
            "a": x[:, 0],
            "count": np.round(x[:, 1] * 10).astype(np.int64),
            "b": x[:, 2].astype(np.float32),
            "c": x[:, 3],
            "flag": x[:, 0] > 0,
        }
    )
    features = table.to_pandas().to_numpy(dtype=np.float64)
    model = LogisticRegression(max_iter=500).fit(features, three)

    artifact = interlock.export(model, table, name="mixed", store=store)

    bindings = {b.tensor: b.columns for b in artifact.columns.inputs}
    assert bindings == {
        "input_float64": ["a", "c"],
        "input_int64": ["count"],
        "input_float32": ["b"],
        "input_bool": ["flag"],
    }
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        expected = model.predict(features)
        np.testing.assert_array_equal(out["label"].to_numpy(), expected, err_msg=runtime)
        np.testing.assert_allclose(
            probabilities(out["probabilities"]), model.predict_proba(features), atol=1e-5
        )


def test_a_single_fixed_size_list_column_feeds_the_whole_matrix(
    data: tuple[Any, ...], store: str
) -> None:
    x, binary, _, _ = data
    model = LogisticRegression().fit(x, binary)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(x.astype(np.float32).ravel()), 4)
    table = pa.table({"embedding": vectors})

    artifact = interlock.export(model, table, name="vector", store=store)

    assert artifact.columns.inputs[0].columns == ["embedding"]
    assert artifact.signature.inputs[0].model_dump() == {
        "name": "input",
        "dtype": "float32",
        "shape": ["N", 4],
    }
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        np.testing.assert_array_equal(out["label"].to_numpy(), model.predict(x), err_msg=runtime)


def test_string_class_labels_become_a_string_column(data: tuple[Any, ...], store: str) -> None:
    x, _, three, table = data
    names = np.array(["low", "mid", "high"])[three]
    model = LogisticRegression().fit(x, names)

    artifact = interlock.export(model, table, name="named-classes", store=store)

    assert artifact.signature.output("label").dtype == "string"
    assert artifact.manifest.metadata["sklearn"]["classes"] == ["high", "low", "mid"]
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        assert out["label"].to_pylist() == list(model.predict(x)), runtime


def test_metadata_and_producer_describe_the_model(data: tuple[Any, ...], store: str) -> None:
    import sklearn

    x, _, three, table = data
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, three)

    artifact = interlock.export(model, table, name="described", store=store)

    recorded = artifact.manifest.metadata["sklearn"]
    assert recorded["version"] == sklearn.__version__
    assert recorded["estimator"] == "sklearn.pipeline.Pipeline"
    logistic = interlock.export(model[-1], x, name="step", store=store)
    assert logistic.manifest.metadata["sklearn"]["estimator"] == (
        "sklearn.linear_model.LogisticRegression"
    )
    assert recorded["classes"] == [0, 1, 2]
    assert [s["estimator"] for s in recorded["steps"]] == ["StandardScaler", "LogisticRegression"]
    producer = artifact.manifest.producer
    assert (producer.name, producer.component) == ("interlock_sklearn", "sklearn")


def test_training_dataset_fingerprint_is_in_the_lineage(
    data: tuple[Any, ...], store: str, tmp_path: Path
) -> None:
    x, binary, _, table = data
    dataset = interlock.write_dataset(table, str(tmp_path / "train.parquet"))
    model = LogisticRegression().fit(x, binary)

    artifact = interlock.export(model, table, name="traced", store=store, dataset=dataset)

    [entry] = artifact.manifest.lineage
    assert entry.uri == dataset.uri
    assert entry.fingerprint == dataset.fingerprint()
    assert entry.role == "training"


def test_transformers_keep_skl2onnx_output_names(data: tuple[Any, ...], store: str) -> None:
    x, _, _, table = data
    model = PCA(n_components=2).fit(x)

    artifact = interlock.export(model, table, name="pca", store=store)

    assert [(b.tensor, b.column) for b in artifact.columns.outputs] == [("variable", "variable")]
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        got = out["variable"].flatten().to_numpy().reshape(-1, 2)
        np.testing.assert_allclose(got, model.transform(x), atol=1e-5, err_msg=runtime)


def test_opset_input_name_and_batch_dimension_options(data: tuple[Any, ...], store: str) -> None:
    x, binary, _, table = data
    model = LogisticRegression().fit(x, binary)

    artifact = interlock.export(
        model,
        table,
        name="tuned",
        store=store,
        options={"target_opset": 15, "input_name": "features", "batch_dim": "rows"},
    )

    assert artifact.manifest.onnx.opsets[""] == 15
    assert artifact.signature.inputs[0].model_dump() == {
        "name": "features",
        "dtype": "float64",
        "shape": ["rows", 4],
    }
    assert all(spec.shape[0] == "rows" for spec in artifact.signature.outputs)
    for runtime, out in predict_all(artifact, table.to_batches()[0]).items():
        np.testing.assert_array_equal(out["label"].to_numpy(), model.predict(x), err_msg=runtime)


# -- mistakes users make -------------------------------------------------------------------


def test_non_numeric_sample_column_is_named(data: tuple[Any, ...]) -> None:
    x, binary, _, _ = data
    model = LogisticRegression().fit(x[:, :2], binary)
    sample = pa.table({"f0": x[:3, 0], "city": ["a", "b", "c"]})

    with pytest.raises(interlock.ExportError, match=r"'city' \(string\)") as caught:
        export_model(model, sample)
    assert caught.value.hint


def test_unfitted_model_is_refused(data: tuple[Any, ...]) -> None:
    with pytest.raises(interlock.ExportError, match="not fitted") as caught:
        export_model(LogisticRegression(), data[3])
    assert "fit" in (caught.value.hint or "")


def test_sample_width_must_match_the_fitted_model(data: tuple[Any, ...]) -> None:
    x, binary, _, table = data
    model = LogisticRegression().fit(x[:, :3], binary)

    with pytest.raises(interlock.ExportError, match=r"4 feature\(s\).*fitted on 3"):
        export_model(model, table)


def test_one_dimensional_numpy_sample_is_refused(data: tuple[Any, ...]) -> None:
    x, binary, _, _ = data
    model = LogisticRegression().fit(x[:, :1], binary)

    with pytest.raises(interlock.ExportError, match="1 dimension") as caught:
        export_model(model, x[:, 0])
    assert "reshape" in (caught.value.hint or "")


def test_sample_of_an_unknown_kind_is_refused(data: tuple[Any, ...]) -> None:
    x, binary, _, _ = data
    model = LogisticRegression().fit(x, binary)

    with pytest.raises(interlock.ExportError, match="export sample"):
        export_model(model, [[1.0, 2.0, 3.0, 4.0]])


def test_feature_names_missing_from_the_sample_are_named(data: tuple[Any, ...]) -> None:
    x, binary, _, _ = data
    frame = pd.DataFrame(x[:, :2], columns=["width", "height"])
    model = LogisticRegression().fit(frame, binary)

    with pytest.raises(interlock.ExportError, match=r"\['height'\]"):
        export_model(model, pa.table({"width": x[:, 0]}))


def test_unknown_and_invalid_options_are_named(data: tuple[Any, ...]) -> None:
    x, binary, _, table = data
    model = LogisticRegression().fit(x, binary)

    with pytest.raises(interlock.ExportError, match="zipmap") as caught:
        export_model(model, table, options={"zipmap": True})
    assert "float_dtype" in (caught.value.hint or "")
    with pytest.raises(interlock.ExportError, match="float_dtype"):
        export_model(model, table, options={"float_dtype": "float16"})


def test_float64_tree_regressor_is_refused_with_a_way_out(data: tuple[Any, ...]) -> None:
    x, _, _, table = data
    model = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(x, x[:, 0])

    with pytest.raises(interlock.ExportError, match="RandomForestRegressor") as caught:
        export_model(model, table, options={"float_dtype": "float64"})
    assert "float32" in (caught.value.hint or "")
    assert "\n" not in str(caught.value)
    # The default precision works.
    assert export_model(model, table).signature.output("prediction").dtype == "float32"


def test_model_skl2onnx_cannot_convert_is_an_export_error(data: tuple[Any, ...]) -> None:
    class HandMade(BaseEstimator):  # defined outside sklearn: not claimed by the exporter
        def fit(self, x: Any, y: Any = None) -> HandMade:
            self.n_features_in_ = x.shape[1]
            return self

    HandMade.__module__ = "sklearn.handmade"  # claimed, but skl2onnx has no converter
    model = HandMade().fit(data[0])

    with pytest.raises(interlock.ExportError, match="skl2onnx could not convert HandMade"):
        export_model(model, data[3])


def test_outputs_that_are_not_tensors_are_refused(data: tuple[Any, ...]) -> None:
    x, binary, three, table = data
    model = MultiOutputClassifier(LogisticRegression()).fit(x, np.stack([binary, three], axis=1))

    with pytest.raises(interlock.ExportError, match="'probabilities' is a sequence"):
        export_model(model, table)


@requirement("PLG-042", "EXP-009")
def test_missing_skl2onnx_names_the_extra(
    data: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    x, binary, _, table = data
    model = LogisticRegression().fit(x, binary)
    # None in sys.modules makes "import skl2onnx" raise ImportError, as if not installed.
    for name in [m for m in sys.modules if m == "skl2onnx" or m.startswith("skl2onnx.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skl2onnx", None)

    with pytest.raises(interlock.MissingDependencyError, match="skl2onnx") as caught:
        export_model(model, table)
    assert caught.value.hint == "pip install 'interlock[sklearn]'"


def test_can_export_claims_sklearn_classes_only(data: tuple[Any, ...]) -> None:
    exporter = interlock.get_registry().get("exporter", "sklearn")
    x, binary, _, _ = data

    assert exporter.can_export(LogisticRegression())
    assert exporter.can_export(make_pipeline(StandardScaler(), LogisticRegression()))
    assert not exporter.can_export(object())
    assert not exporter.can_export(x)
    assert exporter.priority == interlock.FALLBACK_PRIORITY
