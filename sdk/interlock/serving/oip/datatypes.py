"""Open Inference Protocol datatype names and their NumPy dtypes, from ``interlock.tensors``.

Every layer spells element types through the one table ``interlock.tensors.DTYPES``; this
module only precomputes the lookups a request needs. ``BF16`` is a protocol datatype without a NumPy
dtype: no interlock predictor can be fed it, so a BF16 tensor is refused as a bad request.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from interlock.tensors import DTYPES

__all__ = [
    "NUMPY_BY_OIP",
    "OIP_BY_DTYPE",
    "OIP_DATATYPES",
    "PLATFORMS",
    "oip_datatype",
    "oip_platform",
    "oip_shape",
]

#: Every datatype name the protocol defines, in the table's order.
OIP_DATATYPES: tuple[str, ...] = tuple(info.oip for info in DTYPES.values())

#: OIP datatype -> NumPy dtype (``object`` for BYTES); BF16 is absent.
NUMPY_BY_OIP: dict[str, np.dtype] = {
    info.oip: np.dtype(info.numpy) for info in DTYPES.values() if info.numpy is not None
}

#: interlock dtype name (``"float32"``) -> OIP datatype (``"FP32"``).
OIP_BY_DTYPE: dict[str, str] = {name: info.oip for name, info in DTYPES.items()}

_OIP_BY_NUMPY: dict[np.dtype, str] = {dtype: oip for oip, dtype in NUMPY_BY_OIP.items()}


def oip_datatype(dtype: np.dtype) -> str:
    """The OIP datatype of a NumPy dtype (``str``/``object`` arrays are BYTES).

    Raises ``KeyError`` for dtypes the protocol has no name for.
    """
    if dtype.kind in "OUS":
        return "BYTES"
    return _OIP_BY_NUMPY[dtype.newbyteorder("=")]


def oip_shape(shape: Sequence[int | str | None]) -> list[int]:
    """A signature shape as metadata reports it: symbolic and unknown dimensions are -1."""
    return [d if isinstance(d, int) else -1 for d in shape]


#: The protocol's platform names ("<project>_<format>", as Triton spells them) by
#: ``Model.platform``: what model metadata reports over REST and gRPC alike.
PLATFORMS: dict[str, str] = {"onnx": "onnx_onnxv1"}


def oip_platform(platform: str) -> str:
    """The platform name model metadata reports for a model of ``platform`` (``"onnx"``:
    ``"onnx_onnxv1"``); a name without an entry is reported as it is."""
    return PLATFORMS.get(platform, platform)
