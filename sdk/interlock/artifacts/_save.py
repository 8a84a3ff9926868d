"""The checks and conversions behind :func:`interlock.save_artifact`: where the model comes
from, whether a given signature agrees with the graph, lineage entries, extra files, and the
sealed manifest (spec: artifact.md, ART-010... and ART-091).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.errors import ArtifactError
from interlock.artifacts._manifest import (
    NAME_PATTERN,
    FileEntry,
    LineageEntry,
    Manifest,
    OnnxInfo,
    check_relative_path,
)
from interlock.artifacts._text_info import TextInfo

if TYPE_CHECKING:
    import onnx

    from interlock.datasets import Dataset
    from interlock.artifacts._exported import ExportedModel
    from interlock.tensors import ColumnMapping, Signature

__all__ = [
    "PreparedModel",
    "build_manifest",
    "check_extra_paths",
    "check_name",
    "check_signature_agrees",
    "copy_hashed",
    "lineage_entry",
    "model_source",
    "prepare_model",
    "stage_files",
]


def check_name(kind: str, value: str) -> None:
    """Raise :class:`interlock.ArtifactError` unless ``value`` is a valid artifact ``kind``
    (name or version)."""
    if not isinstance(value, str) or not re.match(NAME_PATTERN, value):
        raise ArtifactError(
            f"artifact {kind} {value!r} is not valid",
            hint=f"an artifact {kind} is 1-128 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit",
        )


def check_extra_paths(paths: list[str], *, reserved: set[str]) -> None:
    """Raise :class:`interlock.ArtifactError` naming the path unless every extra file path is
    a safe relative path (ART-050), not reserved, and not inside a reserved name or another
    extra file (a path cannot be both a file and a directory)."""
    taken = set(paths) | reserved
    for path in paths:
        try:
            check_relative_path(path)
        except ValueError as exc:
            raise ArtifactError(
                f"extra file path {path!r} is not allowed: {exc}",
                hint="use a relative path with '/' separators inside the artifact",
            ) from None
        if path in reserved:
            raise ArtifactError(
                f"extra file path {path!r} is reserved for interlock",
                hint=f"choose another name than {', '.join(sorted(reserved))}",
            )
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in taken:
                raise ArtifactError(
                    f"extra file path {path!r} would put a file inside the file {parent!r}",
                    hint="a path cannot be both a file and a directory; rename one of them",
                )


def model_source(
    model: object,
) -> tuple[onnx.ModelProto, bool, ExportedModel | None]:
    """The ONNX model (data inline), whether its source had external data, and the
    ExportedModel it came from (if any)."""
    import onnx

    from interlock.artifacts._exported import ExportedModel
    from interlock.artifacts._onnx_files import load_model_file
    from interlock.artifacts._onnx_info import external_data_refs

    if isinstance(model, ExportedModel):
        proto, _, _ = model_source(model.model)
        return proto, False, model
    if isinstance(model, onnx.ModelProto):
        pending = external_data_refs(model)
        if pending:
            raise ArtifactError(
                f"tensor {pending[0].tensor.name!r} of the model keeps its data in "
                f"{pending[0].location!r}, which was not loaded",
                hint="pass the path of the .onnx file instead, so that its external data is "
                "read from beside it",
            )
        return model, False, None
    if isinstance(model, str | os.PathLike):
        proto, had_external = load_model_file(Path(model))
        return proto, had_external, None
    raise ArtifactError(
        f"cannot save a {type(model).__name__} as an artifact",
        hint="pass an onnx.ModelProto, an interlock.ExportedModel (see interlock.export) or "
        "the path of a .onnx file",
    )


@dataclass(frozen=True)
class PreparedModel:
    """The model to save, with its data inline, and what the manifest says of it."""

    proto: onnx.ModelProto
    signature: Signature
    columns: ColumnMapping
    metadata: dict[str, Any]
    #: Whether the weights go to ``model.onnx.data``.
    external_data: bool
    info: OnnxInfo
    #: The manifest's ``text`` section (language and embedding models), if any.
    text: TextInfo | None = None
    #: Files an ExportedModel brings (a tokenizer, a chat template), by artifact path.
    files: dict[str, bytes] = field(default_factory=dict)


def prepare_model(
    model: object,
    *,
    signature: Signature | None,
    columns: ColumnMapping | None,
    metadata: Mapping[str, Any] | None,
    external_data: bool | None,
    text: TextInfo | None = None,
) -> PreparedModel:
    """Read ``model`` (see :func:`model_source`) and settle what describes it.

    ``signature`` and ``columns`` default to an ExportedModel's, else to the graph's signature
    and the identity mapping, and must agree with the graph; ``metadata`` is laid over an
    ExportedModel's; ``external_data=None`` becomes true for a source that had external data
    or a model over the size threshold.
    """
    from interlock.artifacts._onnx_files import EXTERNAL_DATA_THRESHOLD
    from interlock.artifacts._onnx_info import onnx_info
    from interlock.tensors import Signature
    from interlock.tensors import ColumnMapping

    proto, had_external, exported = model_source(model)
    graph_signature = Signature.from_onnx(proto)
    if signature is None:
        signature = exported.signature if exported is not None else graph_signature
    check_signature_agrees(signature, graph_signature)
    if columns is None:
        columns = exported.columns if exported is not None else ColumnMapping.identity(signature)
    try:
        columns.check_against(signature)
    except ValueError as exc:
        raise ArtifactError(str(exc), hint="bind every tensor of the signature once") from None
    merged_metadata: dict[str, Any] = dict(exported.metadata) if exported is not None else {}
    merged_metadata.update(metadata or {})
    if external_data is None:
        external_data = had_external or proto.ByteSize() > EXTERNAL_DATA_THRESHOLD
    info = onnx_info(proto)
    if text is None and exported is not None:
        text = exported.text
    files = dict(exported.files) if exported is not None else {}
    return PreparedModel(
        proto, signature, columns, merged_metadata, external_data, info, text, files
    )


def check_signature_agrees(given: Signature, graph: Signature) -> None:
    """Raise :class:`interlock.ArtifactError` naming the tensor unless ``given`` has the graph's
    tensors with their dtypes and ranks, and keeps every dimension the graph fixes."""
    for kind, declared, actual in (
        ("input", given.inputs, graph.inputs),
        ("output", given.outputs, graph.outputs),
    ):
        names = sorted(s.name for s in declared)
        graph_names = sorted(s.name for s in actual)
        if names != graph_names:
            raise ArtifactError(
                f"the signature's {kind}s {names} are not the graph's {graph_names}",
                hint="omit signature= to take the signature from the graph",
            )
        for spec in declared:
            truth = next(s for s in actual if s.name == spec.name)
            problem = None
            if spec.dtype != truth.dtype:
                problem = f"dtype {spec.dtype} but the graph says {truth.dtype}"
            elif len(spec.shape) != len(truth.shape):
                problem = f"rank {len(spec.shape)} but the graph says {len(truth.shape)}"
            else:
                for i, (mine, theirs) in enumerate(zip(spec.shape, truth.shape, strict=True)):
                    if isinstance(theirs, int) and mine != theirs:
                        problem = f"dimension {i} = {mine!r} but the graph fixes it at {theirs}"
                        break
            if problem:
                raise ArtifactError(
                    f"{kind} tensor {spec.name!r}: the signature declares {problem}",
                    hint="a signature may name or fix dimensions the graph leaves open, "
                    "nothing else; omit signature= to take it from the graph",
                )


def lineage_entry(item: LineageEntry | Dataset | Mapping[str, Any]) -> LineageEntry:
    """A lineage entry from a Dataset (its URI and fingerprint), a mapping or an entry."""
    from interlock.datasets import Dataset

    if isinstance(item, LineageEntry):
        return item
    if isinstance(item, Dataset):
        return LineageEntry(uri=item.uri, fingerprint=item.fingerprint())
    if isinstance(item, Mapping):
        from pydantic import ValidationError

        from interlock.artifacts._manifest import describe_validation_error

        try:
            return LineageEntry.model_validate(dict(item))
        except ValidationError as exc:
            raise ArtifactError(
                f"invalid lineage entry {dict(item)!r}: {describe_validation_error(exc)}",
                hint="a lineage entry has uri, fingerprint and optionally role",
            ) from None
    raise ArtifactError(
        f"lineage entries must be interlock Datasets or LineageEntry objects, not "
        f"{type(item).__name__}",
        hint="pass the Dataset the model was trained on (interlock.open_dataset(...))",
    )


def copy_hashed(source: bytes | os.PathLike[str], destination: Path) -> tuple[str, int]:
    """Write ``source`` (bytes or a local file) to ``destination``; return its sha256 and size.

    Saving from our own copy means a file changed by someone else meanwhile cannot make the
    published artifact disagree with its manifest.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        destination.write_bytes(data)
        return hashlib.sha256(data).hexdigest(), len(data)
    path = Path(source)
    if not path.is_file():
        raise ArtifactError(
            f"extra file source {str(path)!r} is not a file",
            hint="extra_files maps artifact paths to bytes or to local files",
        )
    with path.open("rb") as src, destination.open("wb") as out:
        while chunk := src.read(1024 * 1024):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def stage_files(
    staging: Path, prepared: PreparedModel, extras: Mapping[str, bytes | os.PathLike[str]]
) -> tuple[list[FileEntry], dict[str, bytes | os.PathLike[str]]]:
    """Write the model's files and a copy of each extra file under ``staging``, hashing them
    as they are written; return their manifest entries and, by artifact path, the local file
    a store publishes."""
    from interlock.artifacts._onnx_files import write_model_files

    model_dir = staging / "model"
    model_dir.mkdir()
    written = write_model_files(prepared.proto, model_dir, external=prepared.external_data)
    entries = [FileEntry(path=w.path, sha256=w.sha256, size=w.size) for w in written]
    sources: dict[str, bytes | os.PathLike[str]] = {w.path: w.local_path for w in written}
    for path, content in sorted(extras.items()):
        copy = staging / "extra" / path
        sha256, size = copy_hashed(content, copy)
        entries.append(FileEntry(path=path, sha256=sha256, size=size))
        sources[path] = copy
    return entries, sources


def build_manifest(**fields: Any) -> Manifest:
    """The manifest of ``fields`` stamped with the current time and sealed with its digest."""
    from pydantic import ValidationError

    from interlock.artifacts._manifest import (
        compute_digest,
        describe_validation_error,
        parse_manifest,
    )

    placeholder = "sha256:" + "0" * 64
    try:
        draft = Manifest(**fields, created_at=datetime.now(timezone.utc), digest=placeholder)
        digest = compute_digest(draft.model_dump(mode="json"))
    except ValidationError as exc:
        raise ArtifactError(
            f"cannot build the manifest: {describe_validation_error(exc)}",
            hint="metadata must be JSON: strings, finite numbers, booleans, null, lists and "
            "objects with string keys",
        ) from None
    except ValueError as exc:
        raise ArtifactError(
            f"cannot build the manifest: {exc}",
            hint="metadata must be JSON: strings, finite numbers, booleans, null, lists and "
            "objects with string keys",
        ) from None
    manifest = draft.model_copy(update={"digest": digest})
    # What we write must be exactly what every reader will accept.
    parse_manifest(manifest.to_json_bytes(), where="the new manifest")
    return manifest
