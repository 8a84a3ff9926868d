"""The manifest of a Triton model that has none (spec: artifact.md ART-102).

It is a function of the version directory's bytes and of ``config.pbtxt`` only, so the same
model gives the same digest on every machine: the name and version are the directory names,
the signature is the ONNX graph's with what ``config.pbtxt`` fixes (checked against the
graph), every file of the directory is listed with its size and sha256, the configuration is
kept in ``metadata.triton.config``, and ``created_at`` is the Unix epoch (a directory records
no creation time that survives a copy).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from interlock.artifacts import (
    MANIFEST_FILE,
    MODEL_FILE,
    FileEntry,
    Manifest,
    Producer,
    compute_digest,
    list_local_dir,
    onnx_info,
)
from interlock.errors import ArtifactError, ArtifactIntegrityError
from interlock.tensors import ColumnMapping, Signature

from interlock_triton.config import onnx_problem, parse_config, signature_from_config

__all__ = ["DERIVATION", "DERIVED_CREATED_AT", "created_at_of", "derive_manifest"]

#: The producer of every derived manifest. Its version changes only when the derivation does
#: (not with interlock's), so that a model's derived digest stays the same.
DERIVATION = Producer(name="interlock_triton.derive", version="1")

#: ``created_at`` of every derived manifest.
DERIVED_CREATED_AT = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PLACEHOLDER = "sha256:" + "0" * 64


def created_at_of(manifest: bytes | None) -> datetime:
    """``created_at`` of manifest bytes; the epoch for none or one that cannot be read (it is
    refused when loaded)."""
    if manifest is None:
        return DERIVED_CREATED_AT
    try:
        text = json.loads(manifest)["created_at"]
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return DERIVED_CREATED_AT
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _files(directory: Path) -> tuple[list[FileEntry], bytes]:
    entries = []
    model_bytes = b""
    for path in list_local_dir(directory, str(directory)):
        if path == MANIFEST_FILE:
            continue
        local = directory.joinpath(*path.split("/"))
        if path == MODEL_FILE:
            model_bytes = local.read_bytes()
            size, sha256 = len(model_bytes), hashlib.sha256(model_bytes).hexdigest()
        else:
            size, sha256 = sha256_of(local)
        entries.append(FileEntry(path=path, sha256=sha256, size=size))
    if not model_bytes and not any(e.path == MODEL_FILE for e in entries):
        raise ArtifactError(
            f"{directory} holds no {MODEL_FILE}",
            hint="a Triton ONNX model version directory holds model.onnx",
        )
    return entries, model_bytes


def derive_manifest(name: str, version: str, directory: Path, config_bytes: bytes) -> bytes:
    """The sealed manifest (JSON bytes) of the model in ``directory``, whose model's
    ``config.pbtxt`` holds ``config_bytes``.

    Raises :class:`interlock.ArtifactError` naming what disagrees: a config for another
    platform, a model file that is not ONNX, a config whose tensors contradict the graph.
    """
    import onnx
    from google.protobuf import json_format

    where = f"{directory.parent}/config.pbtxt"
    config = parse_config(config_bytes, where)
    problem = onnx_problem(config)
    if problem is not None:
        raise ArtifactError(f"the Triton model {name!r} cannot be served: {problem}")
    entries, model_bytes = _files(directory)
    try:
        proto = onnx.load_from_string(model_bytes)
        graph_signature = Signature.from_onnx(proto)
    except Exception as exc:  # a damaged or foreign file: whatever the parser says
        raise ArtifactIntegrityError(
            f"{directory}/{MODEL_FILE} is not an ONNX model interlock can describe: {exc}",
            hint="the Triton store serves ONNX models (platform onnxruntime_onnx)",
        ) from None
    signature = signature_from_config(config, graph_signature, where)
    config_json = json_format.MessageToDict(config, preserving_proto_field_name=True)
    draft = Manifest(
        name=name,
        version=version,
        onnx=onnx_info(proto),
        files=entries,
        signature=signature,
        columns=ColumnMapping.identity(signature),
        producer=DERIVATION,
        metadata={"triton": {"derived_from": "config.pbtxt", "config": config_json}},
        created_at=DERIVED_CREATED_AT,
        digest=_PLACEHOLDER,
    )
    manifest = draft.model_copy(update={"digest": compute_digest(draft.model_dump(mode="json"))})
    return manifest.to_json_bytes()


def sha256_of(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
