"""From an export sample to the module's inputs: tensors, their names and the Arrow columns.

- a ``torch.Tensor`` or a tuple of them: positional inputs, named after ``forward``'s
  parameters (``input_0``, ``input_1``, ... where ``forward`` takes ``*args``); each bound to a
  column of its own name;
- a dict of tensors: keyword inputs, named by the keys, each bound to a column of its name;
- a NumPy array: one input ``input`` (a 2-D array gathers the columns ``x0 .. x{k-1}``,
  exporter.md EXP-033); a tuple or dict may hold arrays as well as tensors;
- an Arrow table (anything ``sample:arrow`` takes): numeric columns of one type gather into one
  input ``input`` ``[N, k]`` (EXP-031); a lone vector column feeds ``input`` (EXP-032); several
  vector columns feed one input each, named after the column, in column order; the
  ``input_columns`` option names the inputs and their columns itself. Table inputs keep the
  columns' element type and are cast inside the graph to the module's parameter dtype.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError
from interlock.tensors import InputBinding

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Feeds", "feeds_from_sample"]

_ACCEPTED = (
    "a torch.Tensor, a tuple or dict of tensors, a NumPy array, or an Arrow table (pyarrow "
    "Table, RecordBatch, pandas or polars DataFrame, interlock Dataset)"
)


@dataclass
class Feeds:
    """The sample as the module's inputs, and how Arrow columns feed them."""

    names: list[str]
    tensors: list[Any]
    bindings: list[InputBinding]
    #: Passed to forward by keyword (a dict sample) rather than by position.
    keyword: bool = False
    #: torch dtype each input is cast to inside the graph (None: used as it is).
    casts: list[Any] = field(default_factory=list)


def feeds_from_sample(module: Any, sample: object, opts: Any) -> Feeds:
    """Decide the inputs from ``sample`` (rules: module docstring, docs/pytorch.md)."""
    import numpy as np
    import torch

    if isinstance(sample, torch.Tensor | np.ndarray):
        sample = (sample,)
    if isinstance(sample, dict):
        feeds = _from_mapping(sample)
        feeds.casts = _array_casts(module, list(sample.values()), feeds.tensors)
    elif isinstance(sample, tuple | list):
        feeds = _from_sequence(module, list(sample))
        feeds.casts = _array_casts(module, list(sample), feeds.tensors)
    else:
        feeds = _from_table(module, sample, opts)
    if opts.input_names is not None:
        if len(opts.input_names) != len(feeds.names):
            raise ExportError(
                f"input_names lists {len(opts.input_names)} name(s) but the sample has "
                f"{len(feeds.names)} input(s) ({', '.join(feeds.names)})",
                hint="give one name per input, in the order forward takes them",
            )
        _rename(feeds, list(opts.input_names))
    dupes = sorted({n for n in feeds.names if feeds.names.count(n) > 1})
    if dupes:
        raise ExportError(f"the input names {dupes} are used twice", hint="name each input once")
    if not feeds.casts:
        feeds.casts = [None] * len(feeds.names)
    return feeds


def _array_casts(module: Any, values: list[Any], tensors: list[Any]) -> list[Any]:
    """NumPy inputs keep the array's dtype and are cast to the module's inside the graph
    (as table columns are); tensors are used as they are."""
    import numpy as np

    dtype = _module_dtype(module)
    return [dtype if isinstance(value, np.ndarray) and tensor.dtype != dtype else None
            for value, tensor in zip(values, tensors)]


def _rename(feeds: Feeds, names: list[str]) -> None:
    feeds.bindings = [
        InputBinding(tensor=new, columns=[new] if binding.columns == [old] else binding.columns)
        for binding, old, new in zip(feeds.bindings, feeds.names, names)
    ]
    feeds.names = names


def _as_tensor(value: object, where: str) -> Any:
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return torch.from_numpy(np.ascontiguousarray(value))
    raise ExportError(
        f"the sample's {where} is a {type(value).__module__}.{type(value).__qualname__}; each "
        "input must be a tensor or a numeric NumPy array",
        hint=f"pass {_ACCEPTED}",
    )


def _binding(name: str, value: object) -> InputBinding:
    import numpy as np

    if isinstance(value, np.ndarray) and value.ndim == 2:
        return InputBinding(tensor=name, columns=[f"x{i}" for i in range(value.shape[1])])
    return InputBinding(tensor=name, columns=[name])


def _from_mapping(sample: dict[Any, Any]) -> Feeds:
    if not sample:
        raise ExportError("the export sample is an empty dict", hint=f"pass {_ACCEPTED}")
    names = [str(key) for key in sample]
    tensors = [_as_tensor(value, f"input {name!r}") for name, value in zip(names, sample.values())]
    bindings = [InputBinding(tensor=name, columns=[name]) for name in names]
    return Feeds(names, tensors, bindings, keyword=True)


