"""The parity check before saving (exporter.md EXP-051): the converted graph, run by
onnxruntime on the sample's rows, must predict what the framework predicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from interlock.exporters.tabular._sample import InputGroup

__all__ = ["check_parity"]


def check_parity(
    onnx_model: onnx.ModelProto,
    groups: list[InputGroup],
    rows: np.ndarray,
    expected: dict[str, np.ndarray],
    tolerance: tuple[float, float],
    framework: str,
) -> dict[str, Any]:
    """Run ``onnx_model`` on ``rows`` and compare with ``expected`` (labels exactly, except
    where the framework's top two probabilities tie within the tolerance; numbers within
    ``tolerance`` = (rtol, atol)). Returns what the manifest records; raises ExportError
    giving the largest difference otherwise."""
    import numpy as np
    import onnxruntime

    from interlock.tensors import DTYPES

    feeds = {g.tensor: rows[:, g.positions].astype(DTYPES[g.dtype].numpy or g.dtype) for g in groups}
    session = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, feeds)))
    rtol, atol = tolerance
    largest = 0.0
    for name, want in expected.items():
        if name not in got:
            raise ExportError(f"the ONNX model of the {framework} model has no output {name!r}",
                              hint="report the model to onnxmltools")
        actual = np.asarray(got[name]).reshape(want.shape)
        if name == "label":
            _check_labels(actual, want, expected.get("probabilities"), rtol, atol, framework)
            continue
        difference = np.abs(actual.astype(np.float64) - want.astype(np.float64))
        largest = max(largest, float(difference.max(initial=0.0)))
        if not np.allclose(actual, want, rtol=rtol, atol=atol):
            where = int(np.argmax(difference.reshape(len(want), -1).max(axis=1)))
            raise ExportError(
                f"the ONNX model does not predict like {framework} on the sample: {name!r} "
                f"differs by up to {float(difference.max()):.6g} (row {where}; tolerance "
                f"rtol={rtol:g}, atol={atol:g})",
                hint="report the model to onnxmltools, or loosen parity_rtol / parity_atol "
                "if the difference is acceptable",
            )
    return {"rows": int(len(rows)), "largest_difference": largest, "rtol": rtol, "atol": atol}


def _check_labels(
    actual: np.ndarray,
    want: np.ndarray,
    probabilities: np.ndarray | None,
    rtol: float,
    atol: float,
    framework: str,
) -> None:
    import numpy as np

    wrong = actual.astype(want.dtype) != want
    if probabilities is not None and probabilities.ndim == 2 and probabilities.shape[1] > 1:
        top = np.sort(probabilities, axis=1)[:, -2:]
        wrong &= ~np.isclose(top[:, 0], top[:, 1], rtol=rtol, atol=atol)  # EXP-010's ties
    if wrong.any():
        row = int(np.argmax(wrong))
        raise ExportError(
            f"the ONNX model does not predict like {framework} on the sample: 'label' differs "
            f"on {int(wrong.sum())} of {len(want)} rows (first: row {row}, {actual[row]!r} "
            f"instead of {want[row]!r})",
            hint="report the model to onnxmltools",
        )
