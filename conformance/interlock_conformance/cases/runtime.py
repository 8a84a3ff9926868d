"""Runtime cases (spec: runtime.md): every golden model the runtime claims gives the vector's
outputs, ``infer`` refuses what does not fit the signature with errors that name the tensor,
the expected and the received, ``predict`` maps Arrow columns to tensors and back, and options,
devices, external data and concurrent calls behave as the spec says.

Each case loads models through ``interlock.load_predictor(..., runtime=<the runtime under
test>)``; the golden models come from the ``golden_store`` fixture (``NAME:1``). Only
``test_golden_models_give_the_vector_outputs`` (RT-060) holds the runtime's values to the
vectors' expected outputs; every other case compares the runtime with itself (another device,
another thread, the same weights stored elsewhere), so that a runtime whose values are off
fails RT-060 and nothing else.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
import pytest

import interlock
from interlock import (
    ColumnMapping,
    DeviceUnavailableError,
    InputBinding,
    InterlockError,
    OutputBinding,
    Predictor,
    Runtime,
    SignatureMismatch,
)
from interlock.tensors import compare_outputs

from interlock_conformance.attribution import checking
from interlock_conformance.cases._models import bfloat16_identity, identity, scalar_sum
from interlock_conformance.markers import capability, component_kind, requirement, when_unclaimed
from interlock_conformance.vectors import VectorIndex, load_vector_index, outputs_mismatch

pytestmark = component_kind("runtime")

_VECTORS = load_vector_index()
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _needs(name: str) -> list[str]:
    """The capabilities a runtime must claim to run the golden model (RT-051, RT-070)."""
    return _VECTORS.models[name].runtime_capabilities


def _refused_without(name: str) -> list[str]:
    """The capabilities whose absence makes a runtime refuse the golden model on its inputs.

    A runtime without ``float64-precision`` still runs float64 models, less precisely, and
    refuses only inputs beyond float32's range (RT-052)."""
    needed = [c for c in _needs(name) if c != "float64-precision"]
    if "float64-precision" in _needs(name):
        beyond = [v for v in _VECTORS.inputs(name).values()
                  if v.dtype == np.float64 and v.size
                  and bool(np.any(np.isfinite(v) & (np.abs(v) > _FLOAT32_MAX)))]
        needed += ["float64-precision"] if beyond else []
    return needed


def _golden_params(*, unclaimed: bool = False, values: bool = False) -> list[Any]:
    """One parameter per golden model; with ``values``, those that need ``float64-precision``
    also check RT-052's first sentence (claimed: RT-060's float64 row holds)."""
    params = []
    for name in _VECTORS.models:
        needed = _needs(name)
        if unclaimed:
            refused = _refused_without(name)
            if refused:
                params.append(pytest.param(name, marks=when_unclaimed(*refused), id=name))
        else:
            marks = [capability(*needed)] if needed else []
            if values and "float64-precision" in needed:
                marks.append(requirement("RT-052"))
            params.append(pytest.param(name, marks=marks, id=name))
    return params


def _load(
    component: Runtime, store: str, name: str, *, device: str = "cpu", **options: Any
) -> Predictor:
    return interlock.load_predictor(f"{name}:1", runtime=component.name, device=device,
                                    store=store, **options)


def _save(root: Path, model: onnx.ModelProto, name: str = "m", **kwargs: Any) -> interlock.Artifact:
    return interlock.save_artifact(model, str(root), name=name, version="1", **kwargs)


# -- the component and loading --------------------------------------------------------------------


@requirement("RT-001", "PLG-011")
def test_runtime_declares_its_devices(component: Runtime) -> None:
    """A named Runtime with a non-empty tuple of lower-case device kinds."""
    assert isinstance(component, Runtime) and component.name, f"{component!r} has no name"
    devices = component.devices
    assert isinstance(devices, tuple) and devices, (
        f"runtime {component.name!r} declares devices {devices!r}; declare a tuple such as ('cpu',)"
    )
    bad = [d for d in devices if not (isinstance(d, str) and d.isalnum() and d.islower())]
    assert not bad, f"runtime {component.name!r} declares device kinds {bad}"


