"""PyTorch samples: an MLP regressor, a classifier head and a module of two named inputs.

Each is exported from its ``table`` (float64 columns, cast to float32 inside the graph): the
regressor and the classifier read the columns ``f0 .. f3`` as one input; the two-input module
reads two vector columns, ``dense`` (3 values) and ``wide`` (2 values), one input each
(docs/pytorch.md, "Which columns feed the module").
"""

from __future__ import annotations

from typing import Any

from interlock_conformance.samples import ExportSample

__all__ = ["FEATURES", "ROWS", "build"]

ROWS, FEATURES = 40, 4
#: float32 computation (EXP-010).
CLOSE = (1e-4, 1e-5)


def build() -> list[ExportSample]:
    """The samples, or [] when torch is not installed."""
    try:
        import numpy as np
        import pyarrow as pa
        import torch
    except ImportError:
        return []
    generator = torch.Generator().manual_seed(20240601)
    x = np.random.default_rng(20240601).standard_normal((ROWS, FEATURES))
    table = pa.table({f"f{i}": x[:, i] for i in range(FEATURES)})
    regressor, classifier, two = _modules(torch, generator)
    features = torch.from_numpy(x).float()
    with torch.no_grad():
        prediction = regressor(features).numpy()
        head = classifier(features)
        score = two(dense=features[:, :3], wide=features[:, 2:])["score"].numpy()
    vectors = pa.table({
        "dense": pa.FixedSizeListArray.from_arrays(pa.array(x[:, :3].reshape(-1)), 3),
        "wide": pa.FixedSizeListArray.from_arrays(pa.array(x[:, 2:].reshape(-1)), 2),
    })
    return [
        ExportSample("regressor", "pytorch", regressor, table, x, {"output": prediction},
                     {"output": CLOSE}),
        ExportSample("classifier", "pytorch", classifier, table, x,
                     {"label": head["label"].numpy(),
                      "probabilities": head["probabilities"].numpy()},
                     {"label": None, "probabilities": CLOSE}),
        ExportSample("two-inputs", "pytorch", two, vectors, x, {"score": score},
                     {"score": CLOSE}),
    ]


def _modules(torch: Any, generator: Any) -> tuple[Any, Any, Any]:
    """The three modules, with weights drawn from ``generator`` (the same in every run)."""

    class ClassifierHead(torch.nn.Module):  # type: ignore[misc]
        """Three classes: a dict of the label (int64) and the probabilities."""

        def __init__(self) -> None:
            super().__init__()
            self.logits = torch.nn.Linear(FEATURES, 3)

        def forward(self, x: Any) -> dict[str, Any]:
            probabilities = torch.softmax(self.logits(x), dim=1)
            return {"label": torch.argmax(probabilities, dim=1),
                    "probabilities": probabilities}

    class TwoInputs(torch.nn.Module):  # type: ignore[misc]
        """Two named inputs: a dense vector and a wide one, one score."""

        def __init__(self) -> None:
            super().__init__()
            self.dense = torch.nn.Linear(3, 1)
            self.wide = torch.nn.Linear(2, 1)

        def forward(self, dense: Any, wide: Any) -> dict[str, Any]:
            return {"score": self.dense(dense) + self.wide(wide)}

    modules = (
        torch.nn.Sequential(torch.nn.Linear(FEATURES, 8), torch.nn.Tanh(),
                            torch.nn.Linear(8, 1)),
        ClassifierHead(),
        TwoInputs(),
    )
    with torch.no_grad():
        for module in modules:
            for parameter in module.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
            module.eval()
    return modules
