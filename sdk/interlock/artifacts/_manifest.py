"""The artifact manifest (``manifest.json``), its digest and its path rules (spec: artifact.md)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from interlock.artifacts._text_info import TextInfo
from interlock.errors import ArtifactIntegrityError, describe_validation_error
from interlock.tensors import ColumnMapping, Signature

__all__ = [
    "ARTIFACT_SPEC_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "FileEntry",
    "LineageEntry",
    "Manifest",
    "OnnxInfo",
    "Producer",
    "check_relative_path",
    "compute_digest",
    "describe_validation_error",
    "parse_manifest",
]

ARTIFACT_SPEC_VERSION: Final = "1"
MANIFEST_FILE: Final = "manifest.json"
MODEL_FILE: Final = "model.onnx"

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
_SHA256_HEX = r"^[0-9a-f]{64}$"


def check_relative_path(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path inside an artifact, else raise.

    Refused: empty paths, absolute paths, backslashes, drive letters, ``.`` or ``..``
    segments, empty segments and control characters. Raises ``ValueError`` naming the rule.
    """
    if not path:
        raise ValueError("path is empty")
    if "\\" in path:
        raise ValueError(f"path {path!r} contains a backslash")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ValueError(f"path {path!r} is absolute")
    if any(ord(c) < 0x20 for c in path):
        raise ValueError(f"path {path!r} contains a control character")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"path {path!r} has a {segment or 'empty'!r} segment")
    return path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    """One file of the artifact, relative to the artifact directory."""

    path: str = Field(
        description="Relative '/'-separated path inside the artifact: no leading '/', no "
        "backslash, no drive letter, no '.', '..' or empty segment, no control character."
    )
    sha256: str = Field(pattern=_SHA256_HEX, description="Lower-case hex sha256 of the bytes.")
    size: int = Field(ge=0, description="Size in bytes.")

    @field_validator("path")
    @classmethod
    def _safe(cls, value: str) -> str:
        return check_relative_path(value)


class OnnxInfo(_Strict):
    """What a runtime needs to know about the ONNX model before loading it."""

    ir_version: int = Field(ge=1, description="ModelProto.ir_version of model.onnx.")
    opsets: dict[str, int] = Field(description="Operator set version per domain ('' = ai.onnx).")
    model_file: Literal["model.onnx"] = Field(
        default=MODEL_FILE, description="The model file; always model.onnx in spec v1."
    )


class Producer(_Strict):
    """Who made the artifact."""

    name: str = Field(description="Plugin or tool that produced the artifact.")
    version: str = Field(description="Version of that plugin or tool.")
    component: str | None = Field(default=None, description="Exporter component, if any.")


class LineageEntry(_Strict):
    """A dataset the model was derived from."""

    uri: str = Field(description="URI of the dataset, as it was opened.")
    fingerprint: str = Field(description="Dataset.fingerprint() of the dataset (sha256:<hex>).")
    role: str = Field(default="training", description="How the model used it (training, ...).")


class Manifest(_Strict):
    """``manifest.json``: everything known about an artifact, and the digest that seals it."""

    spec_version: Literal["1"] = Field(
        default=ARTIFACT_SPEC_VERSION, description="Version of the artifact spec."
    )
    name: str = Field(pattern=NAME_PATTERN, description="Artifact name.")
    version: str = Field(pattern=NAME_PATTERN, description="Version within the name; immutable.")
    format: Literal["onnx"] = Field(default="onnx", description="Model format; onnx in v1.")
    onnx: OnnxInfo
    files: list[FileEntry] = Field(
        min_length=1,
        description="Every file of the artifact except manifest.json, model.onnx included.",
    )
    signature: Signature
    columns: ColumnMapping
    producer: Producer
    lineage: list[LineageEntry] = Field(
        default_factory=list, description="Datasets the model was derived from."
    )
    metadata: dict[str, JsonValue] = Field(
        default_factory=dict, description="Free JSON metadata (finite numbers only)."
    )
    created_at: AwareDatetime = Field(
        description="When the artifact was made: RFC 3339 with a UTC offset."
    )
    # Left out when absent, so that an artifact without it is written and digested exactly as
    # before the section existed (text.md TXT-002).
    text: TextInfo | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Language and embedding models: tokenizer, chat template, token tensors, "
        "key/value cache and generation defaults (spec: text.md). Absent for other models.",
    )
    digest: str = Field(
        pattern=DIGEST_PATTERN,
        description="sha256 of the canonical JSON of every other field (spec: artifact.md).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files lists a path more than once")
        listed = set(paths)
        for path in paths:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                if "/".join(parts[:depth]) in listed:
                    raise ValueError(
                        f"files lists {path!r} inside the file {'/'.join(parts[:depth])!r}"
                    )
        if MODEL_FILE not in paths:
            raise ValueError(f"files must list {MODEL_FILE!r}")
        if MANIFEST_FILE in paths:
            raise ValueError(f"files must not list {MANIFEST_FILE!r} itself")
        self.columns.check_against(self.signature)
        if self.text is not None:
            _check_text(self.text, listed, self.signature)
        return self

    @property
    def ref(self) -> str:
        """The content address ``name@sha256:...``."""
        return f"{self.name}@{self.digest}"

    def to_json_bytes(self) -> bytes:
        """Serialize as ``manifest.json`` is stored (indented, keys in model order)."""
        return self.model_dump_json(indent=2).encode() + b"\n"

    def expected_digest(self) -> str:
        """Recompute the digest from the other fields (see :func:`compute_digest`)."""
        return compute_digest(self.model_dump(mode="json", exclude={"digest"}))


