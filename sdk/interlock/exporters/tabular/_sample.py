"""From an export sample to the Arrow columns that feed a tree model's feature matrix, and to
the rows the parity check predicts (rules: ``specs/v1/exporter.md``, EXP-030 to EXP-035).

- a table of numeric columns: each column is one feature, in order;
- a table whose only column is a fixed-size list of numbers: that column holds every feature;
- a 2-D NumPy array: columns ``x0 .. x{k-1}``;
- a model that recorded its feature names: those names, in that order, whatever the sample.

Columns of one element type feed one tensor; several types feed one tensor each
(``input_<dtype>``), because interlock never casts a column silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["InputGroup", "InputLayout", "group_inputs", "layout_from_sample", "rows_of"]

_ACCEPTED = (
    "a pyarrow Table, RecordBatch, RecordBatchReader or Schema, a pandas DataFrame, any object "
    "with __arrow_c_stream__ (an interlock Dataset, a polars DataFrame), or a 2-D NumPy array"
)


@dataclass(frozen=True)
class InputLayout:
    """The columns that make up the feature matrix, their element types, and its width."""

    columns: list[str]
    dtypes: list[str]
    n_features: int
    #: True when one fixed-size-list column holds every feature.
    vector: bool = False


@dataclass(frozen=True)
class InputGroup:
    """One input tensor: the columns of one element type, and where they sit in the matrix."""

    tensor: str
    dtype: str
    columns: list[str]
    positions: list[int]


def layout_from_sample(sample: object, feature_names: list[str] | None) -> InputLayout:
    """The input columns of ``sample`` (ExportError naming the problem when it has none)."""
    import numpy as np

    if isinstance(sample, np.ndarray):
        return _layout_from_array(sample, feature_names)
    return _layout_from_schema(_schema_of(sample), feature_names)


def group_inputs(layout: InputLayout, input_name: str) -> list[InputGroup]:
    """One tensor per element type, in order of first appearance (``input_name`` alone when
    every column has one type)."""
    if layout.vector:
        every = list(range(layout.n_features))
        return [InputGroup(input_name, layout.dtypes[0], list(layout.columns), every)]
    kinds = list(dict.fromkeys(layout.dtypes))
    groups = []
    for dtype in kinds:
        picked = [i for i, t in enumerate(layout.dtypes) if t == dtype]
        tensor = input_name if len(kinds) == 1 else f"{input_name}_{dtype}"
        groups.append(InputGroup(tensor, dtype, [layout.columns[i] for i in picked], picked))
    return groups


def rows_of(sample: object, layout: InputLayout) -> np.ndarray | None:
    """The sample's rows as a float64 matrix in feature order, or None when the sample carries
    no rows that can be read without consuming it (a Schema, a stream)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(sample, np.ndarray):
        return np.asarray(sample, dtype=np.float64)
    if type(sample).__module__.split(".")[0] == "pandas":
        sample = pa.Table.from_pandas(sample, preserve_index=False)
    if not isinstance(sample, pa.Table | pa.RecordBatch) or sample.num_rows == 0:
        return None
    if layout.vector:
        column = sample.column(layout.columns[0])
        flat = np.asarray(pa.chunked_array([column]).combine_chunks().flatten())
        return flat.reshape(sample.num_rows, layout.n_features).astype(np.float64)
    return np.stack(
        [np.asarray(sample.column(name)).astype(np.float64) for name in layout.columns], axis=1
    )


def _layout_from_array(array: Any, feature_names: list[str] | None) -> InputLayout:
    if array.ndim != 2:
        raise ExportError(
            f"the NumPy sample has {array.ndim} dimension(s) {tuple(array.shape)}; a 2-D "
            "array [rows, features] is needed",
            hint="pass X as you would to model.predict (for one feature: x.reshape(-1, 1))",
        )
    if array.dtype.kind not in "biuf":
        raise ExportError(
            f"the NumPy sample has dtype {array.dtype}; only numbers (bool, int, float) can "
            "be exported",
            hint="encode non-numeric features as numbers before training and exporting",
        )
    width = int(array.shape[1])
    if width == 0:
        raise ExportError("the NumPy sample has no columns", hint="pass a sample of X")
    names = feature_names if feature_names is not None else [f"x{i}" for i in range(width)]
    if len(names) != width:
        raise ExportError(
            f"the NumPy sample has {width} columns but the model was trained with "
            f"{len(names)} named features",
            hint="pass a sample with the features the model was trained on",
        )
    return InputLayout(list(names), [array.dtype.name] * width, width)


def _schema_of(sample: object) -> pa.Schema:
    import pyarrow as pa

    if isinstance(sample, pa.Schema):
        return sample
    if isinstance(sample, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return sample.schema
    if type(sample).__module__.split(".")[0] == "pandas" and hasattr(sample, "columns"):
        return pa.Schema.from_pandas(sample, preserve_index=False)
    if hasattr(sample, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(sample).schema
    if hasattr(sample, "__arrow_c_schema__"):
        return pa.schema(sample)
    raise ExportError(
        f"cannot use a {type(sample).__module__}.{type(sample).__qualname__} as the export "
        "sample",
        hint=f"pass {_ACCEPTED}",
    )


def _number_type(dtype: pa.DataType) -> str | None:
    import pyarrow as pa

    if pa.types.is_integer(dtype):
        return str(dtype)
    if pa.types.is_floating(dtype):
        return f"float{dtype.bit_width}"
    if pa.types.is_boolean(dtype):
        return "bool"
    return None


def _vector_layout(schema: pa.Schema) -> InputLayout | None:
    import pyarrow as pa

    field = schema.field(0)
    if len(schema) != 1 or not pa.types.is_fixed_size_list(field.type):
        return None
    element = _number_type(field.type.value_type)
    if element is None:
        return None
    return InputLayout([field.name], [element], int(field.type.list_size), vector=True)


def _layout_from_schema(schema: pa.Schema, feature_names: list[str] | None) -> InputLayout:
    if len(schema) == 0:
        raise ExportError("the export sample has no columns", hint="pass a sample of X")
    vector = _vector_layout(schema) if feature_names is None else None
    if vector is not None:
        return vector
    if feature_names is not None:
        missing = [name for name in feature_names if schema.get_field_index(name) < 0]
        if missing:
            raise ExportError(
                f"the export sample lacks the column(s) {missing} that the model was trained "
                f"with (its feature names: {list(feature_names)})",
                hint="pass a sample with the columns the model was trained on",
            )
        names = list(feature_names)
    else:
        names = list(schema.names)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ExportError(
                f"the export sample has duplicate column names {dupes}",
                hint="rename the columns so that each feature has its own name",
            )
    dtypes = [_number_type(schema.field(name).type) for name in names]
    bad = [f"{name!r} ({schema.field(name).type})" for name, t in zip(names, dtypes) if t is None]
    if bad:
        raise ExportError(
            f"only numeric feature columns can be exported; the sample has non-numeric "
            f"column(s) {', '.join(bad)}",
            hint="encode them as numbers before training, or leave them out of the sample",
        )
    return InputLayout(names, [t for t in dtypes if t is not None], len(names))