def _positional_names(module: Any, count: int) -> list[str]:
    """forward's positional parameter names; ``input_<i>`` where it takes ``*args``."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [p.name for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= count:
        return positional[:count]
    return [f"input_{i}" for i in range(count)] if count > 1 else ["input"]


def _from_sequence(module: Any, values: list[Any]) -> Feeds:
    import numpy as np

    if not values:
        raise ExportError("the export sample is an empty tuple", hint=f"pass {_ACCEPTED}")
    if len(values) == 1 and isinstance(values[0], np.ndarray):
        names = ["input"]
    else:
        names = _positional_names(module, len(values))
    tensors = [_as_tensor(value, f"input {i}") for i, value in enumerate(values)]
    bindings = [_binding(name, value) for name, value in zip(names, values)]
    return Feeds(names, tensors, bindings)


def _table_of(sample: object) -> pa.Table:
    import pyarrow as pa

    if isinstance(sample, pa.Table):
        return sample
    if isinstance(sample, pa.RecordBatch):
        return pa.Table.from_batches([sample])
    if type(sample).__module__.split(".")[0] == "pandas" and hasattr(sample, "columns"):
        return pa.Table.from_pandas(sample, preserve_index=False)
    if hasattr(sample, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(sample).read_all()
    raise ExportError(
        f"cannot use a {type(sample).__module__}.{type(sample).__qualname__} as the export "
        "sample of a PyTorch module",
        hint=f"pass {_ACCEPTED}",
    )


def _module_dtype(module: Any) -> Any:
    import torch

    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def _from_table(module: Any, sample: object, opts: Any) -> Feeds:
    import pyarrow as pa

    table = _table_of(sample)
    if table.num_columns == 0:
        raise ExportError("the export sample has no columns", hint="pass the feature columns")
    if opts.input_columns is not None:
        groups = {str(k): list(v) for k, v in opts.input_columns.items()}
    elif all(pa.types.is_fixed_size_list(f.type) for f in table.schema) and table.num_columns > 1:
        groups = {name: [name] for name in table.column_names}
    else:
        groups = {"input": list(table.column_names)}
    dtype = _module_dtype(module)
    names, tensors, bindings = [], [], []
    for name, columns in groups.items():
        tensor = _gather(table, name, columns)
        names.append(name)
        tensors.append(tensor)
        bindings.append(InputBinding(tensor=name, columns=columns))
    casts = [None if tensor.dtype == dtype else dtype for tensor in tensors]
    return Feeds(names, tensors, bindings, casts=casts)


def _gather(table: pa.Table, name: str, columns: list[str]) -> Any:
    """The columns as one ``[rows, k]`` tensor of their common element type."""
    import numpy as np
    import pyarrow as pa
    import torch

    missing = [c for c in columns if c not in table.column_names]
    if missing or not columns:
        raise ExportError(
            f"input {name!r} takes the column(s) {missing or columns} that the sample lacks "
            f"(it has {table.column_names})",
            hint="name columns of the sample in input_columns",
        )
    arrays = []
    for column in columns:
        kind = table.schema.field(column).type
        values = kind.value_type if pa.types.is_fixed_size_list(kind) else kind
        if not (pa.types.is_integer(values) or pa.types.is_floating(values)
                or pa.types.is_boolean(values)):
            raise ExportError(
                f"the pytorch exporter takes numeric columns only; the sample's column "
                f"{column!r} is {kind}",
                hint="encode it as numbers, or leave it out of the sample",
            )
        chunk = table.column(column).combine_chunks()
        if pa.types.is_fixed_size_list(kind):
            if len(columns) > 1:
                raise ExportError(
                    f"input {name!r} gathers the vector column {column!r} with others",
                    hint="feed a vector column to an input of its own",
                )
            flat = np.asarray(chunk.flatten().to_numpy(zero_copy_only=False))
            return torch.from_numpy(flat.reshape(len(chunk), kind.list_size).copy())
        arrays.append(np.asarray(chunk.to_numpy(zero_copy_only=False)))
    kinds = sorted({a.dtype.name for a in arrays})
    if len(kinds) > 1:
        raise ExportError(
            f"input {name!r} gathers columns of several types ({', '.join(kinds)}): "
            f"{', '.join(columns)}",
            hint="cast the columns to one type, or give each type its own input "
            "(input_columns)",
        )
    return torch.from_numpy(np.stack(arrays, axis=1).copy())
