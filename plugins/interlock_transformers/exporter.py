"""The ``transformers`` exporter: a causal LM or a text encoder to a text artifact.

This module is imported when the plugin loads, so it imports only interlock's light base
classes; torch, transformers and onnxruntime are imported inside
:meth:`TransformersExporter.export`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError, MissingDependencyError
from interlock.exporters import ExportedModel, Exporter

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["TransformersExporter"]

_PURPOSE = "exporting transformers models"


def _is_pretrained_model(cls: type) -> bool:
    return any(
        base.__name__ == "PreTrainedModel" and base.__module__.startswith("transformers.")
        for base in getattr(cls, "__mro__", ())
    )


class TransformersExporter(Exporter):
    """Exports a ``transformers`` model with its tokenizer; parity checked before saving.

    ``sample`` is the tokenizer: a ``tokenizers.Tokenizer``, a fast ``transformers``
    tokenizer, or the path of a ``tokenizer.json``. It fixes what the graph reads, as a
    sample batch does for a tabular model.
    """

    name = "transformers"
    description = "Hugging Face transformers causal LMs and encoders to text artifacts"
    capabilities = frozenset({"sample:tokenizer", "framework:transformers"})

    @property
    def options_model(self) -> type[BaseModel]:
        """:class:`interlock_transformers.options.TransformersExportOptions`."""
        from interlock_transformers.options import TransformersExportOptions

        return TransformersExportOptions

    def can_export(self, model: object) -> bool:
        """True for ``transformers.PreTrainedModel`` instances, decided from the MRO."""
        try:
            return _is_pretrained_model(type(model))
        except Exception:  # an exotic metaclass; never raise (EXP-002)
            return False

    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Export ``model`` read through the tokenizer ``sample`` (rules: docs/text.md)."""
        from interlock_transformers.options import TransformersExportOptions

        opts = self.parse_options(options)
        assert isinstance(opts, TransformersExportOptions)
        for module, extra in (("torch", "pytorch"), ("transformers", "text"),
                              ("tokenizers", "text"), ("onnxruntime", "onnxruntime")):
            _import(module, extra)
        if not _is_pretrained_model(type(model)):
            raise ExportError(f"{type(model).__name__} is not a transformers PreTrainedModel",
                              hint="export a model loaded or built with transformers")
        from interlock_transformers._graph import export_text_model

        return export_text_model(model, sample, opts)


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(module, extra, purpose=_PURPOSE) from None
