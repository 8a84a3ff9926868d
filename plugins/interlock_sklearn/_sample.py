"""From an export sample to the Arrow columns that feed a scikit-learn model's input matrix.

A scikit-learn estimator takes one 2-D numeric matrix ``X``. The sample says which Arrow columns
make up ``X`` at prediction time (rules: ``specs/v1/exporter.md``, EXP-020 and following):

- a table of numeric columns: each column is one feature, in order;
- a table whose only column is a fixed-size list of numbers: that column holds every feature;
- a 2-D NumPy array: columns ``x0 .. x{k-1}`` (scikit-learn's own names for unnamed features);
- an estimator fitted with feature names (``feature_names_in_``): those names, in that order,
  whatever the sample is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["InputLayout", "layout_from_sample"]

_ACCEPTED = (
    "a pyarrow Table, RecordBatch, RecordBatchReader or Schema, a pandas DataFrame, any object "
    "with __arrow_c_stream__ (an interlock Dataset, a polars DataFrame), or a 2-D NumPy array"
)


@dataclass(frozen=True)
class InputLayout:
    """The Arrow columns that become the model's input matrix, their types, and its width."""

    columns: list[str]
    #: The spec v1 element type of each column (of its values, for a vector column).
    dtypes: list[str]
    n_features: int
    #: True when one fixed-size-list column holds every feature (an embedding, say).
    vector: bool = False


def layout_from_sample(sample: object, feature_names: list[str] | None) -> InputLayout:
    """Decide the input columns from ``sample`` and the estimator's ``feature_names_in_``.

    Raises :class:`interlock.ExportError` for a sample that is not tabular, not 2-D, empty, or
    has non-numeric feature columns; the message names the columns.
    """
    import numpy as np

    if isinstance(sample, np.ndarray):
        return _layout_from_array(sample, feature_names)
    schema = _schema_of(sample)
    return _layout_from_schema(schema, feature_names)


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
            hint="encode non-numeric features as numbers before fitting and exporting",
        )
    width = int(array.shape[1])
    if feature_names is not None:
        if len(feature_names) != width:
            raise ExportError(
                f"the NumPy sample has {width} columns but the estimator was fitted with "
                f"{len(feature_names)} named features",
                hint="pass a sample with the same features the model was fitted on",
            )
        return InputLayout(list(feature_names), [array.dtype.name] * width, width)
    if width == 0:
        raise ExportError("the NumPy sample has no columns", hint="pass a sample of X")
    return InputLayout([f"x{i}" for i in range(width)], [array.dtype.name] * width, width)


def _schema_of(sample: object) -> pa.Schema:
    import pyarrow as pa

    if isinstance(sample, pa.Schema):
        return sample
    if isinstance(sample, pa.Table | pa.RecordBatch | pa.RecordBatchReader):
        return sample.schema
    module = type(sample).__module__.split(".")[0]
    if module == "pandas" and hasattr(sample, "columns"):
        # Only the types are needed: the sample's rows are never copied into Arrow.
        return pa.Schema.from_pandas(sample, preserve_index=False)
    if hasattr(sample, "__arrow_c_stream__"):
        # Importing the stream reads its schema only, not its batches.
        return pa.RecordBatchReader.from_stream(sample).schema
    if hasattr(sample, "__arrow_c_schema__"):
        return pa.schema(sample)
    raise ExportError(
        f"cannot use a {type(sample).__module__}.{type(sample).__qualname__} as the export "
        "sample",
        hint=f"pass {_ACCEPTED}",
    )


def _number_type(dtype: pa.DataType) -> str | None:
    """The spec v1 element type of a numeric Arrow type (bool, int*, uint*, float*), else None."""
    import pyarrow as pa

    if pa.types.is_integer(dtype):
        return str(dtype)  # Arrow spells integers as spec v1 does: int8 ... uint64
    if pa.types.is_floating(dtype):
        return f"float{dtype.bit_width}"
    if pa.types.is_boolean(dtype):
        return "bool"
    return None


def _vector_of(dtype: pa.DataType) -> tuple[int, str] | None:
    """Width and element type of a fixed-size list (or 1-D fixed-shape tensor) of numbers."""
    import pyarrow as pa

    if isinstance(dtype, pa.FixedShapeTensorType):
        shape = list(dtype.shape)
        element = _number_type(dtype.value_type)
        if len(shape) == 1 and element is not None:
            return int(shape[0]), element
        return None
    if pa.types.is_fixed_size_list(dtype):
        element = _number_type(dtype.value_type)
        if element is not None:
            return int(dtype.list_size), element
    return None


def _layout_from_schema(schema: pa.Schema, feature_names: list[str] | None) -> InputLayout:
    if len(schema) == 0:
        raise ExportError("the export sample has no columns", hint="pass a sample of X")
    if feature_names is None and len(schema) == 1:
        vector = _vector_of(schema.field(0).type)
        if vector is not None:
            return InputLayout([schema.field(0).name], [vector[1]], vector[0], vector=True)
    if feature_names is not None:
        missing = [name for name in feature_names if schema.get_field_index(name) < 0]
        if missing:
            raise ExportError(
                f"the export sample lacks the column(s) {missing} that the estimator was "
                f"fitted with (feature_names_in_ = {list(feature_names)})",
                hint="pass a sample with the columns the model was fitted on",
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
            "the sklearn exporter takes numeric feature columns only; the sample has "
            f"non-numeric column(s) {', '.join(bad)}",
            hint="encode them as numbers before fitting, or leave them out of the sample "
            "(select only the feature columns)",
        )
    return InputLayout(names, [t for t in dtypes if t is not None], len(names))
