"""interlock: standard interfaces and plugins that make the pieces of the AI stack fit.

This facade re-exports the names integrators use most; each lives in a subpackage named for its
concept (``interlock.artifacts``, ``interlock.datasets``, ``interlock.runtimes``, ...), which is
where vendors import from. Everything is imported lazily, on first attribute access, so that
``import interlock`` stays cheap; ``interlock.__all__`` lists the names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports as lazy_exports

__version__ = "0.1.0"

# public name -> the subpackage (or module) that exports it
_EXPORTS: dict[str, str] = {
    # lazy facades, for plugin packages that want one too
    "lazy_exports": "_facade",
    # plugin system
    "hookimpl": "plugins",
    "hookspec": "plugins",
    "Component": "plugins",
    "FALLBACK_PRIORITY": "plugins",
    "PluginInfo": "plugins",
    "Registry": "plugins",
    "discover_plugins": "plugins",
    "get_registry": "plugins",
    "reset_registry": "plugins",
    # errors
    "InterlockError": "errors",
    "PluginError": "errors",
    "SpecViolation": "errors",
    "DatasetError": "errors",
    "ArtifactError": "errors",
    "ArtifactNotFoundError": "errors",
    "ArtifactExistsError": "errors",
    "ArtifactIntegrityError": "errors",
    "SignatureMismatch": "errors",
    "DeviceUnavailableError": "errors",
    "ExportError": "errors",
    "GenerationError": "errors",
    "MissingDependencyError": "errors",
    "OverloadedError": "errors",
    "UnsupportedModelError": "errors",
    # datasets
    "Dataset": "datasets",
    "DatasetFormat": "datasets",
    "open_dataset": "datasets",
    "write_dataset": "datasets",
    # artifacts
    "Artifact": "artifacts",
    "ArtifactStore": "artifacts",
    "Manifest": "artifacts",
    "FileEntry": "artifacts",
    "LineageEntry": "artifacts",
    "OnnxInfo": "artifacts",
    "Producer": "artifacts",
    "TensorSpec": "tensors",
    "Signature": "tensors",
    "ColumnMapping": "tensors",
    "InputBinding": "tensors",
    "OutputBinding": "tensors",
    "save_artifact": "artifacts",
    "load_artifact": "artifacts",
    "open_store": "artifacts",
    # runtimes
    "Runtime": "runtimes",
    "Predictor": "runtimes",
    "load_predictor": "runtimes",
    # exporters
    "Exporter": "exporters",
    "ExportedModel": "exporters",
    "export": "exporters",
    # serving and batch
    "Server": "servers",
    "ServerHandle": "servers",
    "ServerOptions": "servers",
    "ModelRepository": "serving",
    "ServedModel": "serving",
    "BatchingOptions": "serving",
    "DynamicBatcher": "serving",
    "serve": "serving",
    "RunningServer": "serving",
    "Executor": "batch",
    "BatchJob": "batch",
    "predict_dataset": "batch",
    "executor_session": "batch",
    # text and generative models
    "TextGenerator": "text",
    "TextEmbedder": "text",
    "SamplingParams": "text",
}

__getattr__, __dir__, _names = lazy_exports(__name__, _EXPORTS)
__all__ = [*_names, "__version__"]

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock._facade import (
        lazy_exports as lazy_exports,
    )
    from interlock.artifacts import (
        Artifact as Artifact,
        ArtifactStore as ArtifactStore,
        FileEntry as FileEntry,
        LineageEntry as LineageEntry,
        Manifest as Manifest,
        OnnxInfo as OnnxInfo,
        Producer as Producer,
        load_artifact as load_artifact,
        open_store as open_store,
        save_artifact as save_artifact,
    )
    from interlock.batch import (
        BatchJob as BatchJob,
        Executor as Executor,
        executor_session as executor_session,
        predict_dataset as predict_dataset,
    )
    from interlock.datasets import (
        Dataset as Dataset,
        DatasetFormat as DatasetFormat,
        open_dataset as open_dataset,
        write_dataset as write_dataset,
    )
    from interlock.errors import (
        ArtifactError as ArtifactError,
        ArtifactExistsError as ArtifactExistsError,
        ArtifactIntegrityError as ArtifactIntegrityError,
        ArtifactNotFoundError as ArtifactNotFoundError,
        DatasetError as DatasetError,
        DeviceUnavailableError as DeviceUnavailableError,
        ExportError as ExportError,
        GenerationError as GenerationError,
        InterlockError as InterlockError,
        MissingDependencyError as MissingDependencyError,
        OverloadedError as OverloadedError,
        PluginError as PluginError,
        SignatureMismatch as SignatureMismatch,
        SpecViolation as SpecViolation,
        UnsupportedModelError as UnsupportedModelError,
    )
    from interlock.exporters import (
        ExportedModel as ExportedModel,
        Exporter as Exporter,
        export as export,
    )
    from interlock.plugins import (
        Component as Component,
        FALLBACK_PRIORITY as FALLBACK_PRIORITY,
        PluginInfo as PluginInfo,
        Registry as Registry,
        discover_plugins as discover_plugins,
        get_registry as get_registry,
        hookimpl as hookimpl,
        hookspec as hookspec,
        reset_registry as reset_registry,
    )
    from interlock.runtimes import (
        Predictor as Predictor,
        Runtime as Runtime,
        load_predictor as load_predictor,
    )
    from interlock.servers import (
        Server as Server,
        ServerHandle as ServerHandle,
        ServerOptions as ServerOptions,
    )
    from interlock.text import (
        SamplingParams as SamplingParams,
        TextEmbedder as TextEmbedder,
        TextGenerator as TextGenerator,
    )
    from interlock.serving import (
        BatchingOptions as BatchingOptions,
        DynamicBatcher as DynamicBatcher,
        ModelRepository as ModelRepository,
        RunningServer as RunningServer,
        ServedModel as ServedModel,
        serve as serve,
    )
    from interlock.tensors import (
        ColumnMapping as ColumnMapping,
        InputBinding as InputBinding,
        OutputBinding as OutputBinding,
        Signature as Signature,
        TensorSpec as TensorSpec,
    )
