"""The golden vectors (``specs/v1/vectors``), read and checked against their checksums.

Every byte handed out has been compared with ``CHECKSUMS.sha256`` first (conformance.md,
CONF-041); tensors are read with ``allow_pickle=False`` or from JSON (CONF-042).
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from interlock import InterlockError

from interlock_conformance.locations import vectors_dir

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = [
    "CHECKSUMS_FILE",
    "INDEX_FILE",
    "DatasetVector",
    "ModelVector",
    "TensorVector",
    "VectorError",
    "VectorIndex",
    "load_vector_index",
    "outputs_mismatch",
]

INDEX_FILE = "vectors.json"
CHECKSUMS_FILE = "CHECKSUMS.sha256"


class VectorError(InterlockError):
    """A golden vector is missing or does not match its checksum."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnInfo(_Entry):
    """One column of a dataset vector."""

    name: str
    type: str
    nullable: bool
    null_count: int


class DatasetVector(_Entry):
    """An Arrow IPC file with awkward types."""

    name: str
    file: str
    description: str
    #: Dataset-format capabilities a format must claim to round-trip it (dataset.md).
    capabilities: list[str]
    num_rows: int
    batch_rows: list[int]
    columns: list[ColumnInfo]
    expected_rows: list[dict[str, Any]] | None = None


class TensorVector(_Entry):
    """One input or output tensor of a model vector."""

    name: str
    dtype: str
    shape: list[int | str | None]
    file: str


class Tolerance(_Entry):
    """How close an output must be: ``|actual - expected| <= atol + rtol * |expected|``."""

    rtol: float
    atol: float


class ModelVector(_Entry):
    """A tiny ONNX model with known inputs and outputs."""

    name: str
    file: str
    description: str
    opset: int
    ir_version: int
    dtypes: list[str]
    inputs: list[TensorVector]
    outputs: list[TensorVector]
    tolerance: Tolerance
    nan_equal: bool
    #: The runtime capabilities a runtime must claim to run this model (runtime.md RT-070):
    #: those of its element types, and ``int64-range`` for int64 values beyond int32.
    runtime_capabilities: list[str]


class _Index(_Entry):
    spec_version: str
    generator: str
    datasets: list[DatasetVector]
    models: list[ModelVector]


class VectorIndex:
    """The vectors of one ``vectors`` directory; see :func:`load_vector_index`."""

    def __init__(self, root: Path, checksums: dict[str, str], index: _Index) -> None:
        self.root = root
        self.checksums = checksums
        self.datasets: dict[str, DatasetVector] = {d.name: d for d in index.datasets}
        self.models: dict[str, ModelVector] = {m.name: m for m in index.models}

    @cached_property
    def digest(self) -> str:
        """``sha256:<hex>`` of ``CHECKSUMS.sha256``: names this set of vectors."""
        return "sha256:" + hashlib.sha256((self.root / CHECKSUMS_FILE).read_bytes()).hexdigest()

    def read_bytes(self, relative: str) -> bytes:
        """The bytes of one vector file, after checking them against ``CHECKSUMS.sha256``."""
        return _verified(self.root, relative, self.checksums)

    # -- datasets ----------------------------------------------------------------------------

    def batches(self, name: str) -> list[pa.RecordBatch]:
        """The record batches of a dataset vector, exactly as stored (zero-row ones included)."""
        import pyarrow as pa

        reader = pa.ipc.open_file(pa.BufferReader(self.read_bytes(self.datasets[name].file)))
        return [reader.get_batch(i) for i in range(reader.num_record_batches)]

    def schema(self, name: str) -> pa.Schema:
        """The Arrow schema of a dataset vector."""
        import pyarrow as pa

        return pa.ipc.open_file(pa.BufferReader(self.read_bytes(self.datasets[name].file))).schema

    def table(self, name: str) -> pa.Table:
        """A dataset vector as one table."""
        import pyarrow as pa

        return pa.Table.from_batches(self.batches(name), schema=self.schema(name))

    # -- models ------------------------------------------------------------------------------

    def model_bytes(self, name: str) -> bytes:
        """The ``model.onnx`` of a model vector."""
        return self.read_bytes(self.models[name].file)

    def tensor(self, spec: TensorVector) -> np.ndarray:
        """One input or expected output (never unpickled; strings come from JSON)."""
        import numpy as np

        data = self.read_bytes(spec.file)
        if spec.file.endswith(".json"):
            payload = json.loads(data.decode("utf-8"))
            strings: np.ndarray = np.array(payload["data"], dtype=object)
            return strings.reshape(tuple(payload["shape"]))
        loaded: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
        return loaded

    def inputs(self, name: str) -> dict[str, np.ndarray]:
        """The inputs of a model vector, by tensor name."""
        return {t.name: self.tensor(t) for t in self.models[name].inputs}

    def outputs(self, name: str) -> dict[str, np.ndarray]:
        """The expected outputs of a model vector, by tensor name."""
        return {t.name: self.tensor(t) for t in self.models[name].outputs}


