"""Reading ``model.onnx`` out of an artifact safely: parse it from verified bytes, and check that
every external-data location stays inside the artifact (spec: artifact.md, ART-020 to ART-024).

Separate from ``_verify`` so that :meth:`interlock.artifacts.Artifact.onnx_model` can use it
without the interface module importing the verifier that subclasses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.artifacts._manifest import MODEL_FILE, FileEntry, Manifest, check_relative_path
from interlock.errors import ArtifactIntegrityError

if TYPE_CHECKING:
    import onnx

    from interlock.artifacts._interfaces import Artifact

__all__ = ["check_external_locations", "checked_location", "parse_model", "read_onnx_model"]

_REPUBLISH = "the artifact is damaged or was tampered with; publish it again from its source"


def parse_model(data: bytes, uri: str) -> onnx.ModelProto:
    import onnx

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError family
        raise ArtifactIntegrityError(
            f"{uri}/{MODEL_FILE} is not a valid ONNX model: {type(exc).__name__}: {exc}",
            hint=_REPUBLISH,
        ) from None
    return model


def _location_error(uri: str, tensor: str, location: str, why: str) -> ArtifactIntegrityError:
    return ArtifactIntegrityError(
        f"{uri}/{MODEL_FILE}: tensor {tensor!r} keeps its data in {location!r}, {why}",
        hint="external data must live in files of the artifact listed in its manifest; "
        "the model may be malicious (see CVE-2024-27318)",
    )


def checked_location(uri: str, manifest: Manifest, tensor: str, location: str) -> FileEntry:
    try:
        check_relative_path(location)
    except ValueError as exc:
        raise _location_error(uri, tensor, location, f"which leaves the artifact: {exc}") from None
    for entry in manifest.files:
        if entry.path == location and location != MODEL_FILE:
            return entry
    raise _location_error(uri, tensor, location, "which is not a data file of the manifest")


def check_external_locations(model_bytes: bytes, manifest: Manifest, uri: str) -> None:
    from interlock.artifacts._onnx_info import external_data_refs

    # Every external-data reference carries the key "location" as plain bytes in the
    # protobuf encoding; without those bytes there is nothing to check, and large inline
    # models are not parsed for nothing.
    if b"location" not in model_bytes:
        return
    try:
        refs = external_data_refs(parse_model(model_bytes, uri))
    except ValueError as exc:
        raise ArtifactIntegrityError(f"{uri}/{MODEL_FILE}: {exc}", hint=_REPUBLISH) from None
    for ref in refs:
        entry = checked_location(uri, manifest, ref.tensor.name, ref.location)
        end = entry.size if ref.length is None else ref.offset + ref.length
        if ref.offset > entry.size or end > entry.size:
            raise _location_error(
                uri, ref.tensor.name, ref.location, f"but reads past its end ({entry.size} bytes)"
            )


def read_onnx_model(artifact: Artifact, *, load_external_data: bool) -> onnx.ModelProto:
    """Parse ``model.onnx`` from verified bytes and resolve its external data safely."""
    from interlock.artifacts._onnx_files import fill_external_data
    from interlock.artifacts._onnx_info import external_data_refs

    model = parse_model(artifact.read_bytes(MODEL_FILE), artifact.uri)
    try:
        refs = external_data_refs(model)
    except ValueError as exc:
        raise ArtifactIntegrityError(f"{artifact.uri}/{MODEL_FILE}: {exc}") from None
    for ref in refs:
        checked_location(artifact.uri, artifact.manifest, ref.tensor.name, ref.location)
    if load_external_data and refs:
        fill_external_data(
            model,
            artifact.read_bytes,
            where=f"{artifact.uri}/{MODEL_FILE}",
            error=ArtifactIntegrityError,
        )
    return model
