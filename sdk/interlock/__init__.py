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
    "ServerHandle": "_server",
    "ServerOptions": "_server_options",
    "ModelRepository": "_repository",
    "ServedModel": "_repository",
    "BatchingOptions": "_batcher",
    "DynamicBatcher": "_batcher",
    "serve": "_serve",
    "RunningServer": "_serve",
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

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock._artifact import (
        Artifact as Artifact,
        ArtifactStore as ArtifactStore,
    )
    from interlock._artifact_io import (
        load_artifact as load_artifact,
        open_store as open_store,
        save_artifact as save_artifact,
    )
    from interlock._batch import (
        predict_dataset as predict_dataset,
    )
    from interlock._batcher import (
        BatchingOptions as BatchingOptions,
        DynamicBatcher as DynamicBatcher,
    )
    from interlock._component import (
        Component as Component,
        FALLBACK_PRIORITY as FALLBACK_PRIORITY,
    )
    from interlock._dataset import (
        Dataset as Dataset,
        DatasetFormat as DatasetFormat,
    )
    from interlock._dataset_io import (
        open_dataset as open_dataset,
        write_dataset as write_dataset,
    )
    from interlock._errors import (
        ArtifactError as ArtifactError,
        ArtifactExistsError as ArtifactExistsError,
        ArtifactIntegrityError as ArtifactIntegrityError,
        ArtifactNotFoundError as ArtifactNotFoundError,
        DatasetError as DatasetError,
        DeviceUnavailableError as DeviceUnavailableError,
        ExportError as ExportError,
        InterlockError as InterlockError,
        MissingDependencyError as MissingDependencyError,
        OverloadedError as OverloadedError,
        PluginError as PluginError,
        SignatureMismatch as SignatureMismatch,
        SpecViolation as SpecViolation,
    )
    from interlock._executor import (
        BatchJob as BatchJob,
        Executor as Executor,
    )
    from interlock._exporter import (
        ExportedModel as ExportedModel,
        Exporter as Exporter,
    )
    from interlock._exporter_io import (
        export as export,
    )
    from interlock._manifest import (
        FileEntry as FileEntry,
        LineageEntry as LineageEntry,
        Manifest as Manifest,
        OnnxInfo as OnnxInfo,
        Producer as Producer,
    )
    from interlock._markers import (
        hookimpl as hookimpl,
        hookspec as hookspec,
    )
    from interlock._plugins import (
        PluginInfo as PluginInfo,
        Registry as Registry,
        discover_plugins as discover_plugins,
        get_registry as get_registry,
        reset_registry as reset_registry,
    )
    from interlock._runtime import (
        Predictor as Predictor,
        Runtime as Runtime,
    )
    from interlock._repository import (
        ModelRepository as ModelRepository,
        ServedModel as ServedModel,
    )
    from interlock._runtime_io import (
        load_predictor as load_predictor,
    )
    from interlock._serve import (
        RunningServer as RunningServer,
        serve as serve,
    )
    from interlock._server import (
        Server as Server,
        ServerHandle as ServerHandle,
    )
    from interlock._server_options import (
        ServerOptions as ServerOptions,
    )
    from interlock._signature import (
        ColumnMapping as ColumnMapping,
        InputBinding as InputBinding,
        OutputBinding as OutputBinding,
        Signature as Signature,
        TensorSpec as TensorSpec,
    )
