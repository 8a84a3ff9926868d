"""interlock plugin: Triton model repositories (export, and a read-only artifact store).

Registered through the ``interlock`` entry-point group like any vendor plugin.

- :func:`export_triton` writes an artifact as ``REPO_DIR/<name>/<version>/model.onnx`` with a
  ``config.pbtxt`` generated from its signature (also ``interlock artifact export-triton``);
- ``interlock.open_store("triton:///path/to/repo")`` serves a repository's ONNX models as
  verified artifacts (:class:`TritonRepositoryStore`), read-only.

Names are imported on first use, so that loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock import lazy_exports

_EXPORTS: dict[str, str] = {
    "TritonExport": "export",
    "TritonRepositoryStore": "store",
    "config_for": "config",
    "config_text": "config",
    "export_triton": "export",
    "parse_config": "config",
    "signature_from_config": "config",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from interlock_triton.config import (
        config_for as config_for,
        config_text as config_text,
        parse_config as parse_config,
        signature_from_config as signature_from_config,
    )
    from interlock_triton.export import TritonExport as TritonExport, export_triton as export_triton
    from interlock_triton.store import TritonRepositoryStore as TritonRepositoryStore
