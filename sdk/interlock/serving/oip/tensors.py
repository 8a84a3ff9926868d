"""Tensors of the Open Inference Protocol: JSON ``data`` and binary tensor data, to NumPy and back.

JSON ``data`` may be flat or nested (row-major); its element count must equal the product of
the shape. Elements must have the declared kind: booleans for BOOL, integers within range for
the integer types, numbers for the float types, strings for BYTES; nothing is cast silently.

Binary tensor data (the binary tensor data extension, and gRPC raw contents) is little-endian
and row-major without padding; BOOL is one byte per element (0 or 1); each BYTES element is a
4-byte little-endian unsigned length followed by its bytes. Fixed-size inputs become arrays
without a copy (``numpy.frombuffer``). BYTES elements become ``str`` (UTF-8), because ONNX
strings are UTF-8 and interlock predictors take ``str``.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from interlock.serving.oip.datatypes import NUMPY_BY_OIP
from interlock.serving.oip.errors import ProtocolError

__all__ = [
    "MAX_ELEMENTS",
    "check_input_names",
    "check_shape",
    "decode_binary_tensor",
    "decode_json_tensor",
    "encode_binary_tensor",
    "encode_bytes_elements",
    "json_data",
    "parse_bytes_elements",
]

_LITTLE = sys.byteorder == "little"
_LENGTH = struct.Struct("<I")
_FLOAT_KINDS = frozenset("iuf")
_INT_KINDS = frozenset("iu")
_MAX_DIMS = 64
#: Most elements one tensor may declare (the product of its non-zero dimensions): beyond it
#: no array can be allocated, and no request body could carry the data.
MAX_ELEMENTS = 2**31 - 1


def check_shape(name: str, shape: object) -> tuple[int, ...]:
    """A request shape as a tuple of non-negative ints, or :class:`ProtocolError`."""
    if type(shape) is not list or len(shape) > _MAX_DIMS:
        raise ProtocolError(
            f"input {name!r}: 'shape' must be a list of at most {_MAX_DIMS} non-negative "
            f"integers, got {_short(shape)}",
            hint='for example "shape": [1, 64]',
        )
    elements = 1
    for dim in shape:
        if type(dim) is not int or dim < 0:
            raise ProtocolError(
                f"input {name!r}: 'shape' must hold non-negative integers, got {_short(shape)}",
                hint='for example "shape": [1, 64]',
            )
        if dim:
            elements *= dim
    if elements > MAX_ELEMENTS:
        # Zero dimensions do not excuse the others: [1e18, 0, 3] is refused as well.
        raise ProtocolError(
            f"input {name!r}: shape {_short(shape)} declares more than {MAX_ELEMENTS} elements "
            "(the product of its non-zero dimensions)",
            hint="send smaller tensors, split across requests",
        )
    return tuple(shape)


def check_input_names(label: str, names: Sequence[str], declared: Sequence[str]) -> None:
    """Refuse, before any tensor data is decoded, a request whose input ``names`` cannot fit
    a model whose signature ``declared`` these inputs: more inputs than it takes, or a name
    it does not take (:class:`interlock.SignatureMismatch`, HTTP 400 / INVALID_ARGUMENT)."""
    from interlock.errors import SignatureMismatch

    known = set(declared)
    unexpected = [name for name in names if name not in known]
    if not unexpected and len(names) <= len(declared):
        return
    if unexpected:
        shown = ", ".join(repr(name[:60]) for name in unexpected[:5])
        more = f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else ""
        problem = f"unexpected {shown}{more}"
    else:
        problem = f"{len(names)} inputs given, it takes {len(declared)}"
    raise SignatureMismatch(
        f"inputs of {label} do not match its signature: {problem}",
        hint=f"pass exactly these inputs: {', '.join(declared) or 'none'}",
    )


def _count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _dtype(name: str, datatype: object) -> np.dtype:
    dtype = NUMPY_BY_OIP.get(datatype) if type(datatype) is str else None
    if dtype is None:
        if datatype == "BF16":
            raise ProtocolError(
                f"input {name!r}: datatype BF16 is not supported by interlock servers",
                hint="send FP32 (or FP16); models with bfloat16 inputs cannot be served",
            )
        raise ProtocolError(
            f"input {name!r}: unknown datatype {_short(datatype)}",
            hint="use one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
            "FP16, FP32, FP64, BYTES",
        )
    return dtype


# -- JSON ---------------------------------------------------------------------------------------


def decode_json_tensor(
    name: str, datatype: object, shape: tuple[int, ...], data: object
) -> np.ndarray:
    """Decode JSON ``data`` (flat or nested lists) of an input into an array of ``shape``."""
    dtype = _dtype(name, datatype)
    count = _count(shape)
    if type(data) is not list:
        if count == 1 and data is not None and not isinstance(data, dict):
            data = [data]  # a lone scalar for a one-element tensor
        else:
            raise ProtocolError(
                f"input {name!r}: 'data' must be a list of {count} {datatype} element(s), "
                f"got {_short(data)}",
                hint="send the elements row-major, flat or nested",
            )
    if datatype == "BYTES":
        return _json_strings(name, shape, count, data)
    try:
        array = np.array(data)
    except (ValueError, TypeError, OverflowError):
        raise ProtocolError(
            f"input {name!r}: 'data' is not a regular nested list of {datatype} numbers",
            hint="nested lists must all have the same length; or send the data flat",
        ) from None
    if array.size != count:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} needs {count} element(s), 'data' has "
            f"{array.size}",
            hint="make the shape and the data agree",
        )
    kind = array.dtype.kind
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    if datatype == "BOOL":
        if kind != "b":
            raise _element_error(name, datatype, "true or false")
        return array.reshape(shape)
    if dtype.kind in _INT_KINDS:
        if kind not in _INT_KINDS:
            # Integers beyond int64 (UINT64) make NumPy guess float64 or object: convert
            # exactly from the Python ints instead, if that is what they are.
            return _exact_integers(name, datatype, dtype, shape, data)
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise ProtocolError(
                f"input {name!r}: a {datatype} element is outside [{info.min}, {info.max}]",
                hint="send values the datatype can hold, or a wider datatype",
            )
    elif kind not in _FLOAT_KINDS:
        raise _element_error(name, datatype, "numbers")
    return array.astype(dtype, copy=False).reshape(shape)


def _exact_integers(
    name: str, datatype: object, dtype: np.dtype, shape: tuple[int, ...], data: list[Any]
) -> np.ndarray:
    stack: list[Any] = [data]
    while stack:
        for item in stack.pop():
            if type(item) is list:
                stack.append(item)
            elif type(item) is not int:
                raise _element_error(name, datatype, "integers")
    try:
        return np.array(data, dtype=dtype).reshape(shape)
    except OverflowError:
        info = np.iinfo(dtype)
        raise ProtocolError(
            f"input {name!r}: a {datatype} element is outside [{info.min}, {info.max}]",
            hint="send values the datatype can hold, or a wider datatype",
        ) from None


def _element_error(name: str, datatype: object, expected: str) -> ProtocolError:
    return ProtocolError(
        f"input {name!r}: {datatype} 'data' must hold {expected} only",
        hint="check the datatype, and that no element is a string, null or of another kind",
    )


def _json_strings(name: str, shape: tuple[int, ...], count: int, data: list[Any]) -> np.ndarray:
    flat: list[str] = []
    _flatten_strings(name, data, flat, 0)
    if len(flat) != count:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} needs {count} element(s), 'data' has {len(flat)}",
            hint="make the shape and the data agree",
        )
    array = np.empty(count, dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _flatten_strings(name: str, items: list[Any], out: list[str], depth: int) -> None:
    if depth > _MAX_DIMS:
        raise ProtocolError(f"input {name!r}: 'data' is nested too deeply")
    for item in items:
        if type(item) is str:
            out.append(item)
        elif type(item) is list:
            _flatten_strings(name, item, out, depth + 1)
        else:
            raise _element_error(name, "BYTES", "strings")


def json_data(name: str, array: np.ndarray) -> Any:
    """The JSON ``data`` of an output: a flat array orjson serialises natively (numbers,
    booleans), or a list of ``str`` for strings.

    Raises :class:`ProtocolError` when a BYTES element is not valid UTF-8 (ask for the output
    as binary data instead).
    """
    if array.dtype.kind in "OUS":
        out = []
        for item in array.reshape(-1).tolist():
            if type(item) is bytes:
                try:
                    item = item.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolError(
                        f"output {name!r} holds bytes that are not UTF-8, which JSON cannot carry",
                        hint='request it as binary data: "parameters": {"binary_data": true}',
                    ) from None
            out.append(item if type(item) is str else str(item))
        return out
    flat = array.reshape(-1)
    if not flat.dtype.isnative:
        flat = flat.astype(flat.dtype.newbyteorder("="))
    return np.ascontiguousarray(flat)


# -- binary -------------------------------------------------------------------------------------


def decode_binary_tensor(
    name: str, datatype: object, shape: tuple[int, ...], buffer: bytes | memoryview
) -> np.ndarray:
    """Decode binary tensor data of an input into an array of ``shape``.

    Fixed-size datatypes share ``buffer`` (read-only, no copy) when it is aligned.
    """
    dtype = _dtype(name, datatype)
    count = _count(shape)
    if datatype == "BYTES":
        elements = parse_bytes_elements(name, buffer, count)
        array = np.empty(count, dtype=object)
        array[:] = elements
        return array.reshape(shape)
    expected = count * dtype.itemsize
    if len(buffer) != expected:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} of {datatype} needs {expected} bytes of "
            f"binary data, got {len(buffer)}",
            hint="make 'binary_data_size' and the shape agree",
        )
    wire = dtype if _LITTLE else dtype.newbyteorder("<")
    array = np.frombuffer(buffer, dtype=wire)
    if not _LITTLE:
        array = array.astype(dtype)
    elif not array.flags.aligned:
        array = array.copy()  # some runtimes read tensors with aligned loads
    if datatype == "BOOL" and count and array.view(np.uint8).max() > 1:
        raise ProtocolError(
            f"input {name!r}: BOOL binary data must hold bytes 0 or 1",
            hint="encode true as 1 and false as 0, one byte each",
        )
    return array.reshape(shape)


def parse_bytes_elements(name: str, buffer: bytes | memoryview, count: int) -> list[str]:
    """Split length-prefixed BYTES data into exactly ``count`` UTF-8 strings."""
    view = memoryview(buffer)
    size = len(view)
    out: list[str] = []
    offset = 0
    unpack = _LENGTH.unpack_from
    while offset < size:
        if offset + 4 > size:
            raise ProtocolError(
                f"input {name!r}: BYTES binary data ends inside an element's 4-byte length",
                hint="prefix each element with its length as a 4-byte little-endian integer",
            )
        (length,) = unpack(view, offset)
        offset += 4
        if offset + length > size:
            raise ProtocolError(
                f"input {name!r}: a BYTES element claims {length} bytes but only "
                f"{size - offset} remain",
                hint="prefix each element with its length as a 4-byte little-endian integer",
            )
        try:
            out.append(str(view[offset : offset + length], "utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(
                f"input {name!r}: BYTES element {len(out)} is not valid UTF-8",
                hint="ONNX string tensors hold UTF-8 text",
            ) from None
        offset += length
        if len(out) > count:
            break
    if len(out) != count:
        raise ProtocolError(
            f"input {name!r}: the shape needs {count} BYTES element(s), the binary data "
            f"holds {len(out) if len(out) <= count else 'more'}",
            hint="make the shape and the data agree",
        )
    return out


def encode_bytes_elements(elements: Sequence[object]) -> bytes:
    """Length-prefix each element (``str`` as UTF-8, or ``bytes``) and concatenate."""
    parts: list[bytes] = []
    pack = _LENGTH.pack
    for item in elements:
        raw = item if type(item) is bytes else str(item).encode("utf-8")
        parts.append(pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def encode_binary_tensor(array: np.ndarray) -> bytes:
    """The binary tensor data of an output array (little-endian, row-major)."""
    if array.dtype.kind in "OUS":
        return encode_bytes_elements(array.reshape(-1).tolist())
    if not _LITTLE or not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
