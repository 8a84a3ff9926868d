"""PyTorch exporter cases on what an exporter of tensor modules checks and keeps (spec:
exporter.md EXP-043 to EXP-047): the module's ``training`` flags are as they were, a
``target_opset`` no runtime runs is refused before the module is called, a graph that does not
compute what the module does is refused with the largest difference, and two exports of one
module on one sample give the same ONNX bytes without writing to the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock import ExportError, Exporter

from interlock_conformance.markers import capability, component_kind, requirement

pytestmark = component_kind("exporter")

_PYTORCH = "framework:pytorch"


def _module(torch: Any) -> Any:
    """A module with a dropout (which eval mode turns off) and a submodule left in eval mode,
    counting the calls of its forward."""

    class Dropped(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            generator = torch.Generator().manual_seed(3)
            self.linear = torch.nn.Linear(3, 2)
            with torch.no_grad():
                self.linear.weight.copy_(torch.randn(2, 3, generator=generator))
            self.drop = torch.nn.Dropout(0.5)
            self.head = torch.nn.Sequential(torch.nn.Linear(2, 2))
            self.calls = 0

        def forward(self, x: Any) -> Any:
            self.calls += 1
            return self.head(self.drop(self.linear(x)))

    module = Dropped()
    module.train()
    module.head.eval()
    return module


def _flags(module: Any) -> dict[str, bool]:
    return {name or "<root>": bool(sub.training) for name, sub in module.named_modules()}


@requirement("EXP-043")
@capability(_PYTORCH)
def test_training_flags_are_kept(component: Exporter) -> None:
    """A module in training mode (one submodule in eval mode) is exported as in eval mode (its
    dropout off: the graph passes the parity check) and keeps every ``training`` flag."""
    import torch

    module = _module(torch)
    before = _flags(module)
    component.export(module, torch.randn(8, 3, generator=torch.Generator().manual_seed(5)), {})
    after = _flags(module)
    assert after == before, (
        f"exporting a module whose training flags were {before} with {component.name!r} left "
        f"them {after} (exporter.md EXP-043: every submodule's flag is as it was afterwards)")


@requirement("EXP-044")
@capability(_PYTORCH)
@pytest.mark.parametrize("opset", [1, 99])
def test_a_target_opset_no_runtime_runs_is_refused_first(component: Exporter,
                                                         opset: int) -> None:
    """``target_opset`` 1 or 99 raises ExportError naming the option before the module runs."""
    import torch

    module = _module(torch)
    with pytest.raises(ExportError) as caught:
        component.export(module, torch.randn(8, 3), {"target_opset": opset})
    assert "target_opset" in str(caught.value), (
        f"export with target_opset={opset}: the ExportError does not name the option: "
        f"{caught.value} (exporter.md EXP-044)")
    assert module.calls == 0, (
        f"export with target_opset={opset} called the module's forward {module.calls} times "
        "before refusing the opset (exporter.md EXP-044: validated before any work)")


@requirement("EXP-045")
@capability(_PYTORCH)
def test_a_graph_that_differs_from_the_module_is_refused(component: Exporter) -> None:
    """A forward whose result depends on how often it ran (a Python counter, a constant in the
    graph) cannot be exported faithfully: ExportError naming the difference."""
    import torch

    class Counting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x: Any) -> Any:
            self.calls += 1
            return x * float(self.calls)

    with pytest.raises(ExportError) as caught:
        exported = component.export(Counting(), torch.ones(4, 3), {})
        pytest.fail(f"{component.name!r} exported a module whose output changes with each call "
                    f"(metadata {exported.metadata}): the exported graph was not compared with "
                    "the module's own outputs (exporter.md EXP-045)")
    message = str(caught.value)
    assert any(ch.isdigit() for ch in message), (
        f"the ExportError for a graph that differs from its module gives no difference: "
        f"{message} (exporter.md EXP-045: it gives the largest difference)")


@requirement("EXP-047")
@capability(_PYTORCH)
def test_two_exports_give_the_same_bytes_and_write_nothing(
    component: Exporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same module on the same sample, exported twice, gives identical ONNX bytes; the
    working directory stays empty."""
    import torch

    module = _module(torch)
    sample = torch.randn(8, 3, generator=torch.Generator().manual_seed(11))
    monkeypatch.chdir(tmp_path)
    first = component.export(module, sample, {}).model.SerializeToString()
    second = component.export(module, sample, {}).model.SerializeToString()
    assert first == second, (
        f"two exports of one module on one sample with {component.name!r} gave ONNX models of "
        f"{len(first)} and {len(second)} bytes that differ (exporter.md EXP-047)")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not left, f"exporting wrote {left} into the working directory (EXP-047, EXP-007)"
