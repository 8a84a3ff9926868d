"""The checks and conversions behind :func:`interlock.save_artifact`: where the model comes
from, whether a given signature agrees with the graph, lineage entries, extra files, and the
sealed manifest (spec: artifact.md, ART-010... and ART-091).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.errors import ArtifactError
from interlock.artifacts._manifest import NAME_PATTERN, LineageEntry, Manifest, check_relative_path

if TYPE_CHECKING:
    import onnx

    from interlock.datasets._interfaces import Dataset
    from interlock.exporters._interfaces import ExportedModel
    from interlock.tensors._signature import Signature

__all__ = [
    "build_manifest",
    "check_extra_paths",
    "check_name",
    "check_signature_agrees",
    "copy_hashed",
    "lineage_entry",
    "model_source",
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

    from interlock.exporters._interfaces import ExportedModel
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
    from interlock.datasets._interfaces import Dataset

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


def build_manifest(**fields: Any) -> Manifest:
    """The manifest of ``fields`` stamped with the current time and sealed with its digest."""
    from pydantic import ValidationError

    from interlock.artifacts._manifest import compute_digest, describe_validation_error, parse_manifest

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
