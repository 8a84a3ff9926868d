"""Exporters: framework model -> ONNX model + signature + column mapping (spec: exporter.md)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock._component import Component

if TYPE_CHECKING:
    import onnx

    from interlock._signature import ColumnMapping, Signature

__all__ = ["ExportedModel", "Exporter"]


@dataclass
class ExportedModel:
    """What an exporter produces: ready to be saved with :func:`interlock.save_artifact`."""

    model: onnx.ModelProto
    signature: Signature
    columns: ColumnMapping
    metadata: dict[str, Any] = field(default_factory=dict)


class Exporter(Component, ABC):
    """Turns models of one framework into ONNX."""

    @abstractmethod
    def can_export(self, model: object) -> bool:
        """Whether ``model`` is of the framework this exporter handles (cheap, no import)."""

    @abstractmethod
    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Export ``model``; ``sample`` (an Arrow table or NumPy array) fixes the inputs."""
