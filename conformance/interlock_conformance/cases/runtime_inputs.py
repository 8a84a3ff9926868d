"""Runtime cases about what ``Predictor.infer`` lets in (spec: runtime.md RT-011 to RT-018):
every input that does not fit the signature is refused with ``SignatureMismatch`` naming the
tensor, what the signature declares and what was received, and nothing is cast or modified.
"""

from __future__ import annotations

import numpy as np
import pytest

import interlock
from interlock import Predictor, Runtime, SignatureMismatch
from interlock.tensors import compare_outputs, tolerances_for

from interlock_conformance.markers import capability, component_kind, requirement, when_unclaimed
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("runtime")


def _load(component: Runtime, store: str, name: str) -> Predictor:
    return interlock.load_predictor(f"{name}:1", runtime=component.name, store=store)


def _refused(predictor: Predictor, inputs: object, *words: str) -> str:
    with pytest.raises(SignatureMismatch) as caught:
        predictor.infer(inputs)  # type: ignore[arg-type]
    message = str(caught.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"the error {message!r} does not name {missing}"
    return message


@requirement("RT-011")
def test_missing_and_unexpected_inputs_are_named(component: Runtime, golden_store: str) -> None:
    """A missing input is named with its type, an unexpected one with the closest declared
    name; a non-mapping is refused."""
    predictor = _load(component, golden_store, "add_float32")
    a = np.zeros((2, 4), dtype=np.float32)
    _refused(predictor, {"a": a}, "'b'", "float32[batch,4]")
    _refused(predictor, {"a": a, "B": a}, "'B'", "'b'")
    _refused(predictor, {"a": a, "b": a, "c": a}, "'c'")
    _refused(predictor, [a, a])


@requirement("RT-012")
def test_values_must_be_arrays(component: Runtime, golden_store: str) -> None:
    """A list or a masked array is refused, naming the tensor and what was received."""
    predictor = _load(component, golden_store, "identity_float32")
    _refused(predictor, {"x": [[1.0, 2.0, 3.0]]}, "'x'", "list")
    masked = np.ma.masked_array(np.zeros((1, 3), dtype=np.float32), mask=[[True, False, False]])
    _refused(predictor, {"x": masked}, "'x'")


@requirement("RT-013")
def test_element_types_are_never_cast(component: Runtime, golden_store: str) -> None:
    """float64 for float32, int32 for int64 and a byte-swapped float32 are refused in the
    spec's words, with the explicit conversion in the hint."""
    predictor = _load(component, golden_store, "mlp_float32")
    message = _refused(predictor, {"x": np.zeros((5, 4))}, "'x'", "expected float32[batch,4]",
                       "received float64[5,4]")
    assert message.startswith("input 'x' of model 'mlp_float32:1'"), message
    with pytest.raises(SignatureMismatch) as caught:
        predictor.infer({"x": np.zeros((5, 4))})
    assert "astype(numpy.float32)" in (caught.value.hint or ""), caught.value.hint
    _refused(predictor, {"x": np.zeros((5, 4), dtype=">f4")}, "'x'")
    _refused(_load(component, golden_store, "identity_int64"),
             {"x": np.zeros((2, 3), dtype=np.int32)}, "'x'", "int64", "int32")


@requirement("RT-014")
@capability("string-tensors")
def test_strings_are_str_only(component: Runtime, golden_store: str, vectors: VectorIndex) -> None:
    """A NumPy str_ array gives what the object array of str gives; bytes are refused by
    element."""
    predictor = _load(component, golden_store, "identity_string")
    inputs = vectors.inputs("identity_string")
    as_unicode = {"x": inputs["x"].astype(str)}
    problems = compare_outputs(predictor.infer(inputs), predictor.infer(as_unicode))
    assert not problems, f"a str_ input: {problems}"
    as_bytes = inputs["x"].copy()
    as_bytes[0, 0] = b"a"
    _refused(predictor, {"x": as_bytes}, "'x'", "bytes")


@requirement("RT-015")
def test_ranks_and_fixed_sizes_are_checked(component: Runtime, golden_store: str) -> None:
    """A wrong rank or a wrong fixed size is refused naming the dimension; a value missing
    only its leading dimension gets a hint that says so."""
    predictor = _load(component, golden_store, "mlp_float32")
    _refused(predictor, {"x": np.zeros((5, 3), dtype=np.float32)}, "'x'", "dimension 1")
    _refused(predictor, {"x": np.zeros((1, 5, 4), dtype=np.float32)}, "'x'", "float32[1,5,4]")
    with pytest.raises(SignatureMismatch) as caught:
        predictor.infer({"x": np.zeros(4, dtype=np.float32)})
    hint = (caught.value.hint or "").lower()
    assert "dimension" in hint and ("leading" in hint or "batch" in hint or "row" in hint), hint


@requirement("RT-016")
def test_symbolic_dimensions_agree_across_inputs(component: Runtime, golden_store: str) -> None:
    """a [2, 4] with b [3, 4] (both [batch, 4]) is refused naming both tensors and sizes."""
    predictor = _load(component, golden_store, "add_float32")
    _refused(predictor, {"a": np.zeros((2, 4), np.float32), "b": np.zeros((3, 4), np.float32)},
             "'a'", "'b'", "batch", "2", "3")


@requirement("RT-018")
def test_inputs_are_not_modified(
    component: Runtime, golden_store: str, vectors: VectorIndex
) -> None:
    """Read-only inputs work and every input keeps its values."""
    names = ["add_float32", "mlp_float32", "identity_int32"]
    if "int64-range" in component.capabilities:
        names.append("identity_int64")
    for name in names:
        inputs = vectors.inputs(name)
        copies = {k: v.copy() for k, v in inputs.items()}
        for value in inputs.values():
            value.flags.writeable = False
        _load(component, golden_store, name).infer(inputs)
        for key, value in inputs.items():
            np.testing.assert_array_equal(
                value, copies[key], err_msg=f"{name}: input {key!r} changed"
            )


@requirement("RT-019")
def test_validation_adds_little_to_a_call(component: Runtime, golden_store: str) -> None:
    """Checking one input and one output adds at most 10 µs to a batch-1 call (fastest of
    many interleaved calls to infer and to the runtime's own _run)."""
    import time

    predictor = _load(component, golden_store, "identity_float32")
    inputs = {"x": np.ones((1, 3), dtype=np.float32)}
    checked = unchecked = float("inf")
    for _ in range(1500):
        started = time.perf_counter()
        predictor.infer(inputs)
        middle = time.perf_counter()
        predictor._run(dict(inputs))
        ended = time.perf_counter()
        checked, unchecked = min(checked, middle - started), min(unchecked, ended - middle)
    overhead = checked - unchecked
    assert overhead <= 10e-6, (
        f"infer takes {checked * 1e6:.1f} µs, the runtime's _run {unchecked * 1e6:.1f} µs: "
        f"validation adds {overhead * 1e6:.1f} µs, the spec allows 10"
    )


@requirement("RT-051", "RT-070")
@when_unclaimed("int64-range")
def test_int64_beyond_int32_is_refused_without_the_capability(
    component: Runtime, golden_store: str
) -> None:
    """A runtime that does not claim int64-range refuses an int64 input outside the int32 range
    with an InterlockError naming the input, and still runs int64 inputs inside it."""
    predictor = _load(component, golden_store, "identity_int64")
    inside = np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int64)
    assert np.array_equal(predictor.infer({"x": inside})["y"], inside)
    for value in (2**31, -(2**31) - 1, 2**62):
        with pytest.raises(interlock.InterlockError) as caught:
            predictor.infer({"x": np.array([[0, value, 0]], dtype=np.int64)})
        assert "'x'" in str(caught.value), str(caught.value)


@requirement("RT-052", "RT-070")
@when_unclaimed("float64-precision")
def test_float64_without_the_precision_capability(
    component: Runtime, golden_store: str, vectors: VectorIndex
) -> None:
    """A runtime that does not claim float64-precision still runs float64 models, agreeing
    with the exact outputs within RT-060's float32 row, and refuses a finite float64 input
    beyond float32's range with an InterlockError naming the input."""
    predictor = _load(component, golden_store, "exp_float64")
    inputs = vectors.inputs("exp_float64")
    outputs = predictor.infer(inputs)
    problems = compare_outputs(vectors.outputs("exp_float64"), outputs, tolerances_for(()))
    assert not problems, f"float64 outputs beyond the float32 tolerance: {problems}"
    identity = _load(component, golden_store, "identity_float64")
    inside = np.array([[-3.0e38, np.inf, np.nan]], dtype=np.float64)
    assert identity.infer({"x": inside})["y"].dtype == np.float64
    for value in (3.5e38, -1e300, float(np.finfo(np.float64).max)):
        with pytest.raises(interlock.InterlockError) as caught:
            identity.infer({"x": np.array([[0.0, value, 1.0]], dtype=np.float64)})
        assert "'x'" in str(caught.value), str(caught.value)
