"""``interlock.export`` and ``export_model``: choosing an exporter, holding it to its contract,
saving with producer, metadata and lineage (spec: exporter.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

import interlock
from interlock import hookimpl
from interlock.exporters import choose_exporter, export_model
from interlock_conformance import requirement


class Affine:
    """A toy framework model: ``y = x @ weights + bias``."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray) -> None:
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)


def affine_graph(model: Affine, output: str = "y") -> onnx.ModelProto:
    inputs, outputs = model.weights.shape
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], [output]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", inputs])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", outputs])],
        [numpy_helper.from_array(model.weights, "w"), numpy_helper.from_array(model.bias, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


class AffineExporter(interlock.Exporter):
    """Exports :class:`Affine`; ``behaviour`` makes it break the contract on purpose."""

    name = "affine"
    description = "toy exporter used by the tests"

    def __init__(self, behaviour: str = "good") -> None:
        self.behaviour = behaviour

    def can_export(self, model: object) -> bool:
        if self.behaviour == "can-export-raises":
            raise RuntimeError("cannot tell")
        return isinstance(model, Affine)

    def export(
        self, model: object, sample: object, options: dict[str, Any]
    ) -> interlock.ExportedModel:
        from interlock.tensors import Signature

        self.parse_options(options)
        assert isinstance(model, Affine)
        if self.behaviour == "raises":
            raise ZeroDivisionError("boom")
        if self.behaviour == "export-error":
            raise interlock.ExportError("this affine cannot be exported", hint="try another")
        if self.behaviour == "not-exported-model":
            return affine_graph(model)  # type: ignore[return-value]
        proto = affine_graph(model)
        signature = Signature.from_onnx(proto)
        if self.behaviour == "wrong-signature":
            signature = Signature.from_onnx(affine_graph(model, output="z"))
        columns = interlock.ColumnMapping.identity(signature)
        metadata = {"toy": True, "owner": "exporter"}
        return interlock.ExportedModel(proto, signature, columns, metadata)


class ToyPlugin:
    def __init__(self, *exporters: interlock.Exporter) -> None:
        self.exporters = list(exporters)

    @hookimpl
    def interlock_exporters(self) -> list[interlock.Exporter]:
        return self.exporters


def register(*exporters: interlock.Exporter, name: str = "toy") -> None:
    interlock.get_registry().register(ToyPlugin(*exporters), name=name)


@pytest.fixture()
def affine() -> Affine:
    return Affine(np.arange(6, dtype=np.float32).reshape(3, 2) / 4, np.array([0.5, -1.0]))


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store")


@requirement("EXP-020")
def test_export_finds_the_exporter_that_claims_the_model(affine: Affine, store: str) -> None:
    register(AffineExporter())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)

    artifact = interlock.export(affine, x, name="toy", version="2", store=store)

    assert (artifact.name, artifact.version) == ("toy", "2")
    producer = artifact.manifest.producer
    assert (producer.name, producer.component) == ("toy", "affine")
    predictor = interlock.load_predictor(interlock.load_artifact("toy:2", store=store))
    np.testing.assert_allclose(
        predictor.infer({"x": x})["y"], x @ affine.weights + affine.bias, rtol=1e-6
    )


def test_export_uses_the_default_store_when_none_is_given(affine: Affine) -> None:
    register(AffineExporter())

    artifact = interlock.export(affine, None, name="in-default-store")

    assert interlock.load_artifact("in-default-store:1").digest == artifact.digest


def test_export_saves_into_an_fsspec_store(affine: Affine) -> None:
    register(AffineExporter())

    artifact = interlock.export(affine, None, name="remote", store="memory://exporter-test-store")

    assert artifact.uri.startswith("memory://")
    loaded = interlock.load_artifact("remote", store="memory://exporter-test-store")
    assert loaded.ref == artifact.ref


@requirement("EXP-026")
def test_caller_metadata_is_merged_over_the_exporters(affine: Affine, store: str) -> None:
    register(AffineExporter())

    artifact = interlock.export(
        affine, None, name="meta", store=store, metadata={"owner": "me", "ticket": 42}
    )

    assert artifact.manifest.metadata == {"toy": True, "owner": "me", "ticket": 42}


@requirement("EXP-027")
def test_dataset_uri_is_recorded_as_training_lineage(
    affine: Affine, store: str, tmp_path: Path
) -> None:
    register(AffineExporter())
    uri = str(tmp_path / "train.arrow")
    dataset = interlock.write_dataset(pa.table({"x": [1.0, 2.0]}), uri)

    artifact = interlock.export(affine, None, name="traced", store=store, dataset=uri)

    assert [(e.uri, e.fingerprint, e.role) for e in artifact.manifest.lineage] == [
        (uri, dataset.fingerprint(), "training")
    ]


def test_dataset_of_the_wrong_type_is_refused_before_exporting(affine: Affine, store: str) -> None:
    register(AffineExporter())

    with pytest.raises(interlock.ExportError, match="dataset must be an interlock Dataset"):
        not_a_dataset: Any = pa.table({"x": [1]})
        interlock.export(affine, None, name="x", store=store, dataset=not_a_dataset)


@requirement("EXP-022")
def test_exporter_named_explicitly_is_used(affine: Affine) -> None:
    register(AffineExporter())

    assert export_model(affine, None, exporter="affine").signature.inputs[0].name == "x"


@requirement("EXP-022")
def test_unknown_exporter_name_lists_the_installed_ones(affine: Affine) -> None:
    register(AffineExporter())

    expected = r"no exporter named 'afine'.*affine.*sklearn"
    with pytest.raises(interlock.PluginError, match=expected) as caught:
        export_model(affine, None, exporter="afine")
    assert "did you mean 'affine'" in (caught.value.hint or "")


@requirement("EXP-021")
def test_unclaimed_model_names_its_type_and_the_installed_exporters() -> None:
    with pytest.raises(interlock.ExportError) as caught:
        export_model(object(), None)
    assert "builtins.object" in str(caught.value)
    listed = str(caught.value).split("installed exporters: ", 1)[1].split(")")[0].split(", ")
    assert "sklearn" in listed and listed == sorted(listed), str(caught.value)
    assert caught.value.hint


@requirement("EXP-020")
def test_a_vendor_exporter_is_asked_before_the_reference_one() -> None:
    class GreedyExporter(AffineExporter):
        name = "greedy"

        def can_export(self, model: object) -> bool:
            return True

    register(GreedyExporter())

    assert choose_exporter(LogisticRegression()).name == "greedy"
    assert choose_exporter(LogisticRegression(), "sklearn").name == "sklearn"


@pytest.mark.parametrize("behaviour", ["not-exported-model", "wrong-signature"])
@requirement("EXP-024")
def test_contract_breaches_are_spec_violations_and_save_nothing(
    behaviour: str, affine: Affine, store: str
) -> None:
    register(AffineExporter(behaviour))

    with pytest.raises(interlock.SpecViolation, match="exporter 'affine'"):
        interlock.export(affine, None, name="broken", store=store)
    assert interlock.open_store(store).names() == []


@requirement("EXP-023", "PLG-041")
def test_a_crash_inside_an_exporter_is_wrapped_once_naming_the_plugin(affine: Affine) -> None:
    register(AffineExporter("raises"))

    with pytest.raises(interlock.PluginError) as caught:
        export_model(affine, None)
    message = str(caught.value)
    assert "'affine'" in message and "'toy'" in message and "ZeroDivisionError: boom" in message
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


@requirement("EXP-023", "PLG-041")
def test_an_export_error_passes_through_with_its_origin(affine: Affine) -> None:
    register(AffineExporter("export-error"))

    with pytest.raises(interlock.ExportError, match="cannot be exported") as caught:
        export_model(affine, None)
    assert (caught.value.component, caught.value.plugin) == ("affine", "toy")


@requirement("EXP-023")
def test_can_export_that_raises_is_a_plugin_error(affine: Affine) -> None:
    register(AffineExporter("can-export-raises"))

    with pytest.raises(interlock.PluginError, match="cannot tell"):
        export_model(affine, None)


def test_options_to_an_exporter_without_options_are_refused(affine: Affine) -> None:
    register(AffineExporter())

    with pytest.raises(interlock.ExportError, match=r"takes no options, got \['speed'\]"):
        export_model(affine, None, options={"speed": 3})
