"""Arrow record batches <-> tensors, as an artifact's column mapping says (spec: runtime.md).

Inputs: a primitive or string column becomes a 1-D tensor (or ``[rows, 1]`` for a 2-D tensor);
several columns are gathered, in the listed order, into one ``[rows, n]`` tensor; a
fixed-size-list column (nested for more dimensions) or an ``arrow.fixed_shape_tensor`` column
becomes an N-D tensor. Nothing is cast: a column must already have the tensor's element type,
and must hold no nulls. Primitive columns and fixed-size-list values are handed over without
copying; gathering several columns copies once.

Outputs: 1-D becomes a primitive (or utf8) column, ``[rows, k]`` a ``fixed_size_list<k>``
column, and higher ranks an ``arrow.fixed_shape_tensor`` column (nested fixed-size lists for
bool and string tensors, which that extension type cannot hold).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from interlock.tensors._dtypes import DTYPES
from interlock.errors import SignatureMismatch
from interlock.tensors._signature import ColumnMapping, Signature, TensorSpec
from interlock.tensors._checks import describe_array

__all__ = ["ArrowMapping", "arrow_dtype_name", "batch_to_tensors", "tensors_to_batch"]

_ARROW_TO_SPEC: dict[pa.DataType, str] = {
    pa.bool_(): "bool",
    pa.int8(): "int8",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.uint8(): "uint8",
    pa.uint16(): "uint16",
    pa.uint32(): "uint32",
    pa.uint64(): "uint64",
    pa.float16(): "float16",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.string(): "string",
    pa.large_string(): "string",
}
if hasattr(pa, "string_view"):  # pyarrow >= 16
    _ARROW_TO_SPEC[pa.string_view()] = "string"
# Arrow arrays NumPy can view without copying (bool is bit-packed, strings are offsets+bytes).
_ZERO_COPY = frozenset(DTYPES) - {"bool", "string", "bfloat16"}


def arrow_dtype_name(arrow_type: pa.DataType) -> str | None:
    """The spec dtype name of an Arrow element type, or None if v1 has no tensor for it."""
    return _ARROW_TO_SPEC.get(arrow_type)


def batch_to_tensors(
    batch: pa.RecordBatch | pa.Table, signature: Signature, columns: ColumnMapping
) -> dict[str, np.ndarray]:
    """The input tensors of ``signature``, taken from ``batch`` as ``columns`` maps them.

    Raises :class:`interlock.SignatureMismatch` naming the column (and tensor) when a column is
    missing, holds nulls, has another element type, or has a shape the tensor cannot take.
    """
    mapping = ArrowMapping(signature, columns)
    return mapping.to_tensors(mapping.as_record_batch(batch))


def tensors_to_batch(
    outputs: dict[str, np.ndarray], signature: Signature, columns: ColumnMapping
) -> pa.RecordBatch:
    """A record batch holding the output tensors as the columns ``columns`` names.

    Every output must have the same leading (row) dimension.
    """
    mapping = ArrowMapping(signature, columns)
    first = next(iter(outputs.values()), None)
    rows = first.shape[0] if first is not None and first.ndim else 0
    return mapping.to_batch(outputs, rows)


class ArrowMapping:
    """The column mapping of one signature, resolved once for repeated use."""

    def __init__(self, signature: Signature, columns: ColumnMapping) -> None:
        try:
            columns.check_against(signature)
        except ValueError as exc:
            raise SignatureMismatch(
                f"the column mapping does not fit the signature: {exc}",
                hint="bind every input and output tensor exactly once",
            ) from None
        self._inputs = [(tuple(b.columns), signature.input(b.tensor)) for b in columns.inputs]
        self._outputs = [(signature.output(b.tensor), b.column) for b in columns.outputs]
        self._needed = list(dict.fromkeys(c for names, _ in self._inputs for c in names))
        self._cached: tuple[pa.Schema, list[tuple[str, _ColumnReader | _GatherReader]]] | None = None

    # -- Arrow in --------------------------------------------------------------------------

    def as_record_batch(self, data: Any) -> pa.RecordBatch:
        """One record batch from a batch, a table, or an Arrow PyCapsule exporter.

        A table's chunks are merged (a copy only where a column has several chunks), and only
        the columns the mapping reads are kept.
        """
        if isinstance(data, pa.RecordBatch):
            return data
        if not isinstance(data, pa.Table):
            if hasattr(data, "__arrow_c_array__"):
                return pa.record_batch(data)
            if hasattr(data, "__arrow_c_stream__"):
                data = pa.table(data)
            else:
                raise SignatureMismatch(
                    f"predict() takes Arrow data, received {type(data).__name__}",
                    hint="pass a pyarrow.RecordBatch or pyarrow.Table (or anything with "
                    "__arrow_c_stream__, such as a polars DataFrame)",
                )
        _refuse_duplicates(data.column_names)
        if any(n not in data.column_names for n in self._needed):
            self._missing_column(data.column_names)
        # Merges only the columns that have several chunks, and only those the mapping reads.
        table = data.select(self._needed).combine_chunks()
        batches = table.to_batches()
        if len(batches) == 1:
            return batches[0]
        return pa.RecordBatch.from_arrays(
            [pa.array([], type=f.type) for f in table.schema], schema=table.schema
        )

    def to_tensors(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """The input tensors, taken from ``batch``."""
        schema = batch.schema
        cached = self._cached
        # Column types and shapes are checked once per schema; each batch only adds nulls.
        if cached is None or not (cached[0] is schema or cached[0].equals(schema)):
            cached = self._cached = (schema, self._readers_for(schema))
        return {tensor: reader.read(batch) for tensor, reader in cached[1]}

    def _readers_for(self, schema: pa.Schema) -> list[tuple[str, _ColumnReader | _GatherReader]]:
        names = schema.names
        _refuse_duplicates(names)
        if any(n not in names for n in self._needed):
            self._missing_column(names)
        readers: list[tuple[str, _ColumnReader | _GatherReader]] = []
        for columns, spec in self._inputs:
            indices = tuple(names.index(c) for c in columns)
            types = [schema.field(i).type for i in indices]
            reader: _ColumnReader | _GatherReader
            if len(columns) == 1:
                reader = _ColumnReader(indices[0], columns[0], types[0], spec)
            else:
                whole = indices == tuple(range(len(names)))
                reader = _GatherReader(indices, columns, types, spec, whole=whole)
            readers.append((spec.name, reader))
        return readers

    def _missing_column(self, available: list[str]) -> None:
        missing = [n for n in self._needed if n not in available]
        users = {n: spec.name for names, spec in self._inputs for n in names}
        raise SignatureMismatch(
            "missing column(s) "
            + ", ".join(f"{n!r} (feeds input tensor {users[n]!r})" for n in missing)
            + f"; the data has {available}",
            hint="rename the columns, or save the artifact with a column mapping that uses "
            "the data's column names",
        )

    # -- Arrow out -------------------------------------------------------------------------

    def to_batch(self, outputs: dict[str, np.ndarray], rows: int) -> pa.RecordBatch:
        """A record batch of the output columns; every output must have ``rows`` rows."""
        arrays = []
        for spec, _ in self._outputs:
            value = outputs[spec.name]
            if value.ndim == 0 or value.shape[0] != rows:
                raise SignatureMismatch(
                    f"output tensor {spec.name!r} is {describe_array(value)}, not one row per "
                    f"input row ({rows}), so it cannot become a column",
                    hint="use infer() for models whose outputs are not per row",
                )
            arrays.append(_to_arrow(value, spec))
        return pa.RecordBatch.from_arrays(arrays, names=[column for _, column in self._outputs])


class _ColumnReader:
    """Reads one column as one tensor; built (and type-checked) once per schema."""

    def __init__(self, index: int, name: str, arrow_type: pa.DataType, spec: TensorSpec) -> None:
        self.index, self.name, self.spec = index, name, spec
        self.decode = pa.types.is_dictionary(arrow_type)
        if self.decode:
            arrow_type = arrow_type.value_type
        self.is_tensor = isinstance(arrow_type, pa.FixedShapeTensorType)
        per_row: list[int] = []
        if self.is_tensor:
            shape = list(arrow_type.shape)
            order = arrow_type.permutation or range(len(shape))
            per_row = [shape[axis] for axis in order]  # the logical shape NumPy will see
            element = arrow_type.value_type
        else:
            element = arrow_type
            while pa.types.is_fixed_size_list(element):
                per_row.append(element.list_size)
                element = element.value_type
        _check_element_type(element, name, spec)
        self.inner = tuple(per_row)
        self.zero_copy = spec.dtype in _ZERO_COPY
        rank = len(spec.shape)
        # A primitive column feeds [rows, 1] when the tensor's second dimension allows 1.
        self.add_axis = not per_row and rank == 2 and spec.shape[1] in (1, None) or (
            not per_row and rank == 2 and isinstance(spec.shape[1], str)
        )
        fitted = [1] if self.add_axis else per_row
        if len(fitted) + 1 != rank or any(
            isinstance(d, int) and d != size for d, size in zip(spec.shape[1:], fitted)
        ):
            shown = "x".join(str(d) for d in per_row) or "1"
            raise SignatureMismatch(
                f"column {name!r} holds {shown} value(s) per row ({arrow_type}), which cannot "
                f"feed input tensor {spec.name!r} {spec.describe()}",
                hint="a primitive column feeds a 1-D tensor (or [rows,1]); a fixed_size_list or "
                "arrow.fixed_shape_tensor column whose per-row shape equals the tensor's "
                "trailing dimensions feeds an N-D tensor",
            )

    def read(self, batch: pa.RecordBatch) -> np.ndarray:
        array = batch.column(self.index)
        if self.decode:
            array = array.dictionary_decode()
        _reject_nulls(array, self.name, self.spec)
        data: np.ndarray
        if self.is_tensor:
            _reject_nulls(array.storage.flatten(), self.name, self.spec)
            return array.to_numpy_ndarray()  # type: ignore[no-any-return]  # zero-copy view
        if self.inner:
            values = array
            for _ in self.inner:
                values = values.flatten()
                _reject_nulls(values, self.name, self.spec)
            data = values.to_numpy(zero_copy_only=self.zero_copy)
            return data.reshape(len(array), *self.inner)
        data = array.to_numpy(zero_copy_only=self.zero_copy)
        return data.reshape(-1, 1) if self.add_axis else data


class _GatherReader:
    """Gathers several primitive columns into one ``[rows, n]`` tensor, copying once."""

    def __init__(
        self,
        indices: tuple[int, ...],
        names: tuple[str, ...],
        types: list[pa.DataType],
        spec: TensorSpec,
        *,
        whole: bool,
    ) -> None:
        if len(spec.shape) != 2 or isinstance(spec.shape[1], int) and spec.shape[1] != len(names):
            raise SignatureMismatch(
                f"{len(names)} columns {list(names)} cannot be gathered into input tensor "
                f"{spec.name!r} {spec.describe()}; gathering makes a [rows,{len(names)}] tensor",
                hint="bind as many columns as the tensor's second dimension",
            )
        decode = [pa.types.is_dictionary(t) for t in types]
        for name, arrow_type, encoded in zip(names, types, decode):
            _check_element_type(arrow_type.value_type if encoded else arrow_type, name, spec)
        self.indices, self.names, self.spec, self.whole = indices, names, spec, whole
        self.decode = tuple(decode)
        self.dtype = np.dtype(DTYPES[spec.dtype].numpy)
        self.zero_copy = spec.dtype in _ZERO_COPY
        # Arrow builds a row-major tensor from numeric columns in C++, faster than any loop.
        self.in_arrow = self.zero_copy and not any(decode) and hasattr(pa.RecordBatch, "to_tensor")

    def read(self, batch: pa.RecordBatch) -> np.ndarray:
        if self.in_arrow and batch.num_rows:
            selected = batch if self.whole else batch.select(list(self.indices))
            try:
                tensor = selected.to_tensor(row_major=True)
            except pa.ArrowException:
                self._reject_nulls(batch)
                raise
            return tensor.to_numpy()  # type: ignore[no-any-return]
        out = np.empty((batch.num_rows, len(self.indices)), dtype=self.dtype)
        for position, (index, name) in enumerate(zip(self.indices, self.names)):
            array = batch.column(index)
            if self.decode[position]:
                array = array.dictionary_decode()
            _reject_nulls(array, name, self.spec)
            out[:, position] = array.to_numpy(zero_copy_only=self.zero_copy)
        return out

    def _reject_nulls(self, batch: pa.RecordBatch) -> None:
        for index, name in zip(self.indices, self.names):
            _reject_nulls(batch.column(index), name, self.spec)


def _refuse_duplicates(names: list[str]) -> None:
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise SignatureMismatch(
            f"the data has duplicate column names {duplicated}",
            hint="rename the columns so that each name appears once",
        )


def _reject_nulls(array: pa.Array, name: str, spec: TensorSpec) -> None:
    if array.null_count:
        raise SignatureMismatch(
            f"column {name!r} holds {array.null_count} null value(s); input tensor "
            f"{spec.name!r} {spec.describe()} cannot hold nulls",
            hint="fill or drop them first, e.g. pyarrow.compute.fill_null(column, value) or "
            "table.drop_null()",
        )


def _check_element_type(arrow_type: pa.DataType, name: str, spec: TensorSpec) -> None:
    found = _ARROW_TO_SPEC.get(arrow_type)
    if found == spec.dtype:
        return
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        hint = (
            "variable-size lists cannot be tensors; cast to a fixed-size list, e.g. "
            f"column.cast(pyarrow.list_(pyarrow.{_arrow_spelling(spec)}, n))"
        )
    elif found is None:
        hint = "tensors take bool, integer, float and string columns (or fixed-size lists of them)"
    else:
        hint = (
            f"cast the column explicitly, e.g. column.cast(pyarrow.{_arrow_spelling(spec)}()); "
            "interlock never casts silently"
        )
    raise SignatureMismatch(
        f"column {name!r} has type {arrow_type}, but input tensor {spec.name!r} expects "
        f"{spec.dtype} elements ({spec.describe()})",
        hint=hint,
    )


def _arrow_spelling(spec: TensorSpec) -> str:
    return {"bool": "bool_", "float16": "float16", "string": "string"}.get(spec.dtype, spec.dtype)


def _to_arrow(value: np.ndarray, spec: TensorSpec) -> pa.Array:
    leaf = pa.string() if spec.dtype == "string" else pa.from_numpy_dtype(value.dtype)
    if value.ndim == 1:
        return pa.array(value, type=leaf)
    flat = pa.array(np.ascontiguousarray(value).reshape(-1), type=leaf)
    inner = value.shape[1:]
    if value.ndim > 2 and spec.dtype not in ("bool", "string") and all(inner):
        # arrow.fixed_shape_tensor stores row-major tensors as fixed-size lists of prod(inner).
        storage = pa.FixedSizeListArray.from_arrays(flat, int(np.prod(inner)))
        return pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(leaf, list(inner)), storage)
    nested = flat
    for level in range(value.ndim - 1, 0, -1):
        size = value.shape[level]
        if size:
            nested = pa.FixedSizeListArray.from_arrays(nested, size)
        else:  # pyarrow cannot derive the length of zero-size lists from their values
            count = int(np.prod(value.shape[:level]))
            nested = pa.array([[]] * count, type=pa.list_(nested.type, 0))
    return nested