def _check_text(text: TextInfo, listed: set[str], signature: Signature) -> None:
    """The text section names files that ``files`` lists and tensors the graph has."""
    for path in text.files():
        check_relative_path(path)
        if path not in listed:
            raise ValueError(f"text names the file {path!r}, which files does not list")
    inputs = {t.name for t in signature.inputs}
    outputs = {t.name for t in signature.outputs}
    missing = [n for n in text.graph_inputs() if n not in inputs]
    missing += [n for n in text.graph_outputs() if n not in outputs]
    if missing:
        raise ValueError(
            f"text names tensors the signature does not have: {', '.join(missing[:8])}"
        )


def compute_digest(manifest_fields: dict[str, Any]) -> str:
    """Digest of a manifest: sha256 of its canonical JSON without the ``digest`` field.

    ``manifest_fields`` is the manifest as a JSON object (as parsed from ``manifest.json``, or
    ``Manifest.model_dump(mode="json")``). Canonical JSON: object keys sorted by code point,
    no insignificant whitespace, UTF-8, non-ASCII characters unescaped, integers in decimal,
    other numbers as the shortest decimal that round-trips (Python ``repr``); the exact rules
    are in spec artifact.md (ART-030). Because the manifest lists the sha256 of every file,
    the digest covers the whole artifact. Raises ``ValueError`` for values JSON cannot hold
    (NaN, infinities, unpaired surrogates).
    """
    fields = {k: v for k, v in manifest_fields.items() if k != "digest"}
    canonical = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        encoded = canonical.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"the manifest holds text that is not valid Unicode: {exc}") from None
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers may keep different copies of a repeated key; refuse the ambiguity.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _load_json(data: bytes, where: str) -> Any:
    """The JSON value of a manifest's bytes (repeated keys, NaN and infinities refused)."""
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
        )
    except RecursionError:  # JSON nested deeper than the parser recurses: never a manifest
        raise ArtifactIntegrityError(
            f"{where} is not a manifest: its JSON is nested too deep to read",
            hint="the manifest is damaged; publish the artifact again",
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArtifactIntegrityError(
            f"{where} is not valid JSON: {exc}",
            hint="the manifest is damaged; publish the artifact again",
        ) from None


def parse_manifest(data: bytes, *, where: str, check_digest: bool = True) -> Manifest:
    """Parse and check the bytes of a ``manifest.json`` found at ``where`` (a URI).

    Refused, each with an :class:`interlock.ArtifactIntegrityError` naming ``where``: bytes
    that are not UTF-8 JSON, repeated keys, NaN or infinities, a top level that is not an
    object, unknown fields (named), a ``format`` other than ``onnx``, an unknown
    ``spec_version``, any other schema violation, and (with ``check_digest``) a ``digest``
    that does not match the canonical JSON of the other fields.
    """
    raw = _load_json(data, where)
    if not isinstance(raw, dict):
        raise ArtifactIntegrityError(
            f"{where} must hold a JSON object, not {type(raw).__name__}",
            hint="the manifest is damaged; publish the artifact again",
        )
    if "format" in raw and raw["format"] != "onnx":
        raise ArtifactIntegrityError(
            f"{where} declares format {raw['format']!r}; interlock v1 artifacts hold ONNX "
            "models only (format 'onnx')",
            hint="convert the model to ONNX (see 'interlock export') and save it again",
        )
    if "spec_version" in raw and raw["spec_version"] != ARTIFACT_SPEC_VERSION:
        raise ArtifactIntegrityError(
            f"{where} declares spec_version {raw['spec_version']!r}; this interlock reads "
            f"version {ARTIFACT_SPEC_VERSION!r}",
            hint="upgrade interlock to read artifacts of a newer spec version",
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactIntegrityError(
            f"{where} does not follow the manifest schema: {describe_validation_error(exc)}",
            hint="manifest fields are listed in specs/v1/schemas/manifest.schema.json",
        ) from None
    if check_digest:
        try:
            expected = compute_digest(raw)
        except ValueError as exc:
            raise ArtifactIntegrityError(f"{where}: {exc}") from None
        if expected != manifest.digest:
            raise ArtifactIntegrityError(
                f"{where} was modified: its digest is {manifest.digest} but its content "
                f"hashes to {expected}",
                hint="do not edit a published manifest; publish a new version instead",
            )
    return manifest
