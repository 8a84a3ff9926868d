"""Hook implementations of the ``interlock_genai`` plugin (onnxruntime-genai imported on load)."""

from __future__ import annotations

from interlock import hookimpl
from interlock.text import TextEngine
from interlock_genai.engine import GenaiEngine


@hookimpl
def interlock_text_engines() -> list[TextEngine]:
    """The ``onnxruntime-genai`` text engine."""
    return [GenaiEngine()]
