"""Tensors as the Open Inference Protocol carries them, written from the protocol's text alone.

The server checker (:mod:`interlock_conformance.oip.checker`) must hold no opinion of its own
about a server it checks, so it shares no tensor code with interlock's servers (the serving
kit's client only carries the bytes, unread): this module builds
request tensors from a model's metadata, writes them as JSON ``data`` and as binary tensor
data, and reads a response's tensors back, reporting every way they break the protocol.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DATATYPES",
    "TensorProblem",
    "decode_binary",
    "encode_binary",
    "from_json_data",
    "make_tensor",
    "same_values",
    "to_json_data",
]

#: Every datatype the protocol defines -> its NumPy dtype string (None: NumPy has none).
DATATYPES: dict[str, str | None] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
    "BF16": None,
}


class TensorProblem(ValueError):
    """A tensor in a response that breaks the protocol; the message says how."""


def numpy_dtype(datatype: str) -> np.dtype:
    """The NumPy dtype of an OIP datatype (object for BYTES); ``KeyError`` for BF16/unknown."""
    import numpy as np

    name = DATATYPES[datatype]
    if name is None:
        raise KeyError(datatype)
    return np.dtype(name)


def make_tensor(datatype: str, shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Deterministic values of ``datatype``: small non-negative numbers (so that sums do not
    overflow and indices stay small), alternating booleans, short ASCII strings."""
    import numpy as np

    count = math.prod(shape)
    positions = np.arange(count, dtype=np.int64) + seed
    if datatype == "BOOL":
        values: np.ndarray = positions % 2 == 0
    elif datatype == "BYTES":
        values = np.array([f"s{i % 7}" for i in positions.tolist()], dtype=object)
    elif datatype.startswith("FP"):
        values = ((positions % 9) * 0.25).astype(numpy_dtype(datatype))
    else:
        values = (positions % 4).astype(numpy_dtype(datatype))
    return values.reshape(tuple(shape))


def to_json_data(array: np.ndarray) -> list[Any]:
    """The row-major elements as JSON values (non-finite floats have no JSON form: null)."""
    flat = array.reshape(-1)
    if array.dtype.kind == "f":
        return [v if math.isfinite(v) else None for v in flat.astype("float64").tolist()]
    if array.dtype.kind == "O":
        return [str(v) for v in flat.tolist()]
    return list(flat.tolist())


def _json_element(datatype: str, value: object, where: str) -> object:
    if datatype == "BOOL":
        if type(value) is not bool:
            raise TensorProblem(f"{where}: a BOOL element is {value!r}, not true or false")
        return value
    if datatype == "BYTES":
        if not isinstance(value, str):
            raise TensorProblem(f"{where}: a BYTES element is {value!r}, not a JSON string")
        return value
    if datatype.startswith("FP"):
        if value is None:  # non-finite values are written as null (serving.md SRV-074)
            return math.nan
        if type(value) not in (int, float):
            raise TensorProblem(f"{where}: a {datatype} element is {value!r}, not a number")
        return value
    if type(value) is not int:
        raise TensorProblem(f"{where}: a {datatype} element is {value!r}, not an integer")
    import numpy as np

    info = np.iinfo(numpy_dtype(datatype))
    if not info.min <= value <= info.max:
        raise TensorProblem(f"{where}: the {datatype} element {value} is out of range")
    return value


def _flatten(data: object) -> list[object]:
    if not isinstance(data, list):
        return [data]
    flat: list[object] = []
    for item in data:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def from_json_data(datatype: str, shape: Sequence[int], data: object, where: str) -> np.ndarray:
    """A response's JSON ``data`` as an array of ``shape``; :class:`TensorProblem` when its
    elements are not of ``datatype`` or their count is not the product of ``shape``."""
    import numpy as np

    flat = _flatten(data)
    if len(flat) != math.prod(shape):
        raise TensorProblem(
            f"{where}: 'data' holds {len(flat)} element(s) but the shape {list(shape)} needs "
            f"{math.prod(shape)}"
        )
    values = [_json_element(datatype, v, where) for v in flat]
    array = np.array(values, dtype=numpy_dtype(datatype)) if values else np.array(
        [], dtype=numpy_dtype(datatype)
    )
    return array.reshape(tuple(shape))


def encode_binary(array: np.ndarray, datatype: str) -> bytes:
    """The binary tensor data encoding: little-endian, row-major, unpadded; BYTES elements
    each after a 4-byte little-endian length."""
    if datatype == "BYTES":
        parts = []
        for value in array.reshape(-1).tolist():
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    import numpy as np

    dtype = numpy_dtype(datatype).newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def decode_binary(datatype: str, shape: Sequence[int], raw: bytes, where: str) -> np.ndarray:
    """Binary tensor data back to an array of ``shape``; :class:`TensorProblem` when the byte
    count, a BOOL byte, a length prefix or UTF-8 is wrong."""
    import numpy as np

    count = math.prod(shape)
    if datatype == "BYTES":
        values: list[str] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise TensorProblem(f"{where}: a BYTES length prefix is cut short")
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise TensorProblem(f"{where}: a BYTES element overruns the tensor's bytes")
            try:
                values.append(raw[offset : offset + length].decode("utf-8"))
            except UnicodeDecodeError:
                raise TensorProblem(f"{where}: a BYTES element is not valid UTF-8") from None
            offset += length
        if len(values) != count:
            raise TensorProblem(
                f"{where}: the binary data holds {len(values)} BYTES element(s), the shape "
                f"{list(shape)} needs {count}"
            )
        return np.array(values, dtype=object).reshape(tuple(shape))
    dtype = numpy_dtype(datatype).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise TensorProblem(
            f"{where}: the binary data is {len(raw)} byte(s), a {datatype} tensor of shape "
            f"{list(shape)} is {count * dtype.itemsize}"
        )
    if datatype == "BOOL" and any(b > 1 for b in raw):
        raise TensorProblem(f"{where}: a BOOL byte is neither 0 nor 1")
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(tuple(shape))


def same_values(
    actual: np.ndarray, expected: np.ndarray, rtol: float = 0.0, atol: float = 0.0
) -> str | None:
    """Why ``actual`` differs from ``expected`` (shape, or the first element), or None.

    Floats match within ``atol + rtol * |expected|``, NaN matching NaN; anything else must be
    equal. A JSON null (NaN) stands for any non-finite value, which JSON cannot carry.
    """
    import numpy as np

    if tuple(actual.shape) != tuple(expected.shape):
        return f"shape {list(actual.shape)} differs from {list(expected.shape)}"
    if expected.dtype.kind == "f" or actual.dtype.kind == "f":
        a = actual.astype("float64")
        e = expected.astype("float64")
        close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True) | (
            np.isnan(a) & ~np.isfinite(e)
        ) | (np.isnan(e) & ~np.isfinite(a))
    else:
        close = np.array(
            [x == y for x, y in zip(actual.reshape(-1).tolist(), expected.reshape(-1).tolist())],
            dtype=bool,
        ).reshape(actual.shape)
    if bool(np.all(close)):
        return None
    where = tuple(int(i) for i in np.argwhere(~close)[0])
    return f"element {list(where)} is {actual[where]!r}, expected {expected[where]!r}"
