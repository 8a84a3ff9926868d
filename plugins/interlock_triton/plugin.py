"""Hook implementations of the ``interlock_triton`` plugin: the read-only ``triton`` artifact
store (``triton:///path/to/model_repository``). Export is ``interlock artifact export-triton``
(:mod:`interlock_triton.cli`) or :func:`interlock_triton.export_triton`.

Kept light: tritonclient and onnx are imported when a repository is first read.
"""

from __future__ import annotations

from interlock import ArtifactStore, hookimpl

from interlock_triton.store import TritonRepositoryStore


@hookimpl
def interlock_artifact_stores() -> list[type[ArtifactStore]]:
    """The ``triton`` store, serving ``triton://`` roots."""
    return [TritonRepositoryStore]