@requirement("RT-003", "RT-008", "RT-010", "RT-020", "RT-050", "RT-051")
@pytest.mark.parametrize("name", _golden_params())
def test_golden_models_run_as_their_signature_says(
    component: Runtime, golden_store: str, vectors: VectorIndex, name: str
) -> None:
    """Loaded by reference, the predictor describes the artifact, and infer returns exactly
    the signature's outputs, of the declared dtypes and ranks (their values: the next case)."""
    predictor = _load(component, golden_store, name)
    artifact = interlock.load_artifact(f"{name}:1", store=golden_store)
    with checking("RT-003"):
        assert predictor.signature == artifact.signature, (
            "the predictor's signature is not the manifest's"
        )
        assert predictor.columns == artifact.columns, (
            "the predictor's columns are not the manifest's"
        )
        assert predictor.runtime_name == component.name and predictor.device == "cpu", (
            f"the predictor says it is {predictor.runtime_name!r} on {predictor.device!r}"
        )
    outputs = predictor.infer(vectors.inputs(name))
    declared = [s.name for s in artifact.signature.outputs]
    with checking("RT-020"):
        assert isinstance(outputs, dict) and list(outputs) == declared, (
            f"infer returned {type(outputs).__name__} with keys {list(outputs)}"
        )
        for spec in artifact.signature.outputs:
            value = outputs[spec.name]
            expected_kind = object if spec.dtype == "string" else np.dtype(spec.dtype)
            assert isinstance(value, np.ndarray) and value.dtype == expected_kind, (
                f"output {spec.name!r} is {type(value).__name__} {getattr(value, 'dtype', '')}, "
                f"declared {spec.describe()}"
            )
            assert value.ndim == len(spec.shape), f"output {spec.name!r} has shape {value.shape}"


@requirement("RT-060")
@pytest.mark.parametrize("name", _golden_params(values=True))
def test_golden_models_give_the_vector_outputs(
    component: Runtime, golden_store: str, vectors: VectorIndex, name: str
) -> None:
    """infer on the vector's inputs gives the vector's outputs within its tolerance."""
    outputs = _load(component, golden_store, name).infer(vectors.inputs(name))
    problem = outputs_mismatch(vectors.models[name], vectors.outputs(name), outputs)
    assert problem is None, f"{name} on {component.name}: {problem}"


@requirement("RT-070")
@pytest.mark.parametrize("name", _golden_params(unclaimed=True))
def test_unclaimed_element_types_are_refused(
    component: Runtime, golden_store: str, vectors: VectorIndex, name: str
) -> None:
    """A model of an element type the runtime does not claim raises an InterlockError when
    loaded or run; it never returns results."""
    with pytest.raises(InterlockError):
        _load(component, golden_store, name).infer(vectors.inputs(name))


@requirement("RT-004")
def test_the_artifact_is_left_untouched(
    component: Runtime, tmp_path: Path, vectors: VectorIndex
) -> None:
    """Loading and running change no byte of the artifact directory and add no file."""
    artifact = _save(tmp_path / "store", onnx.load_from_string(vectors.model_bytes("mlp_float32")))
    directory = artifact.local_dir()

    def snapshot() -> dict[str, str]:
        return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(directory.rglob("*")) if p.is_file()}

    before = snapshot()
    predictor = interlock.load_predictor(artifact, runtime=component.name)
    predictor.infer(vectors.inputs("mlp_float32"))
    assert snapshot() == before, f"runtime {component.name!r} changed the artifact directory"


@requirement("RT-005")
def test_unknown_options_are_refused(component: Runtime, golden_store: str) -> None:
    """An unknown option raises an InterlockError naming the runtime and the option."""
    with pytest.raises(InterlockError) as caught:
        _load(component, golden_store, "mlp_float32", interlock_no_such_option=1)
    message = str(caught.value)
    assert "interlock_no_such_option" in message and component.name in message, message


@requirement("RT-002")
def test_malformed_and_unsupported_devices_are_refused(
    component: Runtime, golden_store: str
) -> None:
    """A malformed device, or a kind the runtime does not list, raises DeviceUnavailableError
    naming it and the supported kinds."""
    for device in ("CUDA", "cuda:x", "cpu:-1", ""):
        with pytest.raises(DeviceUnavailableError):
            _load(component, golden_store, "mlp_float32", device=device)
    kind = next(k for k in ("interlockfake", "tpu", "npu") if k not in component.devices)
    with pytest.raises(DeviceUnavailableError) as caught:
        _load(component, golden_store, "mlp_float32", device=kind)
    message = str(caught.value)
    assert kind in message and all(d in message for d in component.devices), message


