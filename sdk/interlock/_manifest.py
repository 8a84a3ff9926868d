"""The artifact manifest (``manifest.json``), its digest and its path rules (spec: artifact.md)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from interlock._signature import ColumnMapping, Signature

__all__ = [
    "ARTIFACT_SPEC_VERSION",
    "FileEntry",
    "LineageEntry",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "Manifest",
    "OnnxInfo",
    "Producer",
    "check_relative_path",
    "compute_digest",
]

ARTIFACT_SPEC_VERSION = "1"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"

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

    path: str
    sha256: str = Field(pattern=_SHA256_HEX)
    size: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _safe(cls, value: str) -> str:
        return check_relative_path(value)


class OnnxInfo(_Strict):
    """What a runtime needs to know about the ONNX model before loading it."""

    ir_version: int = Field(ge=1)
    opsets: dict[str, int] = Field(description="Operator set version per domain ('' = ai.onnx).")
    model_file: Literal["model.onnx"] = MODEL_FILE


class Producer(_Strict):
    """Who made the artifact."""

    name: str = Field(description="Plugin or tool that produced the artifact.")
    version: str
    component: str | None = Field(default=None, description="Exporter component, if any.")


class LineageEntry(_Strict):
    """A dataset the model was derived from."""

    uri: str
    fingerprint: str
    role: str = Field(default="training")


class Manifest(_Strict):
    """``manifest.json``: everything known about an artifact, and the digest that seals it."""

    spec_version: Literal["1"] = ARTIFACT_SPEC_VERSION
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=NAME_PATTERN)
    format: Literal["onnx"] = "onnx"
    onnx: OnnxInfo
    files: list[FileEntry] = Field(min_length=1)
    signature: Signature
    columns: ColumnMapping
    producer: Producer
    lineage: list[LineageEntry] = Field(default_factory=list)
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: datetime
    digest: str = Field(pattern=DIGEST_PATTERN)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files lists a path more than once")
        if MODEL_FILE not in paths:
            raise ValueError(f"files must list {MODEL_FILE!r}")
        if MANIFEST_FILE in paths:
            raise ValueError(f"files must not list {MANIFEST_FILE!r} itself")
        self.columns.check_against(self.signature)
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


def compute_digest(manifest_fields: dict[str, Any]) -> str:
    """Digest of a manifest: sha256 of its canonical JSON without the ``digest`` field.

    Canonical JSON: keys sorted, no insignificant whitespace, UTF-8, non-ASCII kept. Because
    the manifest lists the sha256 of every file, the digest covers the whole artifact.
    """
    fields = {k: v for k, v in manifest_fields.items() if k != "digest"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
