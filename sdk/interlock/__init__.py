"""interlock: standard interfaces and plugins that make the pieces of the AI stack fit.

Everything here is imported lazily, on first attribute access, so that ``import interlock`` stays
cheap; ``interlock.__all__`` lists the public API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    # plugin system
    "hookimpl": "_markers",
    "hookspec": "_markers",
    "Component": "_component",
    "FALLBACK_PRIORITY": "_component",
    "PluginInfo": "_plugins",
    "Registry": "_plugins",
    "discover_plugins": "_plugins",
    "get_registry": "_plugins",
    "reset_registry": "_plugins",
    # errors
    "InterlockError": "_errors",
    "PluginError": "_errors",
    "SpecViolation": "_errors",
    "DatasetError": "_errors",
    "ArtifactError": "_errors",
    "ArtifactNotFoundError": "_errors",
    "ArtifactExistsError": "_errors",
    "ArtifactIntegrityError": "_errors",
    "SignatureMismatch": "_errors",
    "DeviceUnavailableError": "_errors",
    "ExportError": "_errors",
    "MissingDependencyError": "_errors",
    "OverloadedError": "_errors",
    # datasets
    "Dataset": "_dataset",
    "DatasetFormat": "_dataset",
    "open_dataset": "_dataset_io",
    "write_dataset": "_dataset_io",
    # artifacts
    "Artifact": "_artifact",
    "ArtifactStore": "_artifact",
    "Manifest": "_manifest",
    "FileEntry": "_manifest",
    "LineageEntry": "_manifest",
    "OnnxInfo": "_manifest",
    "Producer": "_manifest",
    "TensorSpec": "_signature",
    "Signature": "_signature",
    "ColumnMapping": "_signature",
    "InputBinding": "_signature",
    "OutputBinding": "_signature",
    "save_artifact": "_artifact_io",
    "load_artifact": "_artifact_io",
    "open_store": "_artifact_io",
    # runtimes
    "Runtime": "_runtime",
    "Predictor": "_runtime",
    "load_predictor": "_runtime_io",
    # exporters
    "Exporter": "_exporter",
    "ExportedModel": "_exporter",
    "export": "_exporter_io",
    # serving and batch
    "Server": "_server",
    "Executor": "_executor",
    "BatchJob": "_executor",
    "predict_dataset": "_batch",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'interlock' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"interlock.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from interlock._artifact import Artifact, ArtifactStore
    from interlock._artifact_io import load_artifact, open_store, save_artifact
    from interlock._batch import predict_dataset
    from interlock._component import FALLBACK_PRIORITY, Component
    from interlock._dataset import Dataset, DatasetFormat
    from interlock._dataset_io import open_dataset, write_dataset
    from interlock._errors import (
        ArtifactError,
        ArtifactExistsError,
        ArtifactIntegrityError,
        ArtifactNotFoundError,
        DatasetError,
        DeviceUnavailableError,
        ExportError,
        InterlockError,
        MissingDependencyError,
        OverloadedError,
        PluginError,
        SignatureMismatch,
        SpecViolation,
    )
    from interlock._executor import BatchJob, Executor
    from interlock._exporter import ExportedModel, Exporter
    from interlock._exporter_io import export
    from interlock._manifest import FileEntry, LineageEntry, Manifest, OnnxInfo, Producer
    from interlock._markers import hookimpl, hookspec
    from interlock._plugins import PluginInfo, Registry, discover_plugins, get_registry, reset_registry
    from interlock._runtime import Predictor, Runtime
    from interlock._runtime_io import load_predictor
    from interlock._server import Server
    from interlock._signature import (
        ColumnMapping,
        InputBinding,
        OutputBinding,
        Signature,
        TensorSpec,
    )