@requirement("RT-006", "RT-081")
def test_each_device_runs_there_or_is_unavailable(
    component: Runtime, golden_store: str, vectors: VectorIndex
) -> None:
    """On every device kind it lists, the runtime either runs there (the predictor says so, and
    its outputs agree with the same runtime's on cpu by RT-060) or raises
    DeviceUnavailableError with a hint; never another device."""
    inputs = vectors.inputs("mlp_float32")
    on_cpu: dict[str, np.ndarray] | None = None
    for kind in component.devices:
        for device in [kind] if kind == "cpu" else [kind, f"{kind}:0"]:
            with checking("RT-006"):
                try:
                    predictor = _load(component, golden_store, "mlp_float32", device=device)
                except DeviceUnavailableError as exc:
                    assert device.split(":")[0] in str(exc) and exc.hint, (
                        f"DeviceUnavailableError for {device!r} names no device or has no "
                        f"hint: {exc}"
                    )
                    continue
                assert predictor.device == device, (
                    f"asked for {device!r}, the predictor runs on {predictor.device!r}"
                )
            outputs = predictor.infer(inputs)
            if kind == "cpu":
                on_cpu = outputs
                continue
            if on_cpu is None:
                on_cpu = _load(component, golden_store, "mlp_float32").infer(inputs)
            problems = compare_outputs(on_cpu, outputs)
            assert not problems, f"on {device!r} the outputs differ from cpu: {problems}"


@requirement("RT-080")
def test_standard_option_names_have_their_meaning(component: Runtime, golden_store: str) -> None:
    """The spec's option names, where offered, take the spec's values."""
    model = component.options_model
    offered = set(model.model_fields) if model is not None else set()
    values: dict[str, list[Any]] = {
        "intra_op_num_threads": [0, 1],
        "inter_op_num_threads": [0, 1],
        "graph_optimization_level": ["disable", "basic", "extended", "all"],
        "enable_profiling": [False],
    }
    for option in sorted(offered & set(values)):
        for value in values[option]:
            accepted: dict[str, Any] = {option: value}
            _load(component, golden_store, "mlp_float32", **accepted)
    if "enable_profiling" in offered and model is not None:
        default = model.model_fields["enable_profiling"].default
        assert default is False, f"enable_profiling defaults to {default!r}"
    for option, bad in (("intra_op_num_threads", -1), ("graph_optimization_level", "maximum")):
        if option in offered:
            refused: dict[str, Any] = {option: bad}
            with pytest.raises(InterlockError):
                _load(component, golden_store, "mlp_float32", **refused)


@requirement("RT-070", "ART-003")
@capability("external-data")
def test_external_data_artifacts_load(
    component: Runtime, tmp_path: Path, vectors: VectorIndex
) -> None:
    """An artifact whose weights live in model.onnx.data gives the vector's outputs."""
    model = onnx.load_from_string(vectors.model_bytes("mlp_float32"))
    artifact = _save(tmp_path / "store", model, name="mlp", external_data=True)
    assert "model.onnx.data" in [f.path for f in artifact.manifest.files]
    predictor = interlock.load_predictor(artifact, runtime=component.name)
    inputs = vectors.inputs("mlp_float32")
    outputs = predictor.infer(inputs)
    embedded = _save(tmp_path / "embedded", model, name="mlp")
    reference = interlock.load_predictor(embedded, runtime=component.name).infer(inputs)
    problems = compare_outputs(reference, outputs)
    assert not problems, f"with its weights in model.onnx.data the model computes {problems}"


@requirement("RT-070")
@when_unclaimed("external-data")
def test_external_data_is_refused_when_unclaimed(
    component: Runtime, tmp_path: Path, vectors: VectorIndex
) -> None:
    """A runtime that does not claim external-data refuses such an artifact."""
    model = onnx.load_from_string(vectors.model_bytes("mlp_float32"))
    artifact = _save(tmp_path / "store", model, name="mlp", external_data=True)
    with pytest.raises(InterlockError):
        predictor = interlock.load_predictor(artifact, runtime=component.name)
        predictor.infer(vectors.inputs("mlp_float32"))


