"""Explicit casts of a batch job's dataset columns (``predict_dataset(casts=...)``,
``interlock predict --cast``): the dataset as the model should see it, cast batch by batch.

interlock never casts silently (batch.md); a user who knows that a CSV's ``int64`` column is the
model's ``float32`` input says so, and a cast that would change a value fails naming the
column, the row and the value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from interlock.datasets import Dataset
from interlock.errors import DatasetError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

__all__ = ["CAST_TYPES", "CastDataset", "cast_dataset"]

#: The type names a cast may name: Arrow's names for them.
CAST_TYPES = (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "bool", "string",
)


def cast_dataset(data: Dataset, casts: Mapping[str, str] | None, executor: Any) -> Dataset:
    """``data`` with ``casts`` applied as it is read, once they are known to be possible;
    ``data`` itself without casts. ``executor`` must read the dataset in this process."""
    if casts is None or (isinstance(casts, Mapping) and not casts):
        return data
    targets = _checked_casts(data, casts)
    if "in_process" not in executor.capabilities:
        raise DatasetError(
            f"executor {executor.name!r} reads dataset {data.uri!r} on its own workers, from "
            "its URI, where the casts cannot follow",
            hint="write the dataset with the columns already cast, or use an executor with "
            "the 'in_process' capability such as 'local'",
        )
    return CastDataset(data, targets)


def _checked_casts(data: Dataset, casts: object) -> dict[str, pa.DataType]:
    import pyarrow as pa

    if not isinstance(casts, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in casts.items()
    ):
        raise DatasetError(f"casts must map column names to type names, got {casts!r}",
                           hint="pass for example casts={'x': 'float32'}")
    names = data.schema.names
    missing = [column for column in casts if column not in names]
    if missing:
        raise DatasetError(
            f"casts names column(s) {missing} that dataset {data.uri!r} does not have "
            f"(dataset columns: {', '.join(names)})",
            hint="cast only columns the dataset has",
        )
    targets: dict[str, pa.DataType] = {}
    for column, name in casts.items():
        if name not in CAST_TYPES:
            raise DatasetError(f"unknown type {name!r} in the cast of column {column!r}",
                               hint=f"use one of {', '.join(CAST_TYPES)}")
        target = pa.bool_() if name == "bool" else pa.type_for_alias(name)
        source = data.schema.field(column).type
        try:
            pa.array([], type=source).cast(target)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
            raise DatasetError(f"column {column!r} of type {source} cannot be cast to {name}",
                               hint=f"cast it to another type ({exc})") from None
        targets[column] = target
    return targets


class CastDataset(Dataset):
    """``base`` with some columns cast as they are read; everything else is ``base``'s.

    ``before`` are the datasets whose rows come before this one's (the earlier shards), counted
    only to say which row a failing cast is at.
    """

    def __init__(self, base: Dataset, casts: Mapping[str, pa.DataType],
                 before: tuple[Dataset, ...] = ()) -> None:
        super().__init__(uri=base.uri, format_name=base.format_name,
                         filesystem=base.filesystem, path=base.path)
        self.base = base
        self.casts = dict(casts)
        self._before = before

    @property
    def schema(self) -> pa.Schema:
        schema = self.base.schema
        for name, target in self.casts.items():
            index = schema.get_field_index(name)
            schema = schema.set(index, schema.field(index).with_type(target))
        return schema

    def to_reader(self, columns: list[str] | None = None, filter: pc.Expression | None = None,
                  batch_size: int | None = None) -> pa.RecordBatchReader:
        import pyarrow as pa

        reader = self.base.to_reader(columns=columns, filter=filter, batch_size=batch_size)
        wanted = reader.schema.names
        schema = pa.schema([self.schema.field(name) for name in wanted],
                           metadata=reader.schema.metadata)
        return pa.RecordBatchReader.from_batches(schema, self._cast(reader, schema, filter))

    def _cast(self, reader: pa.RecordBatchReader, schema: pa.Schema,
              filter: pc.Expression | None) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        rows = 0
        for batch in reader:
            columns = []
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                target = self.casts.get(name)
                if target is not None:
                    column = self._cast_column(name, column, target, rows, filter)
                columns.append(column)
            rows += batch.num_rows
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    def _cast_column(self, name: str, column: pa.Array, target: pa.DataType, rows: int,
                     filter: pc.Expression | None) -> pa.Array:
        import pyarrow as pa

        try:
            return column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            index = _first_changed(column, target)
            where = "a row" if filter is not None or index is None else (
                f"row {self._row_number(rows + index)}")
            value = "" if index is None else f" ({column[index].as_py()!r})"
            spelled = _spelling(target)
            wider = "int64" if spelled.startswith(("int", "uint")) else "float64"
            raise DatasetError(
                f"cannot cast column {name!r} of dataset {self.uri!r} to {spelled}: {where}"
                f"{value} does not fit exactly ({exc})",
                hint=f"cast it to a type that holds every value (for example "
                f"casts={{{name!r}: '{wider if wider != spelled else 'string'}'}}), or "
                "correct that value in the data",
            ) from None

    def _row_number(self, index: int) -> int:
        return sum(dataset.count_rows() for dataset in self._before) + index

    def files(self) -> list[str]:
        return self.base.files()

    def count_rows(self, filter: pc.Expression | None = None) -> int:
        return self.base.count_rows(filter)

    def row_group_selection(self) -> dict[str, list[int]]:
        return self.base.row_group_selection()

    def fingerprint(self) -> str:
        return self.base.fingerprint()

    def shards(self, n: int) -> list[Dataset]:
        parts = self.base.shards(n)
        return [CastDataset(part, self.casts, (*self._before, *parts[:i]))
                for i, part in enumerate(parts)]

    def __repr__(self) -> str:
        return f"<Dataset {self.uri!r} format={self.format_name!r} casts={self.casts}>"


def _spelling(data_type: pa.DataType) -> str:
    """The cast type name of ``data_type`` (Arrow prints float32 as 'float', bool as 'bool')."""
    import pyarrow as pa

    names = {"halffloat": "float16", "float": "float32", "double": "float64"}
    return "string" if data_type == pa.string() else names.get(str(data_type), str(data_type))


def _first_changed(column: pa.Array, target: pa.DataType) -> int | None:
    """The index of the first value that an unchecked cast to ``target`` changes; None when
    that cannot be told (text that is no number: pyarrow's message names the value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        back = column.cast(target, safe=False).cast(column.type, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    changed = pc.fill_null(pc.not_equal(back, column), False)
    index = pc.index(changed, True).as_py()
    return None if index < 0 else int(index)
