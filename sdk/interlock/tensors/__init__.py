"""Tensors and signatures: dtypes, the signature model, input checks, output comparison, Arrow <-> NumPy.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "DTYPES": "_dtypes",
    "DType": "_dtypes",
    "DTypeInfo": "_dtypes",
    "by_oip": "_dtypes",
    "by_onnx": "_dtypes",
    "dtype_info": "_dtypes",
    "ColumnMapping": "_signature",
    "InputBinding": "_signature",
    "OutputBinding": "_signature",
    "Signature": "_signature",
    "TensorSpec": "_signature",
    "TOLERANCES": "_checks",
    "SignatureChecks": "_checks",
    "compare_outputs": "_checks",
    "tolerances_for": "_checks",
    "describe_array": "_checks",
    "ArrowMapping": "_arrow",
    "arrow_dtype_name": "_arrow",
    "batch_to_tensors": "_arrow",
    "tensors_to_batch": "_arrow",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.tensors._dtypes import (
        DTYPES as DTYPES,
        DType as DType,
        DTypeInfo as DTypeInfo,
        by_oip as by_oip,
        by_onnx as by_onnx,
        dtype_info as dtype_info,
    )
    from interlock.tensors._signature import (
        ColumnMapping as ColumnMapping,
        InputBinding as InputBinding,
        OutputBinding as OutputBinding,
        Signature as Signature,
        TensorSpec as TensorSpec,
    )
    from interlock.tensors._checks import (
        SignatureChecks as SignatureChecks,
        TOLERANCES as TOLERANCES,
        compare_outputs as compare_outputs,
        tolerances_for as tolerances_for,
        describe_array as describe_array,
    )
    from interlock.tensors._arrow import (
        ArrowMapping as ArrowMapping,
        arrow_dtype_name as arrow_dtype_name,
        batch_to_tensors as batch_to_tensors,
        tensors_to_batch as tensors_to_batch,
    )