def _verified(root: Path, relative: str, checksums: dict[str, str]) -> bytes:
    expected = checksums.get(relative)
    if expected is None:
        raise VectorError(
            f"golden vector {relative!r} is not listed in {root / CHECKSUMS_FILE}",
            hint="regenerate the vectors with scripts/generate_vectors.py",
        )
    path = root / relative
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VectorError(
            f"golden vector {str(path)!r} cannot be read: {exc}",
            hint="reinstall interlock, or regenerate with scripts/generate_vectors.py",
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise VectorError(
            f"golden vector {str(path)!r} has SHA-256 {actual}, but {CHECKSUMS_FILE} lists "
            f"{expected}",
            hint="the vectors were modified; reinstall interlock, or run "
            "scripts/generate_vectors.py",
        )
    return data


def parse_checksums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``<hex>  <path>`` per line) as ``{path: hex}``."""
    checksums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64 or not path:
            raise VectorError(
                f"{CHECKSUMS_FILE} line {number} is not '<sha256>  <path>': {line!r}",
                hint="regenerate the vectors with scripts/generate_vectors.py",
            )
        checksums[path] = digest
    return checksums


def load_vector_index(root: Path | None = None) -> VectorIndex:
    """Read ``CHECKSUMS.sha256`` and the verified ``vectors.json`` of ``root`` (default: the
    packaged ``specs/v1/vectors``)."""
    directory = root if root is not None else vectors_dir()
    try:
        checksums = parse_checksums((directory / CHECKSUMS_FILE).read_text(encoding="ascii"))
    except OSError as exc:
        raise VectorError(
            f"the golden vectors' {CHECKSUMS_FILE} cannot be read in {str(directory)!r}: {exc}",
            hint="reinstall interlock, or regenerate with scripts/generate_vectors.py",
        ) from None
    index = _Index.model_validate_json(_verified(directory, INDEX_FILE, checksums))
    return VectorIndex(directory, checksums, index)


def outputs_mismatch(
    model: ModelVector, expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]
) -> str | None:
    """Why ``actual`` does not match a model vector's expected outputs (CONF-043), or None."""
    import numpy as np

    for name, want in expected.items():
        if name not in actual:
            return f"output {name!r} is missing (got {sorted(actual)})"
        got = np.asarray(actual[name])
        if want.dtype == object:
            if got.shape != want.shape or [str(v) for v in got.ravel()] != list(want.ravel()):
                return f"output {name!r} is {got.tolist()!r}, expected {want.tolist()!r}"
            continue
        if got.dtype != want.dtype:
            return f"output {name!r} has dtype {got.dtype}, expected {want.dtype}"
        if got.shape != want.shape:
            return f"output {name!r} has shape {list(got.shape)}, expected {list(want.shape)}"
        if want.dtype.kind == "f":
            close = np.isclose(
                got,
                want,
                rtol=model.tolerance.rtol,
                atol=model.tolerance.atol,
                equal_nan=model.nan_equal,
            )
        else:
            close = got == want  # integers and booleans match exactly
        if not bool(np.all(close)):
            where = tuple(int(i) for i in np.argwhere(~close)[0])
            actual, wanted = got[where].item(), want[where].item()
            return f"output {name!r}[{where}] is {actual!r}, expected {wanted!r}"
    return None
