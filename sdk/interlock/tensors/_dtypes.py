"""The tensor element types of spec v1, and their names in NumPy, ONNX and the OIP wire protocol.

One table, so that every layer (manifest, runtimes, servers) agrees on the spelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DTYPES", "DType", "DTypeInfo", "by_oip", "by_onnx", "dtype_info"]

DType = Literal[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "string",
]


@dataclass(frozen=True)
class DTypeInfo:
    """One element type: its spec name, NumPy dtype string, ONNX enum value and OIP name."""

    name: str
    numpy: str | None  # None: NumPy has no native dtype (bfloat16)
    onnx: int  # onnx.TensorProto.DataType value
    oip: str  # Open Inference Protocol "datatype"
    itemsize: int  # bytes per element on the wire; 0 for variable-size


DTYPES: dict[str, DTypeInfo] = {
    d.name: d
    for d in (
        DTypeInfo("bool", "bool", 9, "BOOL", 1),
        DTypeInfo("int8", "int8", 3, "INT8", 1),
        DTypeInfo("int16", "int16", 5, "INT16", 2),
        DTypeInfo("int32", "int32", 6, "INT32", 4),
        DTypeInfo("int64", "int64", 7, "INT64", 8),
        DTypeInfo("uint8", "uint8", 2, "UINT8", 1),
        DTypeInfo("uint16", "uint16", 4, "UINT16", 2),
        DTypeInfo("uint32", "uint32", 12, "UINT32", 4),
        DTypeInfo("uint64", "uint64", 13, "UINT64", 8),
        DTypeInfo("float16", "float16", 10, "FP16", 2),
        DTypeInfo("bfloat16", None, 16, "BF16", 2),
        DTypeInfo("float32", "float32", 1, "FP32", 4),
        DTypeInfo("float64", "float64", 11, "FP64", 8),
        DTypeInfo("string", "object", 8, "BYTES", 0),
    )
}

_BY_ONNX = {d.onnx: d for d in DTYPES.values()}
_BY_OIP = {d.oip: d for d in DTYPES.values()}


def dtype_info(name: str) -> DTypeInfo:
    """Return the table row for a spec dtype name; ``KeyError`` if it is not one."""
    return DTYPES[name]


def by_onnx(elem_type: int) -> DTypeInfo | None:
    """Return the row for an ONNX ``TensorProto.DataType`` value, or None if v1 lacks it."""
    return _BY_ONNX.get(elem_type)


def by_oip(datatype: str) -> DTypeInfo | None:
    """Return the row for an Open Inference Protocol datatype name, or None if unknown."""
    return _BY_OIP.get(datatype)
