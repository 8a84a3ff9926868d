"""The ``pytorch`` exporter: ``torch.nn.Module`` to ONNX, through ``torch.onnx.export``.

This module is imported when the plugin loads, so it imports only interlock's light base
classes; torch, onnx and onnxruntime are imported inside :meth:`PyTorchExporter.export`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError, InterlockError, MissingDependencyError
from interlock.exporters import ExportedModel, Exporter
from interlock.plugins import FALLBACK_PRIORITY

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["PyTorchExporter"]

_PURPOSE = "exporting PyTorch modules"
_EXPORTER = "torch.onnx.export(dynamo=True)"


def _is_torch_module_class(cls: type) -> bool:
    return any(
        base.__module__ == "torch.nn" or base.__module__.startswith("torch.nn.")
        for base in getattr(cls, "__mro__", ())
        if base.__name__ == "Module"
    )


class PyTorchExporter(Exporter):
    """Exports a ``torch.nn.Module`` with a sample batch; parity checked before saving."""

    name = "pytorch"
    priority = FALLBACK_PRIORITY
    description = "PyTorch modules to ONNX (through torch.onnx.export, dynamo)"
    capabilities = frozenset({"sample:arrow", "sample:numpy", "sample:pandas",
                              "framework:pytorch"})

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock_pytorch.options.PyTorchExportOptions`."""
        from interlock_pytorch.options import PyTorchExportOptions

        return PyTorchExportOptions

    def can_export(self, model: object) -> bool:
        """True for instances of ``torch.nn.Module`` (a base class named ``Module`` defined
        in ``torch.nn``), decided from the class's MRO without importing torch."""
        try:
            return _is_torch_module_class(type(model))
        except Exception:  # an exotic metaclass; never raise (EXP-002)
            return False

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Export ``model`` on ``sample`` (rules: docs/pytorch.md)."""
        from interlock_pytorch.options import MIN_OPSET, PyTorchExportOptions

        opts = self.parse_options(options)
        assert isinstance(opts, PyTorchExportOptions)
        torch = _import("torch")
        _import("onnxscript")
        if not isinstance(model, torch.nn.Module):
            raise ExportError(
                f"{type(model).__name__} is not a torch.nn.Module",
                hint="export a torch.nn.Module instance",
            )
        from interlock_pytorch._capture import capture, eager_outputs, kept_state
        from interlock_pytorch._parity import check_parity
        from interlock_pytorch._sample import feeds_from_sample

        module_name = type(model).__name__
        opset = opts.target_opset or MIN_OPSET
        feeds = feeds_from_sample(model, sample, opts)
        with kept_state(model):
            derived, expected = eager_outputs(model, feeds)
            names = _output_names(derived, opts.output_names)
            onnx_model = capture(model, feeds, names, opts, opset)
        _check_graph(onnx_model, module_name)
        check_parity(onnx_model, module_name, feeds, names, expected)
        return _exported(onnx_model, feeds, model, opset, torch.__version__)


def _import(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, "pytorch", purpose=_PURPOSE) from None


def _output_names(derived: list[str], given: list[str] | None) -> list[str]:
    names = derived if given is None else list(given)
    if len(names) != len(derived):
        raise ExportError(
            f"output_names lists {len(names)} name(s) but the module returns {len(derived)} "
            f"output(s) ({', '.join(derived)})",
            hint="give one name per output",
        )
    if len(set(names)) != len(names):
        raise ExportError(f"output_names repeats a name: {names}", hint="name each output once")
    return names


def _check_graph(onnx_model: Any, module_name: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except Exception as exc:
        raise ExportError(
            f"torch.onnx.export produced an invalid ONNX graph for {module_name}: "
            f"{' '.join(str(exc).split())[:400]}",
            hint="try another target_opset, or report the module to PyTorch",
        ) from exc


def _exported(onnx_model: Any, feeds: Any, model: Any, opset: int, version: str) -> ExportedModel:
    from interlock.tensors import ColumnMapping, OutputBinding, Signature

    try:
        signature = Signature.from_onnx(onnx_model)
    except InterlockError as exc:
        raise ExportError(
            f"the ONNX graph of {type(model).__name__} cannot be an interlock artifact: "
            f"{exc.message}",
            hint="return plain tensors from forward",
        ) from exc
    columns = ColumnMapping(
        inputs=list(feeds.bindings),
        outputs=[OutputBinding(tensor=s.name, column=s.name) for s in signature.outputs],
    )
    cls = type(model)
    metadata = {
        "pytorch": {
            "version": version,
            "module": f"{cls.__module__}.{cls.__qualname__}",
            "opset": opset,
            "exporter": _EXPORTER,
        }
    }
    return ExportedModel(onnx_model, signature, columns, metadata)