@requirement("RT-009")
def test_concurrent_calls_agree(
    component: Runtime, golden_store: str, vectors: VectorIndex
) -> None:
    """One predictor called from four threads at once gives every caller what one call alone
    gives (by RT-060)."""
    predictor = _load(component, golden_store, "mlp_float32")
    inputs = vectors.inputs("mlp_float32")
    expected = predictor.infer(inputs)
    problems: list[str] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(4)

    def call() -> None:
        barrier.wait()
        for _ in range(10):
            try:
                problems.extend(compare_outputs(expected, predictor.infer(inputs)))
            except Exception as exc:
                errors.append(exc)
                problems.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if problems:
        failure = AssertionError(f"concurrent calls went wrong: {problems[:3]}")
        # An error a call raised is the failure's cause (it may name the rule it broke).
        raise failure from (errors[0] if errors else None)


@requirement("RT-017")
def test_bfloat16_signatures_are_refused(component: Runtime, tmp_path: Path) -> None:
    """A model with bfloat16 inputs or outputs cannot be loaded: SignatureMismatch naming them."""
    artifact = _save(tmp_path / "store", bfloat16_identity(), name="bf16")
    with pytest.raises(SignatureMismatch) as caught:
        interlock.load_predictor(artifact, runtime=component.name)
    assert "'x'" in str(caught.value) and "bfloat16" in str(caught.value), str(caught.value)


# -- predict: Arrow in, Arrow out -----------------------------------------------------------------


def _fixed_list(values: np.ndarray) -> pa.Array:
    array: pa.Array = pa.array(values.reshape(-1))
    for size in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, size)
    return array


@requirement("RT-030", "RT-033", "RT-039")
def test_predict_maps_fixed_size_list_columns(
    component: Runtime, tmp_path: Path, vectors: VectorIndex
) -> None:
    """A fixed_size_list<float, 4> column feeds x [rows, 4]; each [rows, 3] output becomes a
    fixed_size_list<float, 3> column named by the mapping, in mapping order, whatever Arrow
    container holds the rows."""
    columns = ColumnMapping(
        inputs=[InputBinding(tensor="x", columns=["features"])],
        outputs=[OutputBinding(tensor="probabilities", column="probs"),
                 OutputBinding(tensor="logits", column="scores")],
    )
    model = onnx.load_from_string(vectors.model_bytes("mlp_float32"))
    artifact = _save(tmp_path / "store", model, name="mlp", columns=columns)
    predictor = interlock.load_predictor(artifact, runtime=component.name)
    x = vectors.inputs("mlp_float32")["x"]
    batch = pa.record_batch({"id": pa.array(range(len(x))), "features": _fixed_list(x)})
    expected = predictor.infer({"x": x})
    for data in (batch, pa.Table.from_batches([batch[:2], batch[2:]]),
                 pa.RecordBatchReader.from_batches(batch.schema, [batch])):
        result = predictor.predict(data)
        assert isinstance(result, pa.RecordBatch) and result.schema.names == ["probs", "scores"], (
            f"predict({type(data).__name__}) returned {result!r}"
        )
        assert result.schema.field("scores").type == pa.list_(pa.float32(), 3)
        scores = np.asarray(result.column("scores").flatten()).reshape(-1, 3)
        np.testing.assert_array_equal(scores, expected["logits"])
    with pytest.raises(SignatureMismatch):
        predictor.predict({"features": x})


@requirement("RT-035")
def test_predict_gathers_stacked_columns(
    component: Runtime, tmp_path: Path, vectors: VectorIndex
) -> None:
    """Four float columns listed in one binding become x [rows, 4], column j from the j-th."""
    names = ["d", "a", "c", "b"]
    columns = ColumnMapping(inputs=[InputBinding(tensor="x", columns=names)],
                            outputs=[OutputBinding(tensor="logits", column="logits"),
                                     OutputBinding(tensor="probabilities", column="probabilities")])
    model = onnx.load_from_string(vectors.model_bytes("mlp_float32"))
    predictor = interlock.load_predictor(_save(tmp_path / "store", model, columns=columns),
                                         runtime=component.name)
    x = vectors.inputs("mlp_float32")["x"]
    batch = pa.record_batch({name: x[:, j] for j, name in enumerate(names)})
    logits = np.asarray(predictor.predict(batch).column("logits").flatten()).reshape(-1, 3)
    np.testing.assert_array_equal(logits, predictor.infer({"x": x})["logits"])


