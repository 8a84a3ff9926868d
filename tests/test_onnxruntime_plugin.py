"""The ``onnxruntime`` reference runtime plugin (spec: runtime.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from runtime_models import mlp, save, unary

import interlock
from interlock import ArtifactIntegrityError, DeviceUnavailableError, InterlockError, MissingDependencyError
from interlock_conformance import requirement


@requirement("PLG-022")
def test_registered_through_its_entry_point_as_a_fallback() -> None:
    registry = interlock.get_registry()
    runtime = registry.get("runtime", "onnxruntime")
    assert runtime.devices == ("cpu", "cuda")
    assert runtime.priority == interlock.FALLBACK_PRIORITY
    assert {"external-data", "float16", "string-tensors"} <= runtime.capabilities
    owner = registry.owner(runtime)
    assert owner is not None and owner.name == "interlock_onnxruntime"


def test_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, interlock_onnxruntime.plugin as p; p.interlock_runtimes(); "
        "print([m for m in ('onnxruntime', 'numpy', 'pydantic', 'pyarrow', 'onnx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_options_reach_the_session(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(
        save(tmp_path, mlp()),
        intra_op_num_threads=1,
        inter_op_num_threads=2,
        graph_optimization_level="basic",
        execution_mode="parallel",
        enable_mem_pattern=False,
    )
    options = predictor.session.get_session_options()  # type: ignore[attr-defined]
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 2
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert options.enable_mem_pattern is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_threads": 1}, "unknown option 'num_threads'"),
        ({"graph_optimization_level": "max"}, "graph_optimization_level: Input should be 'disable', 'basic', 'extended' or 'all'"),
        ({"log_severity_level": 9}, "log_severity_level: Input should be less than or equal to 4"),
        ({"providers": ["CPUExecutionProvider"]}, "unknown option 'providers'"),
    ],
)
def test_bad_options_are_named(tmp_path: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(InterlockError, match=message) as info:
        interlock.load_predictor(save(tmp_path, mlp()), **options)
    assert "valid options are: cuda_options, enable_cpu_mem_arena" in str(info.value.hint)


def test_profiling_writes_a_profile_where_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    predictor = interlock.load_predictor(save(tmp_path / "store", mlp()), enable_profiling=True, profile_file_prefix="run")
    predictor.infer({"x": np.ones((2, 8), np.float32)})
    profile = Path(predictor.session.end_profiling())  # type: ignore[attr-defined]
    assert profile.parent.resolve() == tmp_path.resolve() and profile.name.startswith("run")
    assert any(event.get("name") == "model_run" for event in json.loads(profile.read_text()))


def test_external_data_artifacts_load(tmp_path: Path) -> None:
    proto = mlp(features=32, hidden=256)
    inline = save(tmp_path, proto, name="inline")
    external = save(tmp_path, proto, name="external", external_data=True)
    assert "model.onnx.data" in [entry.path for entry in external.manifest.files]
    x = {"x": np.random.default_rng(0).standard_normal((3, 32)).astype(np.float32)}
    expected = interlock.load_predictor(inline).infer(x)["y"]
    np.testing.assert_array_equal(interlock.load_predictor(external).infer(x)["y"], expected)


def test_cuda_uses_the_cuda_provider_or_says_what_is_missing(tmp_path: Path) -> None:
    artifact = save(tmp_path, mlp())
    if "CUDAExecutionProvider" in ort.get_available_providers():  # onnxruntime-gpu on a GPU
        session = interlock.load_predictor(artifact, device="cuda").session  # type: ignore[attr-defined]
        assert session.get_providers()[0] == "CUDAExecutionProvider"
        assert session.get_provider_options()["CUDAExecutionProvider"]["device_id"] == "0"
        return
    for device in ("cuda", "cuda:1"):
        with pytest.raises(DeviceUnavailableError, match=f"device '{device}' needs onnxruntime's CUDAExecutionProvider") as info:
            interlock.load_predictor(artifact, device=device)
        assert "CPUExecutionProvider" in str(info.value)
        assert "pip install onnxruntime-gpu" in str(info.value.hint)


def test_cpu_takes_no_index(tmp_path: Path) -> None:
    with pytest.raises(DeviceUnavailableError, match="CPU device takes no index"):
        interlock.load_predictor(save(tmp_path, mlp()), device="cpu:0")


@requirement("PLG-042", "RT-007")
def test_missing_onnxruntime_says_which_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifact = save(tmp_path, mlp())
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes "import onnxruntime" fail
    with pytest.raises(MissingDependencyError, match="the 'onnxruntime' runtime needs the Python package 'onnxruntime'") as info:
        interlock.load_predictor(artifact)
    assert info.value.hint == "pip install 'interlock[onnxruntime]'"


class _Relabelled(interlock.Artifact):
    """A real artifact behind a manifest whose signature lies (a buggy store)."""

    def __init__(self, inner: interlock.Artifact, signature: interlock.Signature) -> None:
        self.manifest = inner.manifest.model_copy(
            update={"signature": signature, "columns": interlock.ColumnMapping.identity(signature)}
        )
        self.uri = inner.uri
        self._inner = inner

    def read_bytes(self, path: str) -> bytes:
        return self._inner.read_bytes(path)

    def local_dir(self) -> Path:
        return self._inner.local_dir()


def test_a_manifest_that_disagrees_with_the_model_is_refused(tmp_path: Path) -> None:
    inner = save(tmp_path, unary("Identity", "float32"))
    wrong = interlock.Signature(
        inputs=[interlock.TensorSpec(name="input", dtype="float32", shape=["batch", 3])],
        outputs=inner.signature.outputs,
    )
    with pytest.raises(ArtifactIntegrityError, match=r"manifest declares inputs \['input'\].*model.onnx has inputs \['x'\]"):
        interlock.load_predictor(_Relabelled(inner, wrong))


def test_concurrent_calls_on_one_predictor(tmp_path: Path) -> None:
    predictor = interlock.load_predictor(save(tmp_path, mlp()), intra_op_num_threads=1)
    batches = [np.full((i + 1, 8), i, np.float32) for i in range(16)]
    expected = [predictor.infer({"x": b})["y"] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: predictor.infer({"x": b})["y"], batches))
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_a_failing_session_is_reported_with_the_plugin(tmp_path: Path) -> None:
    from onnx import helper
    from runtime_models import model, tensor

    # Reshape to a shape the data cannot take: valid ONNX, fails only when it runs.
    reshape = model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [tensor("x", "float32", ["n"])],
        [tensor("y", "float32", [None, 3])],
        [("shape", np.array([-1, 3], np.int64))],
    )
    predictor = interlock.load_predictor(save(tmp_path, reshape))
    assert predictor.infer({"x": np.ones(6, np.float32)})["y"].shape == (2, 3)
    with pytest.raises(interlock.PluginError, match="runtime 'onnxruntime' from 'interlock_onnxruntime' .*failed while running model 'm:1'") as info:
        predictor.infer({"x": np.ones(4, np.float32)})
    assert info.value.plugin == "interlock_onnxruntime" and info.value.component == "onnxruntime"
