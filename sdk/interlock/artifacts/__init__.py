"""Model artifacts: the store interface, the manifest, saving and verified loading.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "Artifact": "_interfaces",
    "ExportedModel": "_exported",
    "ArtifactStore": "_interfaces",
    "ReadOnlyStoreError": "_interfaces",
    "ARTIFACT_SPEC_VERSION": "_manifest",
    "MANIFEST_FILE": "_manifest",
    "MODEL_FILE": "_manifest",
    "FileEntry": "_manifest",
    "LineageEntry": "_manifest",
    "Manifest": "_manifest",
    "OnnxInfo": "_manifest",
    "Producer": "_manifest",
    "check_relative_path": "_manifest",
    "compute_digest": "_manifest",
    "parse_manifest": "_manifest",
    "TOKENIZER_FILE": "_text_info",
    "EmbeddingInfo": "_text_info",
    "GenerationDefaults": "_text_info",
    "KVCache": "_text_info",
    "TextInfo": "_text_info",
    "TextTensors": "_text_info",
    "default_store_root": "_io",
    "load_artifact": "_io",
    "open_store": "_io",
    "parse_ref": "_io",
    "resolve_ref": "_io",
    "save_artifact": "_io",
    "list_local_dir": "_verify",
    "ExternalDataRef": "_onnx_info",
    "external_data_refs": "_onnx_info",
    "iter_tensors": "_onnx_info",
    "onnx_info": "_onnx_info",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.artifacts._exported import (
        ExportedModel as ExportedModel,
    )
    from interlock.artifacts._interfaces import (
        Artifact as Artifact,
        ArtifactStore as ArtifactStore,
        ReadOnlyStoreError as ReadOnlyStoreError,
    )
    from interlock.artifacts._manifest import (
        ARTIFACT_SPEC_VERSION as ARTIFACT_SPEC_VERSION,
        FileEntry as FileEntry,
        LineageEntry as LineageEntry,
        MANIFEST_FILE as MANIFEST_FILE,
        MODEL_FILE as MODEL_FILE,
        Manifest as Manifest,
        OnnxInfo as OnnxInfo,
        Producer as Producer,
        check_relative_path as check_relative_path,
        compute_digest as compute_digest,
        parse_manifest as parse_manifest,
    )
    from interlock.artifacts._text_info import (
        TOKENIZER_FILE as TOKENIZER_FILE,
        EmbeddingInfo as EmbeddingInfo,
        GenerationDefaults as GenerationDefaults,
        KVCache as KVCache,
        TextInfo as TextInfo,
        TextTensors as TextTensors,
    )
    from interlock.artifacts._io import (
        default_store_root as default_store_root,
        load_artifact as load_artifact,
        open_store as open_store,
        parse_ref as parse_ref,
        resolve_ref as resolve_ref,
        save_artifact as save_artifact,
    )
    from interlock.artifacts._verify import (
        list_local_dir as list_local_dir,
    )
    from interlock.artifacts._onnx_info import (
        ExternalDataRef as ExternalDataRef,
        external_data_refs as external_data_refs,
        iter_tensors as iter_tensors,
        onnx_info as onnx_info,
    )
