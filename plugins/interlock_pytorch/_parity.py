"""Export parity: the module's own outputs on the sample against onnxruntime on the graph.

Checked before anything is saved: a graph that computes something else than the module (a
forward that behaves differently while torch traces it, an operator exported wrongly) is
refused with the largest difference.
"""

from __future__ import annotations

from typing import Any

from interlock.errors import ExportError, MissingDependencyError

__all__ = ["TOLERANCES", "check_parity"]

#: (rtol, atol) per floating dtype; other dtypes must match exactly (exporter.md EXP-010).
TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-2, 1e-3),
    "float32": (1e-4, 1e-5),
    "float64": (1e-9, 1e-9),
}


def _session(onnx_model: Any) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(
            "onnxruntime", "pytorch", purpose="checking an exported PyTorch module"
        ) from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def check_parity(onnx_model: Any, module_name: str, feeds: Any, names: list[str],
                 expected: list[Any]) -> None:
    """Raise ExportError when the graph's outputs on the sample are not the module's."""
    import numpy as np

    session = _session(onnx_model)
    inputs = {name: tensor.numpy() for name, tensor in zip(feeds.names, feeds.tensors)}
    got = session.run(names, inputs)
    for name, want_tensor, actual in zip(names, expected, got):
        want = want_tensor.detach().numpy()
        actual = np.asarray(actual)
        if want.shape != actual.shape or want.dtype != actual.dtype:
            raise ExportError(
                f"the ONNX graph of {module_name} gives output {name!r} as {actual.dtype}"
                f"{list(actual.shape)} where the module gives {want.dtype}{list(want.shape)}",
                hint="report the module to PyTorch's exporter",
            )
        tolerance = TOLERANCES.get(want.dtype.name)
        if tolerance is None:
            close = np.array_equal(want, actual)
            largest = float(np.max(np.abs(want.astype(np.float64) - actual), initial=0.0))
        else:
            rtol, atol = tolerance
            close = bool(np.allclose(actual, want, rtol=rtol, atol=atol, equal_nan=True))
            largest = float(np.nanmax(np.abs(want.astype(np.float64) - actual), initial=0.0))
        if not close:
            allowed = "exactly" if tolerance is None else f"within rtol={tolerance[0]}, " \
                f"atol={tolerance[1]}"
            raise ExportError(
                f"the exported graph of {module_name} does not compute what the module does: "
                f"output {name!r} differs by up to {largest:.6g} on the sample (it must "
                f"match {allowed})",
                hint="check that forward does not behave differently while it is exported "
                "(torch.compiler.is_exporting, hooks, randomness); nothing was saved",
            )
