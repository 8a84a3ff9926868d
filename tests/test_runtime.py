"""Predictor.infer validation, output checks, and load_predictor (spec: runtime.md)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from onnx import helper
from runtime_models import add, mlp, model, save, tensor, unary

import interlock
from interlock import (
    DeviceUnavailableError,
    InterlockError,
    PluginError,
    Predictor,
    Runtime,
    SignatureMismatch,
    SpecViolation,
)
from interlock.runtimes import parse_device
from interlock_conformance import requirement


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def mlp_predictor(store: Path) -> Predictor:
    return interlock.load_predictor(save(store, mlp(features=4), name="mlp"), intra_op_num_threads=1)


# -- inputs: names ---------------------------------------------------------------------------


def test_valid_inputs_run_and_return_every_output(mlp_predictor: Predictor) -> None:
    out = mlp_predictor.infer({"x": np.ones((5, 4), np.float32)})
    assert list(out) == ["y"]
    assert out["y"].dtype == np.float32 and out["y"].shape == (5, 3)


def test_missing_input_names_the_tensor_and_its_type(store: Path) -> None:
    predictor = interlock.load_predictor(save(store, add("float32")))
    with pytest.raises(SignatureMismatch, match=r"missing 'b' \(float32\[batch,3\]\)") as info:
        predictor.infer({"a": np.ones((1, 3), np.float32)})
    assert "a float32[batch,3], b float32[batch,3]" in str(info.value.hint)


def test_unexpected_input_is_named_with_a_suggestion(mlp_predictor: Predictor) -> None:
    with pytest.raises(SignatureMismatch, match=r"unexpected 'X' \(did you mean 'x'\?\)"):
        mlp_predictor.infer({"X": np.ones((1, 4), np.float32)})
    with pytest.raises(SignatureMismatch, match=r"unexpected 'extra'"):
        mlp_predictor.infer({"x": np.ones((1, 4), np.float32), "extra": np.ones(1)})


def test_inputs_must_be_a_mapping(mlp_predictor: Predictor) -> None:
    with pytest.raises(SignatureMismatch, match="must be a mapping"):
        mlp_predictor.infer([np.ones((1, 4), np.float32)])  # type: ignore[arg-type]


# -- inputs: dtypes ----------------------------------------------------------------------------


def test_wrong_dtype_is_never_cast(mlp_predictor: Predictor) -> None:
    with pytest.raises(SignatureMismatch) as info:
        mlp_predictor.infer({"x": np.ones((2, 4), np.float64)})
    assert "input 'x' of model 'mlp:1': expected float32[batch,4], received float64[2,4]" in str(info.value)
    assert "astype(numpy.float32)" in str(info.value.hint)


def test_non_native_byte_order_is_refused_with_a_hint(mlp_predictor: Predictor) -> None:
    with pytest.raises(SignatureMismatch, match="non-native byte order") as info:
        mlp_predictor.infer({"x": np.ones((2, 4), np.dtype(">f4"))})
    assert "newbyteorder" in str(info.value.hint)


@pytest.mark.parametrize(
    ("value", "received"),
    [([[1.0, 2.0, 3.0, 4.0]], "list"), (3.0, "float"), (None, "NoneType")],
)
def test_non_arrays_are_refused(mlp_predictor: Predictor, value: Any, received: str) -> None:
    with pytest.raises(SignatureMismatch, match=f"expected a numpy.ndarray float32\\[batch,4\\], received {received}"):
        mlp_predictor.infer({"x": value})


def test_masked_arrays_are_refused(mlp_predictor: Predictor) -> None:
    masked = np.ma.masked_array(np.ones((1, 4), np.float32), mask=[[0, 1, 0, 0]])
    with pytest.raises(SignatureMismatch, match="masked array"):
        mlp_predictor.infer({"x": masked})


def test_array_subclasses_and_non_contiguous_views_are_accepted(mlp_predictor: Predictor) -> None:
    base = np.arange(40, dtype=np.float32).reshape(5, 8)
    view = base[:, ::2]
    assert not view.flags.c_contiguous
    expected = mlp_predictor.infer({"x": np.ascontiguousarray(view)})["y"]
    np.testing.assert_array_equal(mlp_predictor.infer({"x": view})["y"], expected)


# -- inputs: shapes --------------------------------------------------------------------------


def test_wrong_rank_suggests_the_missing_batch_dimension(mlp_predictor: Predictor) -> None:
    with pytest.raises(SignatureMismatch, match=r"expected float32\[batch,4\], received float32\[4\]") as info:
        mlp_predictor.infer({"x": np.ones(4, np.float32)})
    assert "value[None]" in str(info.value.hint)


def test_wrong_fixed_dimension_is_named(mlp_predictor: Predictor) -> None:
    with pytest.raises(SignatureMismatch, match=r"received float32\[2,5\] \(dimension 1 must be 4\)"):
        mlp_predictor.infer({"x": np.ones((2, 5), np.float32)})


def test_symbolic_dimensions_must_agree_across_inputs(store: Path) -> None:
    predictor = interlock.load_predictor(save(store, add("float32")))
    with pytest.raises(SignatureMismatch) as info:
        predictor.infer({"a": np.ones((2, 3), np.float32), "b": np.ones((4, 3), np.float32)})
    message = str(info.value)
    assert "input 'b'" in message and "('batch') is 4" in message and "input 'a'" in message
    assert "is 2" in message


def test_symbolic_dimension_repeated_within_one_tensor(store: Path) -> None:
    square = model(
        [helper.make_node("Transpose", ["x"], ["y"])],
        [tensor("x", "float32", ["n", "n"])],
        [tensor("y", "float32", ["n", "n"])],
    )
    predictor = interlock.load_predictor(save(store, square))
    assert predictor.infer({"x": np.eye(3, dtype=np.float32)})["y"].shape == (3, 3)
    with pytest.raises(SignatureMismatch, match=r"dimension 1 \('n'\) is 2"):
        predictor.infer({"x": np.ones((3, 2), np.float32)})


def test_unknown_dimensions_accept_any_size(store: Path) -> None:
    predictor = interlock.load_predictor(save(store, unary("Identity", "int32", [None, 2])))
    assert predictor.infer({"x": np.ones((7, 2), np.int32)})["y"].shape == (7, 2)


def test_zero_rows_run(mlp_predictor: Predictor) -> None:
    assert mlp_predictor.infer({"x": np.ones((0, 4), np.float32)})["y"].shape == (0, 3)


# -- inputs: strings ---------------------------------------------------------------------------


def test_string_inputs_accept_object_and_str_arrays(store: Path) -> None:
    predictor = interlock.load_predictor(save(store, unary("Identity", "string", ["batch"])))
    for value in (np.array(["a", "bé"], dtype=object), np.array(["a", "bé"])):
        out = predictor.infer({"x": value})["y"]
        assert out.dtype == object and out.tolist() == ["a", "bé"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([b"a", b"b"], dtype=object), "element 0 .* is bytes"),
        (np.array(["a", 3], dtype=object), "element 1 .* is int"),
        (np.array([b"a", b"b"]), r"received bytes_\[2\]"),
        (np.array([1.0, 2.0]), r"received float64\[2\]"),
    ],
)
def test_string_inputs_refuse_non_str_elements(store: Path, value: np.ndarray, message: str) -> None:
    predictor = interlock.load_predictor(save(store, unary("Identity", "string", ["batch"])))
    with pytest.raises(SignatureMismatch, match=message):
        predictor.infer({"x": value})


def test_bfloat16_signatures_are_refused_at_load(store: Path) -> None:
    artifact = save(store, unary("Identity", "bfloat16"))
    for runtime in ("onnxruntime", "reference"):
        with pytest.raises(SignatureMismatch, match=r"bfloat16 tensors \('x' bfloat16\[batch,3\]"):
            interlock.load_predictor(artifact, runtime)


# -- outputs -------------------------------------------------------------------------------


class _Scripted(Predictor):
    """A deliberately broken predictor: returns whatever the test scripted."""

    def __init__(self, artifact: interlock.Artifact, result: Any) -> None:
        super().__init__(artifact.signature, artifact.columns, runtime_name="scripted", model="m:1")
        self.result = result

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"y": np.ones((2, 3), np.float64)}, r"returned output 'y' of model 'm:1' as float64\[2,3\]"),
        ({"y": np.ones((2, 4), np.float32)}, r"\(dimension 1 must be 3\)"),
        ({"y": np.ones((3, 3), np.float32)}, r"dimension 0 \('batch'\) must equal input 'x' dimension 0, which is 2"),
        ({"y": np.ones(6, np.float32)}, r"as float32\[6\], but the signature declares float32\[batch,3\]"),
        ({"y": [[1.0, 2.0, 3.0]]}, "as list"),
        ({}, "returned outputs none"),
        ({"y": np.ones((2, 3), np.float32), "z": np.ones(1)}, "returned outputs 'y', 'z'"),
        ([np.ones((2, 3), np.float32)], "returned a list"),
    ],
)
def test_outputs_that_break_the_signature_are_spec_violations(
    store: Path, result: Any, message: str
) -> None:
    predictor = _Scripted(save(store, mlp(features=4)), result)
    with pytest.raises(SpecViolation, match=message) as info:
        predictor.infer({"x": np.ones((2, 4), np.float32)})
    assert "runtime 'scripted'" in str(info.value) and info.value.component == "scripted"


def test_string_outputs_are_normalised_to_object_arrays(store: Path) -> None:
    artifact = save(store, unary("Identity", "string", ["batch"]))
    out = _Scripted(artifact, {"y": np.array(["p", "q"])}).infer({"x": np.array(["a", "b"])})
    assert out["y"].dtype == object and out["y"].tolist() == ["p", "q"]
    with pytest.raises(SpecViolation, match="element 0 .* is bytes"):
        _Scripted(artifact, {"y": np.array([b"p", b"q"], dtype=object)}).infer({"x": np.array(["a", "b"])})


@requirement("RT-021")
def test_runtime_exceptions_are_wrapped_once_naming_the_runtime(store: Path) -> None:
    predictor = _Scripted(save(store, mlp(features=4)), ValueError("kernel exploded"))
    with pytest.raises(PluginError, match="runtime 'scripted' failed while running model 'm:1': ValueError: kernel exploded") as info:
        predictor.infer({"x": np.ones((1, 4), np.float32)})
    assert isinstance(info.value.__cause__, ValueError)


@requirement("RT-021")
def test_interlock_errors_from_the_runtime_pass_through(store: Path) -> None:
    predictor = _Scripted(save(store, mlp(features=4)), DeviceUnavailableError("gpu fell off"))
    with pytest.raises(DeviceUnavailableError, match="gpu fell off") as info:
        predictor.infer({"x": np.ones((1, 4), np.float32)})
    assert info.value.component == "scripted"


def test_a_predictor_that_skips_base_init_is_still_checked(store: Path) -> None:
    artifact = save(store, mlp(features=4))

    class Lazy(Predictor):
        def __init__(self) -> None:  # sets the attributes without calling Predictor.__init__
            self.signature, self.columns = artifact.signature, artifact.columns
            self.runtime_name, self.device = "lazy", "cpu"

        def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"y": np.zeros((len(inputs["x"]), 3), np.float32)}

    with pytest.raises(SignatureMismatch):
        Lazy().infer({"x": np.ones((1, 4), np.float64)})
    assert Lazy().infer({"x": np.ones((2, 4), np.float32)})["y"].shape == (2, 3)


# -- load_predictor ---------------------------------------------------------------------------


def test_load_by_reference_string_in_a_store(store: Path) -> None:
    artifact = save(store, mlp(features=4), name="mlp", version="7")
    for ref in ("mlp:7", "mlp", artifact.ref):
        predictor = interlock.load_predictor(ref, store=str(store))
        assert predictor.signature == artifact.signature
        assert predictor.model == "mlp:7" and predictor.runtime_name == "onnxruntime"


def test_store_with_a_loaded_artifact_is_an_error(store: Path) -> None:
    artifact = save(store, mlp(features=4))
    with pytest.raises(InterlockError, match="store= only applies"):
        interlock.load_predictor(artifact, store=str(store))


def test_load_predictor_refuses_other_objects() -> None:
    with pytest.raises(InterlockError, match="takes an interlock.Artifact or a reference string"):
        interlock.load_predictor(42)  # type: ignore[arg-type]


def test_unknown_runtime_lists_the_installed_ones(store: Path) -> None:
    with pytest.raises(PluginError, match=r"no runtime named 'onnxruntim'.*did you mean 'onnxruntime'"):
        interlock.load_predictor(save(store, mlp(features=4)), runtime="onnxruntim")


@pytest.mark.parametrize("device", ["gpu", "tpu:0"])
def test_device_kind_the_runtime_lacks(store: Path, device: str) -> None:
    with pytest.raises(DeviceUnavailableError, match=f"does not run on device '{device}' \\(it supports: cpu, cuda\\)"):
        interlock.load_predictor(save(store, mlp(features=4)), device=device)


@pytest.mark.parametrize("device", ["", "CUDA", "cuda:", "cuda:x", "cuda:-1", "cpu:0:1"])
def test_malformed_devices(device: str) -> None:
    with pytest.raises(DeviceUnavailableError, match="malformed device"):
        parse_device(device)


def test_parse_device() -> None:
    assert parse_device("cpu") == ("cpu", None)
    assert parse_device("cuda:1") == ("cuda", 1)


def test_runtime_options_are_validated_with_the_valid_ones_in_the_hint(store: Path) -> None:
    artifact = save(store, mlp(features=4))
    with pytest.raises(InterlockError, match="invalid options for runtime 'onnxruntime': unknown option 'threads'") as info:
        interlock.load_predictor(artifact, threads=2)
    assert "intra_op_num_threads" in str(info.value.hint)
    with pytest.raises(InterlockError, match="intra_op_num_threads: Input should be greater than or equal to 0"):
        interlock.load_predictor(artifact, intra_op_num_threads=-1)


def test_a_runtime_without_options_refuses_any(store: Path) -> None:
    class Plain(Runtime):
        name = "plain"

        def load(self, artifact: interlock.Artifact, device: str, options: dict[str, Any]) -> Predictor:
            raise NotImplementedError

    assert Plain().parse_options({}) is None
    with pytest.raises(InterlockError, match="runtime 'plain' takes no options, got \\['x'\\]"):
        Plain().parse_options({"x": 1})


class _Misbehaving(Runtime):
    """A runtime plugin that breaks the load() contract in a scripted way."""

    name = "misbehaving"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def load(self, artifact: interlock.Artifact, device: str, options: dict[str, Any]) -> Predictor:
        if self.mode == "raise":
            raise RuntimeError("cannot open model")
        if self.mode == "not-a-predictor":
            return "predictor"  # type: ignore[return-value]
        other = interlock.Signature(inputs=[], outputs=artifact.signature.outputs)
        return _WrongSignature(other)


class _WrongSignature(Predictor):
    def __init__(self, signature: interlock.Signature) -> None:
        super().__init__(signature, runtime_name="misbehaving")

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("raise", PluginError, "_Misbehaving 'misbehaving' from .* failed while loading m@sha256:.*RuntimeError: cannot open model"),
        ("not-a-predictor", SpecViolation, "returned str from load"),
        ("wrong-signature", SpecViolation, "signature that differs from the artifact's manifest"),
    ],
)
def test_load_contract_is_enforced(store: Path, mode: str, error: type[Exception], message: str) -> None:
    plugin = SimpleNamespace(interlock_runtimes=interlock.hookimpl(lambda: [_Misbehaving(mode)]))
    interlock.get_registry().register(plugin, name="misbehaving")
    with pytest.raises(error, match=message):
        interlock.load_predictor(save(store, mlp(features=4)), runtime="misbehaving")


def test_predictor_repr(mlp_predictor: Predictor) -> None:
    assert repr(mlp_predictor) == "<OnnxRuntimePredictor 'mlp:1' on onnxruntime/cpu>"


@pytest.mark.parametrize("runtime", ["onnxruntime", "reference"])
def test_inputs_are_not_modified(store: Path, runtime: str) -> None:
    predictor = interlock.load_predictor(save(store, mlp(features=4)), runtime)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    kept = x.copy()
    predictor.infer({"x": x})
    np.testing.assert_array_equal(x, kept)
    words = np.array(["a", "b"], dtype=object)
    strings = interlock.load_predictor(save(store, unary("Identity", "string", ["batch"]), name="s"), runtime)
    strings.infer({"x": words})
    assert words.tolist() == ["a", "b"]