@requirement("RT-032", "RT-039")
def test_predict_maps_primitive_columns(component: Runtime, tmp_path: Path) -> None:
    """A primitive column feeds [rows] or [rows, 1]; rank-1 outputs become primitive
    columns and [rows, 1] outputs fixed_size_list<T, 1>, also for zero rows."""
    values = np.array([1.5, -2.0, 3.25], dtype=np.float32)
    cases: list[tuple[list[int | str], pa.DataType]] = [
        (["N"], pa.float32()), (["N", 1], pa.list_(pa.float32(), 1))]
    for dims, column_type in cases:
        artifact = _save(tmp_path / f"store{len(dims)}", identity(dims))
        predictor = interlock.load_predictor(artifact, runtime=component.name)
        for rows in (values, values[:0]):
            result = predictor.predict(pa.record_batch({"x": pa.array(rows)}))
            assert result.schema.field("y").type == column_type, (
                f"a {dims} output became {result.schema.field('y').type}, expected {column_type}"
            )
            assert result.num_rows == len(rows)
        full = predictor.predict(pa.record_batch({"x": pa.array(values)}))
        got = full.column("y").flatten() if len(dims) == 2 else full.column("y")
        np.testing.assert_array_equal(np.asarray(got), values)


@requirement("RT-033", "RT-034", "RT-039")
def test_predict_maps_tensor_columns(component: Runtime, tmp_path: Path) -> None:
    """An arrow.fixed_shape_tensor column feeds [rows, 2, 3] and a rank-3 float output becomes
    one; a rank-3 bool tensor travels as nested fixed-size lists."""
    values = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    predictor = interlock.load_predictor(_save(tmp_path / "f", identity(["N", 2, 3])),
                                         runtime=component.name)
    tensor_type = pa.fixed_shape_tensor(pa.float32(), [2, 3])
    column = pa.ExtensionArray.from_storage(tensor_type, _fixed_list(values.reshape(2, 6)))
    result = predictor.predict(pa.record_batch({"x": column}))
    assert result.schema.field("y").type == tensor_type, f"got {result.schema.field('y').type}"
    np.testing.assert_array_equal(result.column("y").to_numpy_ndarray(), values)
    flags = np.array([[[True, False], [False, True]]] * 3)
    predictor = interlock.load_predictor(
        _save(tmp_path / "b", identity(["N", 2, 2], onnx.TensorProto.BOOL)), runtime=component.name)
    result = predictor.predict(pa.record_batch({"x": _fixed_list(flags)}))
    assert result.schema.field("y").type == pa.list_(pa.list_(pa.bool_(), 2), 2)
    assert result.column("y").to_pylist() == flags.tolist()


@requirement("RT-031", "RT-036", "RT-037")
def test_predict_refuses_missing_mistyped_and_null_columns(
    component: Runtime, tmp_path: Path
) -> None:
    """A missing column, a column of another type (never cast) and a null are refused by name."""
    artifact = _save(tmp_path / "s", identity(["N"]))
    predictor = interlock.load_predictor(artifact, runtime=component.name)
    for batch, words in (
        (pa.record_batch({"z": pa.array([1.0], pa.float32())}), ["'x'", "z"]),
        (pa.record_batch({"x": pa.array([1.0], pa.float64())}), ["'x'", "double", "float32"]),
        (pa.record_batch({"x": pa.array([1.0, None], pa.float32())}), ["'x'", "1 null"]),
    ):
        with pytest.raises(SignatureMismatch) as caught:
            predictor.predict(batch)
        message = str(caught.value)
        assert all(w in message for w in words), f"{message!r} does not name {words}"
    twice = pa.RecordBatch.from_arrays([pa.array([1.0], pa.float32())] * 2, names=["x", "x"])
    with pytest.raises(SignatureMismatch):
        predictor.predict(twice)


@requirement("RT-040")
def test_predict_refuses_outputs_that_are_not_rows(component: Runtime, tmp_path: Path) -> None:
    """A rank-0 output cannot become a column: SignatureMismatch naming it."""
    artifact = _save(tmp_path / "s", scalar_sum())
    predictor = interlock.load_predictor(artifact, runtime=component.name)
    batch = pa.record_batch({"x": _fixed_list(np.ones((2, 3), dtype=np.float32))})
    with pytest.raises(SignatureMismatch) as caught:
        predictor.predict(batch)
    assert "'y'" in str(caught.value) and "infer" in str(caught.value), str(caught.value)
