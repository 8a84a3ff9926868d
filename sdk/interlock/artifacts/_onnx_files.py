"""ONNX models to and from files, external data included, without ever letting a model choose
which file is read (spec: artifact.md, "External data").

ONNX's own loaders follow a tensor's external-data ``location`` wherever it points
(CVE-2022-25882, CVE-2024-27318). Here a model is always parsed without its external data;
every location is then checked by the caller's rules and the bytes are handed over by the
caller, never opened by path on the model's say-so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from interlock.errors import ArtifactError
from interlock.artifacts._manifest import MODEL_FILE, check_relative_path
from interlock.artifacts._onnx_info import external_data_refs

if TYPE_CHECKING:
    import onnx

__all__ = [
    "EXTERNAL_DATA_FILE",
    "EXTERNAL_DATA_THRESHOLD",
    "WrittenFile",
    "fill_external_data",
    "load_model_file",
    "write_model_files",
]

#: The single file that holds the external data of an artifact's model.
EXTERNAL_DATA_FILE = MODEL_FILE + ".data"
#: Models whose serialized size exceeds this are saved with external data (protobuf cannot
#: serialize 2 GiB or more, and runtimes can map external data instead of copying it).
EXTERNAL_DATA_THRESHOLD = 256 * 1024 * 1024
#: Tensors smaller than this stay inside ``model.onnx`` (as ``onnx.save_model`` does).
MIN_EXTERNAL_TENSOR_BYTES = 1024
#: Tensors of at least ``_ALIGN_ABOVE`` bytes start at a multiple of ``_ALIGNMENT`` so that a
#: runtime can memory-map them (64 KiB is the largest common mmap allocation granularity).
_ALIGNMENT = 64 * 1024
_ALIGN_ABOVE = 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class WrittenFile:
    """A file written into a staging directory, with the digest computed while writing."""

    path: str
    local_path: Path
    sha256: str
    size: int


def fill_external_data(
    model: onnx.ModelProto,
    read: Callable[[str], bytes],
    *,
    where: str,
    error: type[ArtifactError] = ArtifactError,
) -> bool:
    """Replace every external-data reference in ``model`` by the bytes it points at.

    ``read(location)`` returns the whole file named by a (not yet checked) location; it
    applies the caller's rules (safe relative path, listed in the manifest, ...) and raises
    when they are broken. Each file is read once. Raises ``error`` naming the tensor when a
    reference is malformed or reaches past the end of its file. Returns whether the model had
    any external data.
    """
    import onnx

    try:
        refs = external_data_refs(model)
    except ValueError as exc:
        raise error(f"{where}: {exc}") from None
    contents: dict[str, bytes] = {}
    for ref in refs:
        if ref.location not in contents:
            contents[ref.location] = read(ref.location)
        data = contents[ref.location]
        end = len(data) if ref.length is None else ref.offset + ref.length
        if ref.offset > len(data) or end > len(data):
            raise error(
                f"{where}: tensor {ref.tensor.name!r} reads bytes {ref.offset}..{end} of "
                f"{ref.location!r}, which has only {len(data)} bytes",
                hint="the model and its external data file do not belong together",
            )
        ref.tensor.raw_data = data[ref.offset : end]
        del ref.tensor.external_data[:]
        ref.tensor.data_location = onnx.TensorProto.DEFAULT
    return bool(refs)


def load_model_file(path: Path) -> tuple[onnx.ModelProto, bool]:
    """Load a local ``.onnx`` file and its external data, which must lie in its directory.

    Returns the model with all data inline and whether it had external data. Raises
    :class:`interlock.ArtifactError` naming the file for a missing or unreadable model or a
    location that leaves the model's directory.
    """
    import onnx

    if not path.is_file():
        raise ArtifactError(
            f"no ONNX model file at {str(path)!r}",
            hint="pass an onnx.ModelProto, an interlock.ExportedModel or the path of a .onnx file",
        )
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises its own DecodeError family
        raise ArtifactError(
            f"{str(path)!r} is not a readable ONNX model: {type(exc).__name__}: {exc}",
            hint="check that the file is a complete ONNX model (a ModelProto)",
        ) from None
    base = path.parent.resolve()

    def read(location: str) -> bytes:
        try:
            check_relative_path(location)
        except ValueError as exc:
            raise ArtifactError(
                f"{str(path)!r} refers to external data outside its directory: {exc}",
                hint="keep external data files beside the model file",
            ) from None
        target = (base / location).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            raise ArtifactError(
                f"{str(path)!r} refers to external data {location!r}, which is not a file in "
                f"{str(base)!r}",
                hint="keep external data files beside the model file",
            )
        return target.read_bytes()

    had_external = fill_external_data(model, read, where=repr(str(path)))
    return model, had_external


def _initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _initializers(attribute.g)
            for subgraph in attribute.graphs:
                yield from _initializers(subgraph)


class _HashingWriter:
    def __init__(self, path: Path) -> None:
        self.file = path.open("wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.file.write(data)
        self.hash.update(data)
        self.size += len(data)


def write_model_files(
    model: onnx.ModelProto, directory: Path, *, external: bool
) -> list[WrittenFile]:
    """Write ``model.onnx`` (and, with ``external``, ``model.onnx.data``) into ``directory``.

    With ``external``, every initializer (of the main graph and of subgraphs) holding at least
    1 KiB of ``raw_data`` moves to ``model.onnx.data``, large ones aligned to 64 KiB; the
    caller's model is not modified (a copy is converted). The model must hold all its data
    inline. Files are hashed while they are written.
    """
    written: list[WrittenFile] = []
    if external:
        model, data_file = _with_external_data(model, directory / EXTERNAL_DATA_FILE)
        if data_file is not None:
            written.append(data_file)
    try:
        payload = model.SerializeToString()
    except Exception as exc:  # protobuf refuses messages of 2 GiB or more
        raise ArtifactError(
            f"the ONNX model cannot be serialized: {type(exc).__name__}: {exc}",
            hint="save large models with external_data=True",
        ) from None
    model_path = directory / MODEL_FILE
    model_path.write_bytes(payload)
    written.insert(
        0, WrittenFile(MODEL_FILE, model_path, hashlib.sha256(payload).hexdigest(), len(payload))
    )
    _check_model(model_path)
    return written


def _with_external_data(
    model: onnx.ModelProto, data_path: Path
) -> tuple[onnx.ModelProto, WrittenFile | None]:
    """A copy of ``model`` whose large initializers keep their data in ``data_path``, and that
    file; ``None`` (and no file left behind) when no tensor was large enough to move."""
    import onnx

    converted = onnx.ModelProto()
    converted.CopyFrom(model)
    writer = _HashingWriter(data_path)
    try:
        for tensor in _initializers(converted.graph):
            if tensor.data_location != onnx.TensorProto.EXTERNAL:
                _move_tensor_data(tensor, writer)
    finally:
        writer.file.close()
    if not writer.size:
        data_path.unlink()
        return converted, None
    return converted, WrittenFile(
        EXTERNAL_DATA_FILE, data_path, writer.hash.hexdigest(), writer.size
    )


def _move_tensor_data(tensor: onnx.TensorProto, writer: _HashingWriter) -> None:
    """Append the ``raw_data`` of ``tensor`` to the data file, if it holds at least
    ``MIN_EXTERNAL_TENSOR_BYTES``, and point the tensor at where it now is."""
    import onnx

    raw = tensor.raw_data
    if len(raw) < MIN_EXTERNAL_TENSOR_BYTES:
        return
    if len(raw) >= _ALIGN_ABOVE and writer.size % _ALIGNMENT:
        writer.write(b"\0" * (_ALIGNMENT - writer.size % _ALIGNMENT))
    offset = writer.size
    view = memoryview(raw)  # chunks without copying
    for start in range(0, len(raw), _CHUNK):
        writer.write(view[start : start + _CHUNK])
    view.release()
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (
        ("location", EXTERNAL_DATA_FILE),
        ("offset", str(offset)),
        ("length", str(len(raw))),
    ):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def _check_model(model_path: Path) -> None:
    import onnx

    try:
        # Given a path, the checker finds our own external data beside it and loads none of it.
        onnx.checker.check_model(os.fspath(model_path))
    except onnx.checker.ValidationError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise ArtifactError(
            f"the ONNX model is not valid: {first_line}",
            hint="fix the model (onnx.checker.check_model reports the same problem)",
        ) from None
