"""Exporters: framework model -> ONNX model + signature + column mapping (spec: exporter.md)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from interlock.artifacts import ExportedModel
from interlock.plugins import Component, parse_options

if TYPE_CHECKING:
    from pydantic import BaseModel


__all__ = ["ExportedModel", "Exporter"]


class Exporter(Component, ABC, kind="exporter"):
    """Turns models of one framework into ONNX.

    A vendor implements ``can_export`` and ``export``; overriding :attr:`options_model` (a
    pydantic model with ``extra="forbid"``) lets :meth:`parse_options` validate user options
    with a message that names the bad option and lists the valid ones.
    """

    @property
    def options_model(self) -> type[BaseModel] | None:
        """The pydantic model of this exporter's options, or None if it takes none.

        A property, so that an exporter imports its options module (and pydantic) only when
        options are parsed, never when the plugin is loaded.
        """
        return None

    @abstractmethod
    def can_export(self, model: object) -> bool:
        """Whether ``model`` is of the framework this exporter handles (cheap, no import)."""

    @abstractmethod
    def export(self, model: object, sample: object, options: dict[str, Any]) -> ExportedModel:
        """Export ``model``; ``sample`` (an Arrow table or NumPy array) fixes the inputs."""

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """Validate ``options`` against :attr:`options_model`.

        Returns the options model instance (or None when the exporter takes no options and
        none were given); raises :class:`interlock.ExportError` naming the offending option.
        """
        from interlock.errors import ExportError

        return parse_options(self, self.options_model, options, error=ExportError,
                             without_options="call export() without options")
