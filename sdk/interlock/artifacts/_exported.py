"""A model ready to be saved as an artifact: what an exporter produces (spec: exporter.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

    from interlock.artifacts._text_info import TextInfo
    from interlock.tensors import ColumnMapping, Signature

__all__ = ["ExportedModel"]


@dataclass
class ExportedModel:
    """What an exporter produces: ready to be saved with :func:`interlock.save_artifact`.

    ``signature`` describes the graph's inputs and outputs (symbolic batch dimension included);
    ``columns`` says which Arrow columns feed each input and which column each output becomes;
    ``metadata`` is JSON-compatible and lands in the manifest's ``metadata``. A language or
    embedding model also brings ``text`` (the manifest's ``text`` section, spec text.md) and
    the ``files`` it names (``tokenizer.json``, a chat template), saved and digested beside
    the graph.
    """

    model: onnx.ModelProto
    signature: Signature
    columns: ColumnMapping
    metadata: dict[str, Any] = field(default_factory=dict)
    text: TextInfo | None = None
    files: dict[str, bytes] = field(default_factory=dict)
